"""The distribution: a real wheel carries every stage and data file, and installs into a fresh venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from tokentrail.collector import compiled

REPO = Path(__file__).resolve().parents[1]
ROOTS = {
    "tokentrail": "tokentrail",
    "simulator": "tokentrail/simulator",
    "instrumentation": "tokentrail/instrumentation",
    "cache": "tokentrail/cache",
    "collector": "tokentrail/collector",
    "analytics": "tokentrail/analytics",
    "dashboards": "tokentrail/dashboards",
}
DATA_SUFFIXES = {".toml", ".json", ".sql", ".html", ".css", ".js", ".md", ".png", ".svg", ".txt"}
STAGES = ["tokentrail.instrumentation", "tokentrail.collector", "tokentrail.analytics", "tokentrail.dashboards"]


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def _expected_wheel_paths() -> set[str]:
    """Every tracked module and data file inside a package folder, at its installed path."""
    expected = set()
    for rel in _tracked_files():
        path = Path(rel)
        root = path.parts[0]
        if root not in ROOTS or not (REPO / path.parent / "__init__.py").exists():
            continue
        if path.suffix == ".py" or path.suffix in DATA_SUFFIXES:
            expected.add("/".join([ROOTS[root], *path.parts[1:]]))
    return expected


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("tokentrail-*.whl")
    return built


def test_wheel_contains_every_stage_module_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _expected_wheel_paths()
    assert {"tokentrail/instrumentation/__init__.py", "tokentrail/dashboards/__init__.py"} <= expected
    missing = sorted(expected - names)
    assert not missing, f"wheel lacks {missing}"
    assert not [n for n in names if n.startswith(("tests/", "bench/", "examples/"))]
    for module in compiled.MODULES:  # the decoder, compiled (a C compiler is part of the dev setup)
        assert [n for n in names if n.startswith(f"tokentrail/collector/{module}.") and n.endswith(".so")], module


def test_wheel_metadata_declares_cli_and_instrumentor(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        entry_points = next(zf.read(n).decode() for n in zf.namelist() if n.endswith("entry_points.txt"))
        metadata = Parser().parsestr(next(zf.read(n).decode() for n in zf.namelist() if n.endswith("METADATA")))
    assert "tokentrail = tokentrail.cli:main" in entry_points
    assert "[opentelemetry_instrumentor]" in entry_points
    assert metadata["Requires-Python"] == ">=3.10"
    requires = " ".join(metadata.get_all("Requires-Dist"))
    for dep in ("opentelemetry-sdk", "opentelemetry-exporter-otlp", "duckdb", "pandas", "openai", "streamlit", "tiktoken"):
        assert dep in requires


@pytest.mark.slow
def test_fresh_venv_install_gives_working_cli(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    # Run outside the repository so the source folders cannot shadow the installed package.
    result = subprocess.run(
        [str(venv / "bin" / "tokentrail"), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "usage: tokentrail" in result.stdout
    code = "import " + ", ".join(STAGES) + "; import tokentrail; print(tokentrail.instrumentation.__file__)"
    result = subprocess.run([str(py), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert str(venv) in result.stdout


@pytest.mark.slow
def test_without_a_c_compiler_the_wheel_builds_with_the_plain_python_decoder(tmp_path: Path) -> None:
    """The compiled decoder is optional: a failing compiler leaves its modules as plain Python."""
    src = tmp_path / "src"
    for rel in _tracked_files():  # the working tree, without earlier builds to reuse
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    out = tmp_path / "dist"
    result = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src)],
                            env={**os.environ, "CC": "/bin/false"}, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert 'building extension "tokentrail.collector.decode" failed' in result.stdout + result.stderr
    (built,) = out.glob("tokentrail-*.whl")
    names = zipfile.ZipFile(built).namelist()
    assert "tokentrail/collector/decode.py" in names and "tokentrail/collector/decode.pxd" not in names
    assert not [n for n in names if n.endswith(".so")]
