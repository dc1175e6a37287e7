"""`tokentrail simulate` runs as its own process and answers the SDK."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import openai


def test_simulate_command_serves_until_sigterm() -> None:
    cli = Path(sys.executable).with_name("tokentrail")
    proc = subprocess.Popen(
        [str(cli), "simulate", "--port", "0", "--latency-scale", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        assert match, line
        with openai.OpenAI(base_url=match.group(0), api_key="k", max_retries=0) as client:
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.choices[0].message.content
            events = list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
            assert events[-1].type == "response.completed"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_simulate_rejects_bad_fault_rates() -> None:
    cli = Path(sys.executable).with_name("tokentrail")
    done = subprocess.run(
        [str(cli), "simulate", "--fault-rate", "teapot=0.5"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "--fault-rate" in done.stderr and "Traceback" not in done.stderr
