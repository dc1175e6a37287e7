"""Drive Debian's headless Chromium over the DevTools protocol (no Playwright download needed).

Used by the browser tests and by `make_screenshot.py`: start a real `tokentrail dashboard`,
load pages by URL, wait until Streamlit says the script finished, look for exception boxes and
save screenshots.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio",
    "--disable-dev-shm-usage", "--remote-debugging-port=0", "--remote-allow-origins=*",
)

# Streamlit marks its root element with the script run state; "notRunning" means the page is done.
STATE_JS = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return JSON.stringify({state: 'loading'});
  return JSON.stringify({
    state: app.getAttribute('data-test-script-state'),
    connection: app.getAttribute('data-test-connection-state'),
    exceptions: document.querySelectorAll('[data-testid="stException"]').length,
    skeletons: document.querySelectorAll('[data-testid="stSkeleton"]').length,
    plots: document.querySelectorAll('.js-plotly-plot').length,
    title: (document.querySelector('[data-testid="stMain"] h1') || {}).innerText || '',
    text: (document.querySelector('[data-testid="stMain"]') || document.body).innerText.slice(0, 4000),
    sidebar: (document.querySelector('[data-testid="stSidebar"]') || {}).innerText || '',
  });
})()"""


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dashboard:
    """A `tokentrail dashboard` subprocess on an ephemeral port."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        full_env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tokentrail", "dashboard", *args, "--port", str(self.port)],
            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}/"
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dashboard exited early:\n{self.proc.stdout.read()}")
            try:
                with urllib.request.urlopen(self.url + "_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("dashboard did not become healthy")

    def close(self) -> str:
        """Stop the server (its whole process group, which this helper started) and return its output."""
        import signal

        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                out, _ = self.proc.communicate(timeout=wait)
                return out or ""
            except subprocess.TimeoutExpired:
                continue
        return ""


class Browser:
    """One headless Chromium with a fresh profile, one tab, driven over the DevTools websocket."""

    def __init__(self, profile: Path, width: int = 1440, height: int = 1000) -> None:
        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("chromium is not installed (Debian package `chromium`; `make system-deps`)")
        profile.mkdir(parents=True, exist_ok=True)
        self.profile = profile
        self.width, self.height = width, height
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port = self._devtools_port()
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        self._ws_context = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=20)
        self.ws = self._ws_context.__enter__()
        self._id = 0
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def _devtools_port(self, timeout: float = 30.0) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker.exists():
                lines = marker.read_text().split()
                if lines:
                    return int(lines[0])
            if self.proc.poll() is not None:
                raise RuntimeError("chromium exited before opening its DevTools port")
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> dict[str, Any]:
        self._id += 1
        my_id = self._id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer to {method}")
            msg = json.loads(self.ws.recv(timeout=remaining))
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def load(self, url: str, timeout: float = 60.0, settle: float = 1.0) -> dict[str, Any]:
        """Open `url` and wait until Streamlit finished the run and the page stopped changing."""
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        stable_since: float | None = None
        last: dict[str, Any] = {}
        time.sleep(0.5)
        while time.monotonic() < deadline:
            raw = self.evaluate(STATE_JS)
            state = json.loads(raw) if raw else {"state": "loading"}
            done = state.get("state") == "notRunning" and not state.get("skeletons")
            snapshot = {k: state.get(k) for k in ("state", "exceptions", "plots", "title", "text")}
            if done and snapshot == {k: last.get(k) for k in snapshot}:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= settle:
                    return state
            else:
                stable_since = None
            last = state
            time.sleep(0.25)
        raise TimeoutError(f"page did not finish rendering: {last}")

    def screenshot(self, path: Path, full_page: bool = True, max_height: int = 6000) -> None:
        """PNG of the page; `full_page` grows the viewport to the main area's scroll height first
        (Streamlit scrolls inside its own container, so the document itself never gets taller)."""
        if full_page:
            inner = self.evaluate(
                "(() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                " return m ? m.scrollHeight : 0; })()") or 0
            height = min(max(self.height, int(inner)), max_height)
            if height != self.height:
                self.call("Emulation.setDeviceMetricsOverride",
                          {"width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False})
                time.sleep(0.6)  # let plotly re-layout at the new size
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        if full_page:
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self._ws_context.__exit__(None, None, None)
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
