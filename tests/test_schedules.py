"""Shipped schedules load, and bad schedules fail with one clean line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.errors import ConfigError
from cosim.graph import build_graph, totals
from cosim.run import main
from cosim.sim import validate

ROOT = Path(__file__).resolve().parents[1]
SCHEDULES = sorted((ROOT / "schedules").glob("*.yaml"))
MODEL_370M = ROOT / "models" / "mmfree-370m.yaml"


@pytest.mark.parametrize("path", SCHEDULES, ids=lambda p: p.stem)
def test_shipped_schedule_loads_with_sourced_energies(path):
    schedule = load_schedule(path)
    if getattr(schedule, "target", "fpga") == "neuromorphic":   # tests/test_neuro.py
        assert schedule.static.source.strip() and schedule.events.synaptic_op.source.strip()
        return
    for name in ("static", "ternary_add", "rowwise_op", "sram_access", "dram_byte"):
        assert getattr(schedule.energy, name).source.strip()


def test_required_schedules_are_shipped():
    names = {p.stem for p in SCHEDULES}
    assert {"u250-ternip", "d5005-paper", "ecp5-85k", "u250-max", "default"} <= names


def test_u250_ternip_is_the_published_platform():
    s = load_schedule(ROOT / "schedules" / "u250-ternip.yaml")
    assert (s.clock_mhz, s.units.matvec.tp, s.compute_units) == (300, 128, 4)
    assert set(s.host) == {"model.embeddings", "lm_head"}
    assert s.overlap.vreg_ports == 1 and not s.overlap.rowwise_with_matvec


def test_lanes_override_is_a_top_level_key():
    s = load_schedule(ROOT / "schedules" / "u250-ternip.yaml",
                      parse_overrides(["schedule.lanes=24"]))
    assert s.lanes == 24


def test_lanes_as_a_list_gives_each_compute_unit_its_lanes():
    s = load_schedule(ROOT / "schedules" / "u250-ternip.yaml",
                      parse_overrides(["schedule.lanes=[14, 14, 14, 6]"]))
    assert s.lanes_per_cu == (14, 14, 14, 6) and s.total_lanes == 48


def test_lanes_as_an_integer_spread_evenly():
    s = load_schedule(ROOT / "schedules" / "u250-ternip.yaml",
                      parse_overrides(["schedule.lanes=45"]))
    assert s.lanes_per_cu == (12, 11, 11, 11) and s.total_lanes == 45


def test_every_memory_figure_names_its_source_or_says_assumed():
    """Each line of a shipped schedule's memory section carries a comment."""
    for path in SCHEDULES:
        lines = path.read_text().splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("memory:")]
        if not starts:      # a neuromorphic target: no DRAM
            assert "target: neuromorphic" in lines, path.stem
            continue
        start = starts[0]
        if "{" in lines[start]:
            assert "#" in lines[start], path.stem
            continue
        for line in lines[start + 1:]:
            if not line.startswith(" "):
                break
            if not line.strip().startswith("#") and ":" in line:
                key = line.split(":")[0].strip()
                commented = "#" in line or "#" in lines[lines.index(line) - 1]
                assert commented, f"{path.stem}: memory.{key} has no source"


def _validate(*sets):
    overrides = parse_overrides(list(sets))
    cfg = load_model(MODEL_370M, overrides)
    schedule = load_schedule(ROOT / "schedules" / "u250-ternip.yaml", overrides)
    validate(schedule, cfg, totals(build_graph(cfg, schedule.numerics))
             ["weight_bytes_per_token"])


def test_lanes_beyond_on_chip_memory_name_the_key():
    with pytest.raises(ConfigError, match=r"^schedule\.lanes must be at most \d+ .*not 5000$"):
        _validate("schedule.lanes=5000")


def test_tp_the_hidden_size_does_not_divide_names_the_key():
    with pytest.raises(ConfigError, match=r"schedule\.units\.matvec\.tp must divide "
                                          r"model\.hidden_size=1024.*not 96"):
        _validate("schedule.units.matvec.tp=96")


def test_resident_weights_that_do_not_fit_name_the_key():
    with pytest.raises(ConfigError, match=r"schedule\.onchip\.weights must be 'dram'"):
        _validate("schedule.onchip.weights=onchip")


@pytest.mark.parametrize("setting, message", [
    ("schedule.memory.gb_per_s=-8",
     "schedule.memory.gb_per_s must be a number between 0.001 and 100,000, not -8"),
    ("schedule.memory.gb_per_s=0.0000001", "schedule.memory.gb_per_s must be a number between"),
    ("schedule.lanes=0", "schedule.lanes must be a positive integer <= 16,777,216, not 0"),
    ("schedule.memory.efficiency=1.5", "schedule.memory.efficiency must be"),
    ("schedule.energy.dram_byte={pj: 3, source: ''}",
     "schedule.energy.dram_byte.source must be a non-empty line"),
    ("schedule.energy.static={w: -1, source: x}", "schedule.energy.static.w must be"),
    ("schedule.host=[lm_heads]", "schedule.host[0] must be one of"),
    ("schedule.units.matvec.tp=96", "schedule.units.matvec.tp must divide"),
    ("schedule.lanes=5000", "schedule.lanes must be at most"),
    ("schedule.lanes=[14, 14, 14]", "schedule.lanes must be an integer or a list of 4 "
                                    "lane counts, one per compute unit (compute_units=4), "
                                    "not [14, 14, 14]"),
    ("schedule.lanes=[14, 0, 14, 6]",
     "schedule.lanes[1] must be a positive integer <= 16,777,216, not 0"),
    ("schedule.lanes=[14, 1.5, 14, 6]", "schedule.lanes[1] must be a positive integer"),
    ("schedule.lanes=[5000, 1, 1, 1]", "schedule.lanes must be at most"),
    ("schedule.lanes=[]", "schedule.lanes must be an integer or a list of 4"),
    ("schedule.memory.latency_ns=-1", "schedule.memory.latency_ns must be"),
    ("schedule.memory.activation_transfers_per_layer=-2",
     "schedule.memory.activation_transfers_per_layer must be"),
])
def test_bad_schedule_is_one_clean_line(setting, message, capsys):
    code = main([str(MODEL_370M), "--schedule", str(ROOT / "schedules" / "u250-ternip.yaml"),
                 "--numerics", "off", "--set", setting])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err


def test_energy_entry_without_source_in_yaml_is_refused(tmp_path, capsys):
    text = (ROOT / "schedules" / "u250-ternip.yaml").read_text()
    lines = [line if not line.strip().startswith("dram_byte:") else "  dram_byte: {pj: 244.0}"
             for line in text.splitlines()]
    bad = tmp_path / "bad.yaml"
    bad.write_text("\n".join(lines) + "\n")
    code = main([str(MODEL_370M), "--schedule", str(bad), "--numerics", "off"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "schedule.energy.dram_byte.source is required" in err
