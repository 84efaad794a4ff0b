"""Neuromorphic target: schedule validation, mapping, activity-based energy, SANA-FE agreement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.neuro import simulate
from cosim.neuro.core import summary_lines
from cosim.neuro.network import build_network, pipeline_depth
from cosim.neuro.sanafe_check import cross_check
from cosim.neuro.simulator import simulate_step
from cosim.numerics.engines import FixedEngine
from cosim.run import main
from cosim.weights import PreparedWeights, RandomWeights

ROOT = Path(__file__).resolve().parents[1]
LOIHI2 = ROOT / "schedules" / "loihi2.yaml"
TINY = ROOT / "models" / "tiny.yaml"
EVENTS = ("synaptic_op", "soma_update", "spike_out", "message_out", "message_in",
          "hop_east_west", "hop_north_south")


def _error(capsys, *argv) -> str:
    """Run the CLI expecting exit 2; return its one stderr line."""
    assert main([str(TINY), "--numerics", "off", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err


def _schedule_file(tmp_path, change) -> str:
    data = yaml.safe_load(LOIHI2.read_text())
    change(data)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_loihi2_names_a_source_for_every_figure():
    s = load_schedule(LOIHI2)
    figures = [getattr(s.events, e) for e in EVENTS] + [s.barrier, s.static]
    figures += [getattr(s.chip, k) for k in ("max", "cores", "mesh_width", "mesh_height",
                                             "cores_per_tile")]
    figures += [getattr(s.core, k) for k in ("neurons", "synapse_memory_bits",
                                             "synapse_bits", "payload_bits")]
    assert all(f.source.strip() for f in figures)


def test_energy_without_source_exits_2(tmp_path, capsys):
    path = _schedule_file(tmp_path, lambda d: d["events"]["synaptic_op"].pop("source"))
    assert "schedule.events.synaptic_op.source is required" in _error(
        capsys, "--schedule", path)


def test_fpga_key_in_a_neuromorphic_schedule_exits_2(tmp_path, capsys):
    path = _schedule_file(tmp_path, lambda d: d.update(lanes=4))
    assert "schedule.lanes is not a valid key" in _error(capsys, "--schedule", path)


def test_neuromorphic_key_in_an_fpga_schedule_exits_2(capsys):
    assert "schedule.barrier is not a valid key" in _error(
        capsys, "--set", "schedule.barrier=1")


def test_unknown_target_exits_2(capsys):
    assert "schedule.target must be one of 'fpga', 'neuromorphic'" in _error(
        capsys, "--schedule", str(LOIHI2), "--set", "schedule.target=gpu")


def test_core_neuron_limit_zero_exits_2(capsys):
    err = _error(capsys, "--schedule", str(LOIHI2), "--set", "schedule.core.neurons.value=0")
    assert "schedule.core.neurons.value must be a positive integer, not 0" in err


def test_more_chips_than_allowed_exits_2(capsys):
    err = _error(capsys, "--schedule", str(LOIHI2),
                 "--set", "schedule.core.synapse_memory_bits.value=4000",
                 "--set", "schedule.chip.max.value=1")
    assert "schedule.chip.max.value must be at least" in err and "not 1" in err


def test_neuron_bigger_than_a_core_exits_2(capsys):
    err = _error(capsys, "--schedule", str(LOIHI2),
                 "--set", "schedule.core.synapse_memory_bits.value=1000")
    assert "schedule.core.synapse_memory_bits.value must be at least" in err


def test_payload_narrower_than_the_values_exits_2(capsys):
    err = _error(capsys, "--schedule", str(LOIHI2),
                 "--set", "schedule.core.payload_bits.value=8")
    assert "schedule.core.payload_bits.value must be at least 24" in err


def test_more_sequences_than_pipeline_steps_exits_2(capsys):
    err = _error(capsys, "--schedule", str(LOIHI2), "--set", "schedule.sequences=1000")
    assert "schedule.sequences must be at most the pipeline depth" in err


def test_report_uses_the_fpga_keys_plus_a_neuromorphic_section(tmp_path):
    fpga, neuro = tmp_path / "f.json", tmp_path / "n.json"
    assert main([str(TINY), "--numerics", "off", "--json", str(fpga)]) == 0
    assert main([str(TINY), "--numerics", "off", "--schedule", str(LOIHI2),
                 "--json", str(neuro)]) == 0
    f, n = json.loads(fpga.read_text()), json.loads(neuro.read_text())
    for section, key in (("decode", "tokens_per_s"), ("decode", "latency_ms"),
                         ("power", "total_w"), ("power", "static_w"),
                         ("power", "dynamic_w"), ("energy", "joules_per_token"),
                         ("energy", "tokens_per_joule"), ("activity", "source"),
                         ("brain", "design_over_brain_tokens_per_joule")):
        assert key in f[section] and key in n[section]
    mapping = n["neuromorphic"]["mapping"]
    assert mapping["chips"] >= 1 and mapping["cores"] >= 1
    assert n["energy"]["joules_per_token"] == pytest.approx(
        n["power"]["total_w"] / n["decode"]["tokens_per_s"])


def test_every_activation_and_weight_is_placed_once():
    cfg = load_model(TINY)
    groups = build_network(build_graph(cfg))
    h, i, layers = cfg.hidden_size, cfg.intermediate, cfg.num_hidden_layers
    activation = sum(g.size for g in groups.values() if g.kind == "activation")
    assert activation == layers * (5 * h + i) + h
    # one-token pipeline: 17 steps a block (two reductions before each BitLinear)
    assert pipeline_depth(groups) == 17 * layers + 5


def _engine(graph, cfg, schedule) -> FixedEngine:
    """The fixed-point golden model on seeded random weights."""
    return FixedEngine(graph, cfg, PreparedWeights(cfg, RandomWeights(cfg)), schedule.numerics)


def _jpt(density: float) -> float:
    cfg = load_model(TINY)
    schedule = load_schedule(LOIHI2, parse_overrides(
        [f"schedule.activity.activation_density={density}"]))
    return simulate(build_graph(cfg), cfg, schedule).report["energy"]


def test_sparser_activations_cost_less_energy_per_token():
    dense, sparse = _jpt(0.98), _jpt(0.4)
    assert sparse["actions_per_token"]["synaptic_op"] < 0.5 * dense["actions_per_token"][
        "synaptic_op"]
    assert sparse["dynamic_joules_per_token"] < dense["dynamic_joules_per_token"]
    assert sparse["joules_per_token"] < dense["joules_per_token"]


@pytest.fixture(scope="module")
def tiny_check():
    cfg = load_model(TINY)
    schedule = load_schedule(LOIHI2)
    graph = build_graph(cfg, schedule.numerics)
    engine = _engine(graph, cfg, schedule)
    return cross_check(graph, cfg, schedule, engine, [5, 17])


def test_sanafe_counts_the_same_events_on_tiny(tiny_check):
    ours, theirs = tiny_check["cosim"]["counts"], tiny_check["sanafe"]["counts"]
    assert tiny_check["cores"] > 1                 # messages cross the mesh
    for event in ("synaptic_op", "spike_out", "message_out", "soma_update"):
        assert ours[event] == theirs[event], event


def test_sanafe_agrees_on_energy_and_time_on_tiny(tiny_check):
    assert abs(tiny_check["energy_error"]) <= 0.10
    assert abs(tiny_check["time_error"]) <= 0.25


@pytest.mark.slow
def test_sanafe_agrees_on_a_one_block_slice_of_370m():
    cfg = load_model(ROOT / "models" / "mmfree-370m.yaml", parse_overrides(
        ["model.num_hidden_layers=1", "model.vocab_size=256"]))
    schedule = load_schedule(LOIHI2)
    graph = build_graph(cfg, schedule.numerics)
    engine = _engine(graph, cfg, schedule)
    check = cross_check(graph, cfg, schedule, engine, [5])
    for event in ("synaptic_op", "spike_out", "message_out", "soma_update"):
        assert check["cosim"]["counts"][event] == check["sanafe"]["counts"][event], event
    assert abs(check["energy_error"]) <= 0.10
    assert abs(check["time_error"]) <= 0.25


@pytest.mark.slow
def test_370m_on_loihi2_reports_chips_and_energy(tmp_path):
    out = tmp_path / "r.json"
    assert main([str(ROOT / "models" / "mmfree-370m.yaml"), "--schedule", str(LOIHI2),
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["neuromorphic"]["mapping"]["chips"] > 1
    assert report["energy"]["joules_per_token"] > 0 and report["decode"]["tokens_per_s"] > 0


def test_a_zero_activation_sends_nothing():
    cfg = load_model(TINY)
    schedule = load_schedule(LOIHI2)
    graph = build_graph(cfg, schedule.numerics)
    engine = _engine(graph, cfg, schedule)
    out = simulate(graph, cfg, schedule, engine=engine, tokens=[3])
    values = {}
    engine.reset()
    engine.step(3, lambda name, _, value: values.__setitem__(name, value))
    start = 0
    silent = []
    for name in out.mapping.order:
        group = out.mapping.groups[name]
        if group.kind == "activation":
            assert (out.masks[name] == (values[name][0] != 0)).all()
            silent += list(start + np.flatnonzero(values[name][0] == 0))
        start += group.size
    assert silent                                   # int8 rounding leaves some zeros
    assert not set(silent) & set(out.traffic.neuron.tolist())
    assert not set(silent) & set(out.traffic.spiking.tolist())


def test_receive_runs_time_a_step_exactly_as_single_messages():
    cfg = load_model(TINY)
    schedule = load_schedule(LOIHI2, parse_overrides(["schedule.core.neurons.value=512"]))
    out = simulate(build_graph(cfg), cfg, schedule)
    one = simulate_step(out.traffic, out.mapping, schedule, batch=1)
    runs = simulate_step(out.traffic, out.mapping, schedule, batch=37)
    assert out.mapping.cores > 1 and runs.seconds == pytest.approx(one.seconds, rel=1e-9)


def test_summary_names_the_sanafe_timing_model(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main([str(TINY), "--schedule", str(LOIHI2), "--tokens", "4", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "SANA-FE cross-check (one step, its detailed timing)" in text
    report = json.loads(out.read_text())
    check = report["neuromorphic"]["sanafe"]
    del check["time_error_loihi_link_buffers"]      # as when SANA-FE's simple model ran
    check["sanafe"]["timing_model"] = "simple"
    assert "its simple timing): energy +0.0%" in "\n".join(summary_lines(report))


def test_sequences_in_flight_set_throughput_and_soma_updates():
    cfg = load_model(TINY)
    graph = build_graph(cfg)
    runs = {}
    for sets in ([], ["schedule.sequences=1"], ["schedule.sequences=10"]):
        schedule = load_schedule(LOIHI2, parse_overrides(sets))
        runs[schedule.sequences] = simulate(graph, cfg, schedule).report
    full, alone, ten = runs[None], runs[1], runs[10]
    depth = full["neuromorphic"]["pipeline"]["time_steps_per_token"]
    neurons = full["neuromorphic"]["mapping"]["neurons"]
    assert full["decode"]["tokens_per_s"] == pytest.approx(1e6 / full["decode"]["step_us"])
    assert alone["decode"]["tokens_per_s"] == pytest.approx(1e3 / alone["decode"]["latency_ms"])
    assert ten["decode"]["tokens_per_s"] == pytest.approx(
        10 / depth * full["decode"]["tokens_per_s"])
    for report, updates in ((full, neurons), (alone, depth * neurons),
                            (ten, depth * neurons / 10)):
        assert report["energy"]["actions_per_token"]["soma_update"] == pytest.approx(updates)
    assert alone["energy"]["joules_per_token"] > full["energy"]["joules_per_token"]


def test_input_neurons_are_spread_so_sending_does_not_set_the_step():
    cfg = load_model(TINY)
    schedule = load_schedule(LOIHI2, parse_overrides(
        ["schedule.core.synapse_memory_bits.value=160000",
         "schedule.events.message_out.ns=200"]))
    out = simulate(build_graph(cfg), cfg, schedule)
    step = simulate_step(out.traffic, out.mapping, schedule)
    budget = 160000 / 8 * schedule.events.synaptic_op.ns * 1e-9
    assert out.mapping.cores > 8
    assert step.send_s.max() <= 1.2 * budget      # packed by neurons alone: 2.9x
