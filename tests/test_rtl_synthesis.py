"""Synthesis facts: the ternary datapath needs no multipliers; the published table is sane."""

import pytest

from rtl import characterize
from rtl.units import UNITS

TPS = sorted({p["tp"] for p in UNITS["matvec"].test_params} | {64})


@pytest.mark.slow
@pytest.mark.parametrize("tp", TPS)
def test_ternary_matvec_synthesises_without_multipliers(tp, tmp_path):
    """A ternary multiply is a mux of +a, ~a, 0: no MULT18X18D or ALU54B may appear."""
    cells = characterize.resources("matvec", {"tp": tp, "cols": 3 * tp + 1}, tmp_path,
                                   pnr=False)
    assert cells["dsp"] == 0 and cells["alu54"] == 0
    assert cells["lut4_total"] > 0 and cells["ff"] > 0


def test_published_matvec_meets_targets():
    """TP = 64 on ECP5-85: at most 30 LUT4 per lane, at least 150 MHz, one beat per cycle."""
    record = characterize.lookup("matvec", {"tp": 64, "cols": 256})
    assert record is not None, "run python -m rtl.characterize to publish the table"
    assert record["lut4_total"] / 64 <= 30
    assert record["fmax_mhz"] >= 150
    assert record["dsp"] == 0
    assert record["ii_cycles"] == record["in_beats_per_op"]


def test_lookup_fills_defaults_and_misses_cleanly():
    assert characterize.lookup("matvec", {"tp": 3, "cols": 1}) is None
    record = characterize.lookup("rmsnorm", {"n": 64})
    assert record is None or record["params"]["eps"] == 1e-6


def test_parse_params_nests_dotted_keys():
    assert characterize.parse_params(["tp=64", "numerics.accumulator_bits=10", "x=abc"]) == {
        "tp": 64, "numerics": {"accumulator_bits": 10}, "x": "abc"}


@pytest.mark.slow
def test_cli_measures_a_small_matvec_without_publishing(tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setattr(characterize, "CACHE", tmp_path / "cache")
    out = tmp_path / "run.json"
    assert characterize.main(["--unit", "matvec", "--param", "tp=2", "--param", "cols=3",
                              "--no-pnr", "--no-publish", "--json", str(out)]) == 0
    (record,) = json.loads(out.read_text())
    assert record["params"] == {"tp": 2, "cols": 3}
    # latency = (beats per row - 1) + tree stages + 4 (lane mux, combine, accumulate, emit)
    assert (record["latency_cycles"], record["ii_cycles"], record["dsp"]) == (6, 2, 0)
    assert record["fmax_mhz"] is None
    assert list((tmp_path / "cache").glob("*.json"))
    assert "matvec" in capsys.readouterr().out


@pytest.mark.slow
def test_characterisation_runs_with_a_bare_path(tmp_path):
    """Regression: the yowasp tools were looked up on PATH, which a bare venv run lacks."""
    import os
    import subprocess
    import sys

    env = {"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": "/usr/bin:/bin",
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "rtl.characterize", "--unit", "matvec",
                           "--param", "tp=2", "--param", "cols=3", "--no-publish",
                           "--json", str(tmp_path / "run.json")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (record,) = __import__("json").loads((tmp_path / "run.json").read_text())
    assert record["fmax_mhz"] > 0 and record["lut4_total"] > 0
    assert "?" not in record["tools"].values()
