"""Device fit, warnings, the records loader and the report's accounting of time and work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.errors import ConfigError
from cosim.graph import build_graph, totals
from cosim.run import main
from cosim.sim import simulate
from cosim.sim.platform import accelerator_weight_bytes, lane_program, unit_timings, validate
from cosim.sim.records import Records

ROOT = Path(__file__).resolve().parents[1]


def run(model: str, schedule: str, *sets: str, records: Records | None = None):
    overrides = parse_overrides(list(sets))
    cfg = load_model(ROOT / "models" / f"{model}.yaml", overrides)
    sch = load_schedule(ROOT / "schedules" / f"{schedule}.yaml", overrides)
    graph = build_graph(cfg, sch.numerics)
    return simulate(graph, cfg, sch, records=records).report


def record(unit: str, params: dict, **values) -> dict:
    base = {"latency_cycles": 10, "last_out_cycles": 10, "ii_cycles": 4.0,
            "lut4_total": 100, "ff": 50, "bram": 0, "lutram": 0, "dsp": 0, "fmax_mhz": 200.0}
    return {"unit": unit, "params": params, **base, **values}


# -- the records loader -------------------------------------------------------------

def test_records_interpolate_extend_and_hold_fmax():
    records = Records([record("matvec", {"tp": 16, "cols": 256}, lut4_total=400, fmax_mhz=230),
                       record("matvec", {"tp": 64, "cols": 256}, lut4_total=1600, fmax_mhz=190)],
                      "test")
    series = records.series("matvec", load_schedule(None).numerics)
    assert series.at(32, "lut4_total") == pytest.approx(800)
    assert series.at(128, "lut4_total") == pytest.approx(3200)       # extended along the line
    assert series.fmax(128) == pytest.approx(190)          # held at the nearest size
    assert series.basis(32) == "interpolated at tp=32 between recorded tp=16, tp=64"
    assert series.basis(64) == "measured at tp=64"
    assert series.basis(128).startswith("extrapolated to tp=128")


def test_fmax_is_the_lowest_of_the_records_figures():
    series = Records([record("rowwise", {}, fmax_mhz=210.0, fmax_registered_mhz=180.0)],
                     "test").series("rowwise", load_schedule(None).numerics)
    assert series.fmax(None) == 180.0


def test_one_recorded_size_is_used_as_is_and_says_so():
    series = Records([record("rmsnorm", {"n": 64, "eps": 1e-6}, lut4_total=500)],
                     "test").series("rmsnorm", load_schedule(None).numerics)
    assert series.at(1024, "lut4_total") == 500
    assert series.basis(1024) == "one size recorded (n=64): its figures used at n=1024"


def test_records_at_other_numerics_are_not_used_for_the_default_numerics():
    other = record("quantize", {"n": 64, "numerics": {"rowwise": {"bits": 16, "frac": 10}}})
    records = Records([other], "test")
    assert records.series("quantize", load_schedule(None).numerics) is None
    sch = load_schedule(None, parse_overrides(["schedule.numerics.rowwise.bits=16",
                                               "schedule.numerics.rowwise.frac=10"]))
    assert records.series("quantize", sch.numerics) is not None


def test_vector_timing_is_a_line_fitted_over_the_recorded_sizes():
    records = Records([record("quantize", {"n": 16}, ii_cycles=40.0, last_out_cycles=40),
                       record("quantize", {"n": 64}, ii_cycles=136.0, last_out_cycles=136)],
                      "test")
    t = unit_timings(load_schedule(None), records)["quantize"]
    assert t.characterized and t.per_element == pytest.approx(2.0)
    assert t.latency == pytest.approx(8.0)


def test_default_run_reads_records_without_importing_rtl_or_myhdl():
    code = ("import sys, io, contextlib\n"
            "from cosim.run import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['models/tiny.yaml', '--numerics', 'off']) == 0\n"
            "bad = [m for m in sys.modules if m == 'myhdl' or m.split('.')[0] == 'rtl']\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("text, message", [
    ("{not json", "cannot read"),
    ('{"unit": "matvec"}', "must hold a list of records"),
    ('[{"unit": "rowwise", "params": {}, "ff": "many"}]', "record 0 (rowwise) has a ff"),
    ('[{"unit": "rowwise", "params": {}, "ff": NaN}]', "cannot read"),
])
def test_unreadable_records_are_one_clean_error(tmp_path, capsys, text, message):
    bad = tmp_path / "records.json"
    bad.write_text(text)
    code = main([str(ROOT / "models" / "tiny.yaml"), "--numerics", "off",
                 "--set", f"schedule.characterization={bad}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: schedule.characterization") and message in err


# -- device fit and warnings --------------------------------------------------------------

def test_fit_names_every_resource_used_and_available():
    fit = run("mmfree-370m", "u250-ternip")["fit"]
    assert fit["fits"] is True and fit["device"].startswith("AMD Alveo U250")
    assert set(fit["resources"]) == {"lut", "ff", "dsp", "bram", "onchip_bytes", "dram_bytes"}
    for r in fit["resources"].values():
        assert set(r) == {"used", "available", "utilization"}
        assert 0 <= r["used"] <= r["available"]
    assert "stand in for another RTL" in fit["basis"]        # u250-ternip models ternip
    assert fit["control"]["lut"] == pytest.approx(0.25 * fit["resources"]["lut"]["used"] / 1.25)


def test_fit_sums_unit_records_times_instances_plus_control():
    recs = Records([record(u, p, lut4_total=lut, ff=10, dsp=1)
                    for u, p, lut in (("matvec", {"tp": 128, "cols": 256}, 1000),
                                      ("rmsnorm", {"n": 64}, 300), ("quantize", {"n": 64}, 200),
                                      ("rowwise", {}, 500))], "test")
    fit = run("mmfree-370m", "ecp5-85k", "schedule.lanes=3", "schedule.units.matvec.tp=128",
              "schedule.units.rowwise.per=cu", records=recs)["fit"]
    units = 3 * (1000 + 300 + 200) + 1 * 500           # rowwise per compute unit
    assert fit["resources"]["lut"]["used"] == pytest.approx(units * 1.25)
    assert fit["resources"]["dsp"]["used"] == 3 * 3 + 1
    assert fit["units"]["rowwise"]["instances"] == 1


def test_overclocked_and_oversized_design_warns_in_json_and_on_stderr(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main([str(ROOT / "models" / "mmfree-370m.yaml"), "--schedule",
                 str(ROOT / "schedules" / "u250-ternip.yaml"), "--numerics", "off",
                 "--set", "schedule.clock_mhz=5000", "--set", "schedule.lanes=300",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["fit"]["fits"] is False and report["fit"]["resources"]["lut"]["utilization"] > 1
    warnings = report["warnings"]
    assert any("schedule.clock_mhz=5000 is above" in w for w in warnings)
    assert any("does not fit" in w and "lut" in w for w in warnings)
    err = capsys.readouterr().err
    assert err.count("warning: ") == len(warnings) == 2


def test_clock_above_the_slowest_characterised_unit_warns():
    r = run("mmfree-370m", "ecp5-85k", "schedule.clock_mhz=400")
    clock = r["fit"]["clock"]
    assert clock["fmax_mhz"] == min(u["fmax_mhz"] for u in r["fit"]["units"].values())
    assert any(f"slowest unit, {clock['limited_by']}" in w for w in r["warnings"])
    assert not run("mmfree-370m", "ecp5-85k")["warnings"]


def test_weights_larger_than_the_dram_warn():
    r = run("mmfree-1.3b", "ecp5-85k")
    dram = r["fit"]["resources"]["dram_bytes"]
    assert dram["used"] > dram["available"]
    assert any("bytes of weights exceed" in w for w in r["warnings"])


def test_schedule_without_a_device_has_no_fit_and_no_warnings():
    r = run("tiny", "default")
    assert r["fit"]["fits"] is None and r["warnings"] == []


def test_on_chip_check_excludes_the_host_lm_head():
    overrides = parse_overrides(["schedule.onchip.weights=onchip"])
    cfg = load_model(ROOT / "models" / "tiny.yaml", overrides)
    sch = load_schedule(ROOT / "schedules" / "u250-ternip.yaml", overrides)
    graph = build_graph(cfg, sch.numerics)
    program = lane_program(graph, sch, cfg, unit_timings(sch, Records([], "none")))
    on_accelerator = accelerator_weight_bytes(program)
    assert on_accelerator < totals(graph)["weight_bytes_per_token"]   # lm_head is on the host
    room = parse_overrides([f"schedule.onchip.bytes={on_accelerator + 10**6}",
                            "schedule.onchip.weights=onchip"])
    tight = load_schedule(ROOT / "schedules" / "u250-ternip.yaml", room)
    validate(tight, cfg, on_accelerator)
    with pytest.raises(ConfigError, match="schedule.onchip.weights must be 'dram'"):
        validate(tight, cfg, totals(graph)["weight_bytes_per_token"] + 10**6)


# -- accounting -------------------------------------------------------------------------

def test_one_lane_on_four_compute_units_counts_only_the_active_channel():
    r = run("mmfree-370m", "u250-ternip", "schedule.memory.efficiency=0.05")
    mem, roof = r["memory"], r["roofline"]
    assert mem["active_channels"] == 1 and r["decode"]["active_compute_units"] == 1
    assert mem["utilization"] > 0.9              # the one streaming channel is nearly always busy
    assert roof["bound"] == "memory" and roof["fraction_of_roof"] > 0.9
    assert r["bottleneck"].startswith("dram")
    assert mem["stall_share_of_active_time"] > r["units"]["matvec"]["share_of_active_time"]


def test_roofline_peak_counts_the_lanes_that_exist():
    one = run("mmfree-370m", "u250-ternip")["roofline"]
    many = run("mmfree-370m", "u250-ternip", "schedule.lanes=8")["roofline"]
    assert many["peak_adds_per_s"] == pytest.approx(8 * one["peak_adds_per_s"])
    assert many["bandwidth_bytes_per_s"] == pytest.approx(4 * one["bandwidth_bytes_per_s"])


def test_instances_count_units_not_compute_units_times_lanes():
    assert run("mmfree-370m", "u250-ternip")["units"]["matvec"]["instances"] == 1
    assert run("mmfree-370m", "u250-ternip", "schedule.lanes=24")["units"]["matvec"][
        "instances"] == 24
    shared = run("mmfree-370m", "u250-ternip", "schedule.lanes=2",
                 "schedule.units.rowwise.per=cu")["units"]["rowwise"]
    assert shared["instances"] == 2                # two compute units have a lane each


def test_host_work_is_reported_apart_from_the_accelerator():
    r = run("mmfree-370m", "u250-ternip")
    acc, host = r["accelerator"], r["host"]
    model = totals(build_graph(load_model(ROOT / "models" / "mmfree-370m.yaml"),
                               load_schedule(ROOT / "schedules" / "u250-ternip.yaml").numerics))
    for key in ("weight_bytes_per_token", "ternary_adds_per_token"):
        assert acc[key] + host[key] == model[key] and host[key] > 0      # lm_head
    weights = r["fit"]["resources"]["dram_bytes"]["used"]     # the mat-vec weights in DRAM
    assert weights <= acc["weight_bytes_per_token"]
    streamed = r["energy"]["actions_per_token"]["dram_byte"]    # one lane: one token per step
    assert streamed == pytest.approx(weights + r["memory"]["activation_bytes_per_step"])


def test_summary_says_cycles_per_decode_step_and_splits_host_work(capsys):
    assert main([str(ROOT / "models" / "mmfree-370m.yaml"), "--schedule",
                 str(ROOT / "schedules" / "u250-ternip.yaml"), "--numerics", "off",
                 "--set", "schedule.lanes=4"]) == 0
    out = capsys.readouterr().out
    assert "cycles per decode step of 4 lane(s)" in out and "cycles/token" not in out
    assert "of the sustained bandwidth of 4 active channel(s)" in out
    assert "accelerator 77.6 MB of weights" in out and "host 8.2 MB of weights" in out


def test_weights_on_chip_give_a_compute_roof_and_a_finite_report(tmp_path):
    assert main([str(ROOT / "models" / "tiny.yaml"), "--schedule",
                 str(ROOT / "schedules" / "u250-ternip.yaml"), "--numerics", "off",
                 "--set", "schedule.onchip.weights=onchip",
                 "--set", "schedule.memory.activation_transfers_per_layer=0",
                 "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text(),
                        parse_constant=lambda c: pytest.fail(f"{c} in the report"))
    roof = report["roofline"]
    assert roof["intensity_adds_per_byte"] is None and roof["bound"] == "compute"
    assert "no DRAM traffic" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "roofline.png").stat().st_size > 0


@pytest.mark.parametrize("name", ["u250-ternip", "u250-max", "d5005-paper", "ecp5-85k"])
def test_every_fpga_schedule_names_its_device_with_sources(name):
    device = load_schedule(ROOT / "schedules" / f"{name}.yaml").device
    assert device is not None and device.source and device.control.source
    assert device.lut > 0 and device.ff > 0 and device.dram_bytes > 0


@pytest.mark.parametrize("name", ["missing.json", "folder"])
def test_records_path_that_is_not_a_file_is_one_clean_error(tmp_path, capsys, name):
    (tmp_path / "folder").mkdir()
    code = main([str(ROOT / "models" / "tiny.yaml"), "--numerics", "off",
                 "--set", f"schedule.characterization={tmp_path / name}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: schedule.characterization must be a JSON file")
