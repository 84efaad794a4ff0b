"""Every shipped models/*.yaml x schedules/*.yaml pair runs through ``python -m cosim.run``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cosim.run import main

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted((ROOT / "models").glob("*.yaml"))
SCHEDULES = sorted((ROOT / "schedules").glob("*.yaml"))


def _slow_pairs():
    """Every model on every schedule; billion-parameter models on a neuromorphic schedule
    (tens of seconds each: every message of a token is simulated) are marked slow."""
    for model in MODELS:
        for schedule in SCHEDULES:
            slow = "neuromorphic" in schedule.read_text() and model.stem in (
                "mmfree-1.3b", "mmfree-2.7b")
            yield pytest.param(model, schedule, id=f"{model.stem}-{schedule.stem}",
                               marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("model,schedule", list(_slow_pairs()))
def test_every_model_runs_on_every_schedule(model, schedule, tmp_path, capsys):
    report = tmp_path / "r.json"
    assert main([str(model), "--schedule", str(schedule), "--json", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["decode"]["tokens_per_s"] > 0 and r["energy"]["joules_per_token"] > 0
    full = r["model"]["parameters"] < 10_000_000
    assert r["sim"]["numerics"] == ("full" if full else "off")
    assert ("numerics" in r) == full
    assert "tokens/s" in capsys.readouterr().out


def test_numerics_full_on_request_reports_fidelity_for_tiny(tmp_path):
    report = tmp_path / "r.json"
    assert main([str(ROOT / "models" / "tiny.yaml"), "--numerics", "off",
                 "--json", str(report)]) == 0
    r = json.loads(report.read_text())
    assert "numerics" not in r and r["activity"]["source"].startswith("expected")


def test_subprocess_run_writes_reports_plots_and_trace(tmp_path):
    out = tmp_path / "out"
    trace = tmp_path / "t.json"
    proc = subprocess.run(
        [sys.executable, "-m", "cosim.run", str(ROOT / "models" / "tiny.yaml"),
         "--schedule", str(ROOT / "schedules" / "u250-ternip.yaml"),
         "--set", "schedule.lanes=8", "--out", str(out), "--trace", str(trace)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "decode:" in proc.stdout and "fixed-point vs float" in proc.stdout
    for name in ("report.json", "report.md", "units.png", "roofline.png", "trace.json"):
        assert (out / name).stat().st_size > 0
    assert (out / "units.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads(trace.read_text())["traceEvents"]
    assert json.loads((out / "report.json").read_text())["schedule"]["lanes"] == 8
