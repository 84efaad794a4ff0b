"""Synthesis facts, measured in this session; the characterisation command line.

One small mat-vec is synthesised, placed and routed afresh per session (in an
empty cache folder), and the tests check that measurement, not the committed
table. The published table is checked only for being complete.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtl import characterize
from rtl.units import UNITS

#: the session's fresh measurement: small enough to place and route in seconds
SMALL = ("matvec", {"tp": 8, "cols": 16})


def empty_cache(folder) -> dict:
    """Environment for an empty XDG cache folder. YoWASP keeps its compiled tools in
    the XDG cache too, and recompiling them takes minutes: point it at its own."""
    return {"XDG_CACHE_HOME": str(folder),
            "YOWASP_CACHE_DIR": os.environ.get("YOWASP_CACHE_DIR") or str(
                Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "YoWASP")}


@pytest.fixture(scope="session")
def measured(tmp_path_factory):
    """One fresh characterisation (timing, Yosys, nextpnr) of SMALL, shared by the session."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in empty_cache(cache).items():
            patch.setenv(key, value)
        record = characterize.characterize(*SMALL)
    assert list((cache / "mmfree-cosim" / "characterize").glob("*.json")), "not cached"
    return record


def test_critical_path_is_the_one_that_sets_fmax(tmp_path):
    """The critical path read from nextpnr's report JSON (what benchmarks/accel_synth.py
    records) adds up to the period of the Fmax it reports."""
    unit, params = SMALL
    characterize.synthesise(unit, characterize.normalise(unit, params), tmp_path)
    period = 1000 / characterize.place_and_route(unit, tmp_path, 1)
    path = characterize.critical_path(unit, tmp_path)
    assert {kind for kind, _, _ in path} >= {"clk-to-q", "logic", "routing"}
    assert sum(delay for _, delay, _ in path) == pytest.approx(period, rel=0.02)


def test_ternary_matvec_synthesises_without_multipliers(measured):
    """A ternary multiply is a mux of +a, ~a, 0: no MULT18X18D or ALU54B may appear."""
    assert measured["dsp"] == 0 and measured["alu54"] == 0
    # a sanity bound: at TP = 8 the output FIFO's control (about 120 LUT4 at any TP) is a
    # third of the unit (32.5 a lane measured); the TP = 64 figure is in the records
    assert 0 < measured["lut4_per_lane"] <= 40
    assert measured["ff"] > 0


def test_measured_matvec_routes_and_streams_a_beat_per_cycle(measured):
    params = measured["params"]
    assert measured["fmax_mhz"] >= 150 and measured["target_mhz"] == 250
    assert measured["fmax_seeds_mhz"] == [measured["fmax_mhz"]]
    assert measured["ii_cycles"] == measured["in_beats_per_op"] == params["cols"] // params["tp"]
    assert "?" not in measured["tools"].values()


def test_published_table_has_every_unit():
    """The simulator reads these records; a missing one is a failure, not a skip."""
    assert {r["unit"] for r in characterize.load()} == set(UNITS)
    record = characterize.lookup("matvec", {"tp": 64, "cols": 256})
    assert record is not None
    assert record["dsp"] == 0 and record["ii_cycles"] == record["in_beats_per_op"]


def test_lookup_fills_defaults_and_misses_cleanly():
    assert characterize.lookup("matvec", {"tp": 3, "cols": 1}) is None
    record = characterize.lookup("rmsnorm", {"n": 64})
    assert record is not None and record["params"]["eps"] == 1e-6


def test_parse_params_nests_dotted_keys():
    assert characterize.parse_params(["tp=64", "numerics.accumulator_bits=10", "x=abc"]) == {
        "tp": 64, "numerics": {"accumulator_bits": 10}, "x": "abc"}


@pytest.mark.parametrize("args, message", [
    (["--unit", "matvec", "--param", "lanes=16"], "error: unit matvec has no parameter 'lanes'"),
    (["--unit", "matvec", "--param", "tp=48"], "error: matvec.tp must be a power of two"),
    (["--unit", "matvec", "--param", "numerics.accumulator_bits=99"], "accumulator_bits"),
    (["--param", "tp=2"], "error: --param needs --unit"),
])
def test_cli_refuses_bad_parameters_in_one_line(args, message, capsys):
    assert characterize.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_measures_without_place_and_route_or_publishing(tmp_path, monkeypatch, capsys):
    for key, value in empty_cache(tmp_path / "cache").items():
        monkeypatch.setenv(key, value)
    before = characterize.TABLE_JSON.read_bytes()
    out = tmp_path / "run.json"
    assert characterize.main(["--unit", "matvec", "--param", "tp=2", "--param", "cols=3",
                              "--no-pnr", "--json", str(out)]) == 0
    (record,) = json.loads(out.read_text())
    assert record["params"] == {"tp": 2, "cols": 3}
    # latency = (beats per row - 1) + tree stages + 6 (lane registers, root, row total,
    # output register, FIFO write, FIFO head)
    assert (record["latency_cycles"], record["ii_cycles"], record["dsp"]) == (8, 2, 0)
    assert record["fmax_mhz"] is None
    assert list((tmp_path / "cache" / "mmfree-cosim" / "characterize").glob("*.json"))
    printed = capsys.readouterr().out
    assert "matvec" in printed and "Fmax not measured" in printed and "None" not in printed
    assert characterize.TABLE_JSON.read_bytes() == before


@pytest.mark.slow
def test_characterisation_runs_with_a_bare_path(tmp_path):
    """Regression: the yowasp tools were looked up on PATH, which a bare venv run lacks.
    Its own empty cache folder makes it measure rather than find a cached record."""
    env = {"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": "/usr/bin:/bin",
           **empty_cache(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "rtl.characterize", "--unit", "matvec",
                           "--param", "tp=2", "--param", "cols=3",
                           "--json", str(tmp_path / "run.json")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (record,) = json.loads((tmp_path / "run.json").read_text())
    assert record["fmax_mhz"] > 0 and record["lut4_total"] > 0
    assert "?" not in record["tools"].values()
    assert list((tmp_path / "cache" / "mmfree-cosim" / "characterize").glob("*.json"))
