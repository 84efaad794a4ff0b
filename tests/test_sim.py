"""The system simulator: timing model, lanes, overlap, co-simulated values, energy, speed."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.numerics.engines import FixedEngine
from cosim.sim import simulate
from cosim.sim.platform import lane_program, matvec_cycles, unit_timings
from cosim.sim.records import Records
from cosim.sim.report import chrome_trace, markdown
from cosim.weights import PreparedWeights, RandomWeights

ROOT = Path(__file__).resolve().parents[1]
NO_RTL = Records([], "none")  # analytic timing, independent of rtl/


def run(model: str, schedule: str, *sets: str, **kw):
    overrides = parse_overrides(list(sets))
    cfg = load_model(ROOT / "models" / f"{model}.yaml", overrides)
    sch = load_schedule(ROOT / "schedules" / f"{schedule}.yaml", overrides)
    graph = build_graph(cfg, sch.numerics)
    kw.setdefault("records", NO_RTL)
    return simulate(graph, cfg, sch, **kw), cfg, sch, graph


def test_matvec_costs_ceil_cols_over_tp_beats_per_row_plus_latency():
    sch = load_schedule(ROOT / "schedules" / "u250-ternip.yaml")
    t = unit_timings(sch, NO_RTL)["matvec"]
    assert matvec_cycles(10, 300, sch, t) == 10 * (math.ceil(300 / 128) + 1) + 9


def test_sequential_decode_is_the_sum_of_its_operations():
    out, cfg, sch, graph = run("tiny", "default")
    program = lane_program(graph, sch, cfg, unit_timings(sch, NO_RTL))
    mem = sch.memory
    rate = mem.bytes_per_cycle(sch.clock_mhz)
    expected = sum(mem.latency_cycles(sch.clock_mhz) + max(op.cycles, op.weight_bytes / rate)
                   if op.weight_bytes else op.cycles for op in program)
    assert out.report["decode"]["cycles_per_token"] == pytest.approx(expected)


def test_host_nodes_cost_nothing():
    out, *_ = run("mmfree-370m", "u250-ternip")
    with_head, *_ = run("mmfree-370m", "u250-ternip", "schedule.host=[model.embeddings]")
    assert with_head.report["decode"]["cycles_per_token"] > \
        out.report["decode"]["cycles_per_token"]


def test_lanes_share_the_weight_stream():
    on_chip = "schedule.memory.activation_transfers_per_layer=0"
    one, *_ = run("mmfree-370m", "u250-ternip", on_chip)
    many, *_ = run("mmfree-370m", "u250-ternip", "schedule.lanes=8", on_chip)
    assert many.report["decode"]["tokens_per_s"] == pytest.approx(
        8 * one.report["decode"]["tokens_per_s"], rel=1e-6)
    assert many.report["energy"]["actions_per_token"]["dram_byte"] == pytest.approx(
        one.report["energy"]["actions_per_token"]["dram_byte"] * 4 / 8)


def test_a_unit_shared_by_the_compute_unit_serialises_its_lanes():
    per_lane, *_ = run("tiny", "default", "schedule.lanes=4")
    shared, *_ = run("tiny", "default", "schedule.lanes=4", "schedule.units.rowwise.per=cu")
    assert shared.report["decode"]["cycles_per_token"] > \
        per_lane.report["decode"]["cycles_per_token"]


def test_memory_bound_when_the_channel_is_slow():
    out, *_ = run("mmfree-370m", "u250-ternip", "schedule.memory.gb_per_s=2.4")
    assert out.report["bottleneck"].startswith("dram")
    assert out.report["roofline"]["bound"] == "memory"


def test_overlap_and_ports_shorten_the_token():
    base, *_ = run("mmfree-370m", "u250-ternip")
    ports, *_ = run("mmfree-370m", "u250-ternip", "schedule.overlap.vreg_ports=3")
    both, *_ = run("mmfree-370m", "u250-ternip", "schedule.overlap.vreg_ports=3",
                   "schedule.overlap.rowwise_with_matvec=true")
    c = [r.report["decode"]["cycles_per_token"] for r in (base, ports, both)]
    assert c[0] > c[1] > c[2]


def test_more_compute_units_than_lanes_leave_units_idle():
    out, *_ = run("mmfree-370m", "u250-ternip")
    u = out.report["units"]["matvec"]
    assert u["utilization"] == pytest.approx(u["share_of_active_time"] / 4)
    assert out.report["decode"]["active_compute_units"] == 1


def test_report_has_the_contract_fields():
    out, *_ = run("tiny", "u250-ternip")
    r = out.report
    for section, key in [("decode", "tokens_per_s"), ("decode", "cycles_per_token"),
                         ("decode", "latency_ms"), ("prefill", "tokens_per_s"),
                         ("power", "total_w"), ("power", "static_w"), ("power", "dynamic_w"),
                         ("energy", "joules_per_token"), ("energy", "tokens_per_joule")]:
        assert r[section][key] > 0
    assert isinstance(r["bottleneck"], str)
    for unit in ("matvec", "rmsnorm", "quantize", "rowwise"):
        assert 0 <= r["units"][unit]["utilization"] <= 1
        assert r["units"][unit]["characterized"] is False  # analytic lookup in this test
    assert r["power"]["total_w"] == pytest.approx(r["power"]["static_w"] + r["power"]["dynamic_w"])
    assert r["energy"]["tokens_per_joule"] == pytest.approx(1 / r["energy"]["joules_per_token"])


def test_energy_is_counted_actions_times_energy_plus_static():
    out, _, sch, _ = run("mmfree-370m", "u250-ternip", "schedule.lanes=45")
    e, tps = out.report["energy"], out.report["decode"]["tokens_per_s"]
    dyn = sum(count * getattr(sch.energy, name).pj * 1e-12
              for name, count in e["actions_per_token"].items())
    assert e["joules_per_token"] == pytest.approx(dyn + sch.energy.static.w / tps)


def test_prefill_batches_prompt_tokens_through_one_stream():
    out, *_ = run("mmfree-370m", "u250-ternip", "schedule.prefill.batch=8")
    d, p = out.report["decode"], out.report["prefill"]
    assert d["tokens_per_s"] < p["tokens_per_s"] < 8 * d["tokens_per_s"]


def test_carried_values_equal_the_golden_model_and_count_activity():
    cfg = load_model(ROOT / "models" / "tiny.yaml")
    sch = load_schedule(ROOT / "schedules" / "u250-max.yaml")
    graph = build_graph(cfg, sch.numerics)
    weights = PreparedWeights(cfg, RandomWeights(cfg))
    tokens = [3, 1, 4, 1, 5]
    expected = FixedEngine(graph, cfg, weights, sch.numerics).run(tokens)
    engine = FixedEngine(graph, cfg, weights, sch.numerics)
    out = simulate(graph, cfg, sch, engine=engine, tokens=tokens, records=NO_RTL)
    assert (out.logits == expected).all()
    act = out.report["activity"]
    assert act["source"].startswith("counted")
    assert 0.5 < act["weight_density"] < 0.8 and 0.5 < act["activation_density"] <= 1
    assert act["useful_add_fraction"] <= act["weight_density"]


def test_event_driven_matvec_spends_less_on_adds():
    dense, *_ = run("mmfree-370m", "u250-ternip")
    sparse, *_ = run("mmfree-370m", "u250-ternip", "schedule.units.matvec.skip_zeros=true")
    assert sparse.report["energy"]["actions_per_token"]["ternary_add"] < \
        dense.report["energy"]["actions_per_token"]["ternary_add"]


def test_trace_is_chrome_trace_json_with_one_track_per_unit():
    out, _, sch, _ = run("tiny", "u250-ternip", "schedule.lanes=2", trace=True)
    trace = json.loads(chrome_trace(out.trace, sch.clock_mhz))
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert spans and all({"name", "ts", "dur", "pid", "tid"} <= set(e) for e in spans)
    assert len({e["pid"] for e in spans}) == 2          # two compute units with a lane each
    assert {"matvec", "rowwise", "dram"} <= {e["cat"] for e in spans}


def test_markdown_names_uncharacterized_units():
    out, *_ = run("tiny", "u250-ternip")
    report = dict(out.report, model={"name": "tiny"}, sim={"numerics": "off"},
                  schedule={"name": "u250-ternip", "clock_mhz": 300, "compute_units": 4,
                            "lanes": 1, "tp": 128, "weights": "dram", "host": []})
    text = markdown(report)
    assert "**no** (analytic)" in text and "J/token" in text


def test_one_decode_token_of_2_7b_simulates_in_half_a_second():
    run("mmfree-2.7b", "u250-ternip")       # warm caches
    start = time.perf_counter()
    run("mmfree-2.7b", "u250-ternip")
    assert time.perf_counter() - start < 0.5


SILICON_370M = [  # (lanes per compute unit, tokens/s measured on the U250 at 300 MHz)
    ("[6,6,6,6]", 1943), ("[8,8,8,6]", 2417), ("[9,9,9,6]", 2641), ("[14,14,14,6]", 3711.77),
]


@pytest.mark.parametrize("lanes, measured", SILICON_370M)
def test_u250_ternip_predicts_the_370m_silicon_within_5_percent(lanes, measured):
    out, *_ = run("mmfree-370m", "u250-ternip", f"schedule.lanes={lanes}")
    assert out.report["decode"]["tokens_per_s"] == pytest.approx(measured, rel=0.05)


def test_u250_ternip_board_power_is_fitted_at_48_lanes():
    out, *_ = run("mmfree-370m", "u250-ternip", "schedule.lanes=[14,14,14,6]")
    assert out.report["power"]["total_w"] == pytest.approx(53.35, rel=0.01)


# -- memory in physical units ---------------------------------------------------

def test_doubling_the_clock_does_not_double_a_dram_bound_design():
    base, *_ = run("tiny", "d5005-paper")
    fast, *_ = run("tiny", "d5005-paper", "schedule.clock_mhz=120")
    assert base.report["bottleneck"].startswith("dram")
    ratio = fast.report["decode"]["tokens_per_s"] / base.report["decode"]["tokens_per_s"]
    assert 1.0 <= ratio < 1.1
    compute, *_ = run("tiny", "d5005-paper", "schedule.clock_mhz=120",
                      "schedule.memory.gb_per_s=1000")
    slow, *_ = run("tiny", "d5005-paper", "schedule.memory.gb_per_s=1000")
    assert compute.report["decode"]["tokens_per_s"] == pytest.approx(
        2 * slow.report["decode"]["tokens_per_s"], rel=0.02)    # compute-bound: it does


def test_bandwidth_is_reported_in_gb_per_s_and_a_faster_clock_does_not_raise_it():
    out, *_ = run("mmfree-370m", "u250-ternip", "schedule.clock_mhz=1200",
                  "schedule.lanes=[12,12,12,12]")
    mem, step = out.report["memory"], out.decode
    assert mem["peak_gb_per_s"] == pytest.approx(4 * 19.2)
    assert mem["sustained_gb_per_s"] == pytest.approx(4 * 19.2 * 0.8)
    assert mem["achieved_gb_per_s"] == pytest.approx(step.dram_bytes / (step.cycles / 1200e6)
                                                     / 1e9)
    assert 0.8 * 61.44 < mem["achieved_gb_per_s"] <= 76.8      # DRAM-bound at 1200 MHz
    assert out.report["roofline"]["bandwidth_bytes_per_s"] <= 76.8e9


def test_memory_latency_and_bandwidth_are_nanoseconds_and_bytes_whatever_the_clock():
    _, cfg, sch, graph = run("tiny", "default")
    program = lane_program(graph, sch, cfg, unit_timings(sch, NO_RTL))
    mem = sch.memory
    for mhz in (100, 200):
        out, *_ = run("tiny", "default", f"schedule.clock_mhz={mhz}")
        cycle_ns = 1e3 / mhz
        ns = sum(mem.latency_ns + max(op.cycles * cycle_ns,
                                      op.weight_bytes / (mem.gb_per_s * mem.efficiency))
                 if op.weight_bytes else op.cycles * cycle_ns for op in program)
        assert out.decode.cycles == pytest.approx(ns / cycle_ns)


# -- lanes per compute unit and their activation traffic --------------------------

def test_a_list_of_lanes_equal_to_the_even_spread_is_the_same_design():
    spread, *_ = run("mmfree-370m", "u250-ternip", "schedule.lanes=45")
    listed, *_ = run("mmfree-370m", "u250-ternip", "schedule.lanes=[12,11,11,11]")
    for key in ("tokens_per_s", "cycles_per_token", "lanes", "events"):
        assert listed.report["decode"][key] == spread.report["decode"][key]


def test_compute_units_with_fewer_lanes_finish_their_steps_sooner():
    """Compute units decode independently: tokens/s sums each unit's lanes over its step."""
    mixed, *_ = run("mmfree-370m", "u250-ternip", "schedule.lanes=[14,14,14,6]")
    big, *_ = run("mmfree-370m", "u250-ternip", "schedule.lanes=[14,14,14,14]")
    small, *_ = run("mmfree-370m", "u250-ternip", "schedule.lanes=[6,6,6,6]")
    expected = 42 / big.decode.cycles + 6 / small.decode.cycles
    assert mixed.report["decode"]["tokens_per_s"] == pytest.approx(expected * 300e6)
    assert mixed.decode.cycles == pytest.approx(big.decode.cycles)


def test_activation_transfers_grow_with_the_lanes_of_a_compute_unit():
    """Each load or store carries every lane's vector over the unit's channel."""
    for lanes in (1, 6, 14):
        with_traffic, cfg, sch, _ = run("mmfree-370m", "u250-ternip",
                                        f"schedule.lanes=[{lanes},{lanes},{lanes},{lanes}]")
        none, *_ = run("mmfree-370m", "u250-ternip",
                       f"schedule.lanes=[{lanes},{lanes},{lanes},{lanes}]",
                       "schedule.memory.activation_transfers_per_layer=0")
        mem, d = sch.memory, cfg.hidden_size
        per_cycle = mem.gb_per_s * mem.efficiency / sch.clock_mhz * 1e3   # bytes
        one = max(d / sch.units.rowwise.elements_per_cycle, lanes * d * 2 / per_cycle) \
            + mem.latency_ns * sch.clock_mhz / 1e3
        expected = cfg.num_hidden_layers * mem.activation_transfers_per_layer * one
        assert with_traffic.decode.cycles - none.decode.cycles == pytest.approx(expected)
        assert with_traffic.decode.activation_bytes == pytest.approx(
            4 * cfg.num_hidden_layers * mem.activation_transfers_per_layer * lanes * d * 2)
    per_lane = [run("mmfree-370m", "u250-ternip", f"schedule.lanes={4 * n}")[0]
                .report["decode"]["tokens_per_s_per_lane"] for n in (6, 14)]
    assert per_lane[1] < per_lane[0]


def test_d5005_one_block_at_d512_takes_43_ms():
    out, *_ = run("mmfree-370m", "d5005-paper", "model.hidden_size=512",
                  "model.intermediate_size=null", "model.num_hidden_layers=1")
    assert out.report["decode"]["block_ms"] == pytest.approx(43, rel=0.15)
