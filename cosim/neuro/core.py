"""Map a model onto a neuromorphic schedule, simulate its time steps, report like the FPGA targets.

One token is counted in full: every group fires as that token's values say,
in one time step (the steady state of the layer pipeline, where every stage
works on a token of its own sequence). Energy = events x energy per event +
static power x chips x time. Throughput depends on the sequences in flight:
with as many as the pipeline has time steps, a token leaves every step; with
one, a token takes every stage's step in turn (each simulated on its own), and
every neuron updates in each of them; with S in between, S tokens leave every
depth steps, each priced as a step with every stage busy (an upper bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import networkx as nx
import numpy as np

from cosim.config.model import ModelConfig
from cosim.config.neuromorphic import NeuromorphicSchedule
from cosim.config.schema import fail
from cosim.neuro.mapping import Mapping, check_payload, map_network, mapping_report
from cosim.neuro.network import build_network, pipeline_depth
from cosim.neuro.simulator import simulate_step
from cosim.neuro.traffic import Traffic, spikes_from_density, spikes_from_values, traffic
from cosim.sim.energy import brain_report

EVENTS = ("synaptic_op", "soma_update", "spike_out", "message_out", "message_in",
          "hop_east_west", "hop_north_south")


@dataclass
class NeuroOutcome:
    """The report sections, and what a cross-check needs to rebuild the same network."""

    report: dict
    mapping: Mapping
    traffic: Traffic
    masks: dict
    logits: Optional[np.ndarray] = None


def weight_counts(graph: nx.DiGraph, weights: Any, density: float):
    """Nonzero weights per row, and per column within row blocks, of each accumulator.

    From the ternary matrices when ``weights`` (PreparedWeights) is given, else
    expected from ``density``.
    """
    def matrix(group):
        return weights.ternary[graph.nodes[group.name]["param"]].matrix != 0

    def cols_of(group):
        return graph.nodes[group.name]["shape"][1]

    if weights is not None:
        return (lambda g: matrix(g).sum(axis=1).astype(np.float64),
                lambda g, starts: np.add.reduceat(matrix(g), starts, axis=0).astype(np.float64))
    return (lambda g: np.full(g.size, cols_of(g) * density),
            lambda g, starts: np.outer(np.diff(np.r_[starts, g.size]),
                                       np.full(cols_of(g), density)))


def energy_of(counts: dict, schedule: NeuromorphicSchedule) -> dict:
    """Joules by event."""
    return {e: counts[e] * getattr(schedule.events, e).pj * 1e-12 for e in EVENTS}


def simulate(graph: nx.DiGraph, cfg: ModelConfig, schedule: NeuromorphicSchedule, *,
             engine: Any = None, tokens: Optional[list[int]] = None,
             progress=None) -> NeuroOutcome:
    """Map, count and time ``cfg`` on ``schedule``; activity counted with ``engine`` and ``tokens``.

    With an engine, each token runs through the fixed-point model and its
    values set who spikes; the report averages the tokens' event counts and
    times the last token's step. Without, the schedule's densities are used.
    """
    check_payload(schedule)
    groups = build_network(graph)
    depth = pipeline_depth(groups)
    sequences = schedule.sequences or depth
    if sequences > depth:
        fail("schedule.sequences", f"at most the pipeline depth {depth} (a sequence per "
             "time step of the pipeline)", sequences)
    act = schedule.activity
    weights = engine.weights if engine is not None else None
    rows, cols = weight_counts(graph, weights, act.weight_density)
    mapping = map_network(groups, schedule, rows, cols)
    logits, per_token = None, []
    if engine is not None and tokens:
        engine.reset()
        rows_out = []
        for token in (progress(tokens) if progress else tokens):
            values = {}
            rows_out.append(engine.step(token, lambda n, _, v: values.__setitem__(n, v)))
            masks = spikes_from_values(mapping, values)
            per_token.append(traffic(mapping, masks))
        logits = np.stack(rows_out)
        step = per_token[-1]
        source = "counted from the fixed-point values"
    else:
        masks = spikes_from_density(mapping, act.activation_density)
        step = traffic(mapping, masks)
        per_token = [step]
        source = "expected densities from the schedule (--numerics off)"
    each = [t.counts(mapping, schedule) for t in per_token]
    counts = {e: float(np.mean([c[e] for c in each])) for e in EVENTS}
    full = simulate_step(step, mapping, schedule)
    stages = _stage_steps(step, mapping, schedule, full.batch)
    single_s = float(sum(stages))
    tps = 1.0 / single_s if sequences == 1 else sequences / (depth * full.seconds)
    # every neuron updates in every step; ``sequences`` tokens leave every ``depth`` steps
    counts["soma_update"] *= depth / sequences
    dynamic = energy_of(counts, schedule)
    dynamic_j = sum(dynamic.values())
    static_w = schedule.static.w * mapping.chips
    total_w = static_w + dynamic_j * tps
    jpt = total_w / tps
    report = {
        "decode": {"tokens_per_s": tps, "tokens_per_s_per_lane": tps / sequences,
                   "latency_ms": single_s * 1e3, "lanes": sequences,
                   "step_us": full.seconds * 1e6, "time_steps_per_token": depth},
        "power": {"total_w": total_w, "static_w": static_w, "dynamic_w": dynamic_j * tps,
                  "static_source": f"{mapping.chips} chips x {schedule.static.w:g} W "
                                   f"({schedule.static.source})"},
        "energy": {"joules_per_token": jpt, "tokens_per_joule": 1.0 / jpt,
                   "dynamic_joules_per_token": dynamic_j,
                   "static_joules_per_token": static_w / tps,
                   "dynamic_by_action_j": dynamic, "actions_per_token": counts,
                   "sources": {e: getattr(schedule.events, e).source for e in EVENTS}},
        "brain": brain_report(tps, total_w),
        "activity": _activity(per_token, mapping, source),
        "bottleneck": _bottleneck(full),
        "neuromorphic": {
            "mapping": mapping_report(mapping, schedule),
            "pipeline": {"time_steps_per_token": depth, "sequences_in_flight": sequences,
                         "step_us_all_stages_busy": full.seconds * 1e6,
                         "token_latency_ms_one_sequence": single_s * 1e3,
                         "tokens_per_s_one_sequence": 1.0 / single_s,
                         "tokens_per_s_pipeline_full": 1.0 / full.seconds,
                         "receive_batch": full.batch},
            "step_energy_j": sum(energy_of({**counts, "soma_update": float(step.neurons)},
                                           schedule).values()),
            "barrier_ns": schedule.barrier.ns,
        },
    }
    return NeuroOutcome(report, mapping, step, masks, logits)


def _stage_steps(step: Traffic, mapping: Mapping, schedule: NeuromorphicSchedule,
                 batch: int) -> list[float]:
    """Seconds of each pipeline stage's step when one token travels alone."""
    stage = np.concatenate([np.full(mapping.groups[n].size, mapping.groups[n].stage)
                            for n in mapping.order])
    depth = 1 + int(stage.max())
    msg = np.argsort(stage[step.neuron], kind="stable")
    msg_bounds = np.searchsorted(stage[step.neuron][msg], np.arange(depth + 1))
    spk_stage = stage[step.spiking]
    spk = np.argsort(spk_stage, kind="stable")
    spk_bounds = np.searchsorted(spk_stage[spk], np.arange(depth + 1))
    out = []
    for s in range(depth):
        keep = msg[msg_bounds[s]:msg_bounds[s + 1]]
        sub = Traffic(step.src[keep], step.neuron[keep], step.dst[keep], step.synapses[keep],
                      np.sort(step.spiking[spk[spk_bounds[s]:spk_bounds[s + 1]]]),
                      step.neurons)
        out.append(simulate_step(sub, mapping, schedule, batch).seconds)
    return out


def _activity(per_token: list[Traffic], mapping: Mapping, source: str) -> dict:
    activation = [n for n in mapping.order if mapping.groups[n].kind == "activation"]
    first = dict(zip(mapping.order, np.cumsum([0] + [mapping.groups[n].size
                                                      for n in mapping.order])[:-1]))
    total = sum(mapping.groups[n].size for n in activation)
    fired = np.mean([sum(int(np.count_nonzero((t.spiking >= first[n])
                                              & (t.spiking < first[n] + mapping.groups[n].size)))
                         for n in activation) for t in per_token])
    return {"source": source, "activation_density": float(fired / total),
            "tokens": len(per_token)}


def _bottleneck(full) -> str:
    send, receive = full.send_s.max(initial=0), full.receive_s.max(initial=0)
    if receive >= send:
        return (f"synapse pipeline of the busiest core ({receive * 1e6:.1f} us of a "
                f"{full.seconds * 1e6:.1f} us step)")
    return f"soma updates and sends of the busiest core ({send * 1e6:.1f} us)"


def summary_lines(report: dict) -> list[str]:
    """A few lines for a person (the CLI's summary)."""
    n, d, w, e = report["neuromorphic"], report["decode"], report["power"], report["energy"]
    m, p = n["mapping"], n["pipeline"]
    lines = [
        f"  schedule {report['schedule']['name']} (neuromorphic): {m['chips']} chip(s), "
        f"{m['cores']} cores, {m['neurons']:,} neurons, {m['synapses']:,.0f} synapses; "
        f"limit: {m['limit']}",
        f"  pipeline: {p['time_steps_per_token']} time steps per token, "
        f"{p['sequences_in_flight']} sequence(s) in flight: {d['tokens_per_s']:,.1f} tokens/s "
        f"(one sequence alone: {p['tokens_per_s_one_sequence']:,.2f}); step "
        f"{p['step_us_all_stages_busy']:.1f} us; bottleneck: {report['bottleneck']}",
        f"  power {w['total_w']:.2f} W (static {w['static_w']:.2f}, dynamic "
        f"{w['dynamic_w']:.2f}); {e['joules_per_token']:.4g} J/token; brain (20 W, ~4 "
        f"tokens/s): {report['brain']['design_over_brain_tokens_per_joule']:.3g}x its "
        f"tokens/J; activity: {report['activity']['source']}",
    ]
    layers = m["layers"]
    blocks = [v["cores"] for k, v in layers.items() if k.startswith("layer ")]
    lines.append("  cores per block " + (f"{min(blocks)}-{max(blocks)}" if blocks else "-")
                 + "; " + ", ".join(f"{k} {v['cores']}" for k, v in layers.items()
                                    if not k.startswith("layer ")) + "; utilisation: "
                 f"{m['utilisation']['synaptic_memory_mean']:.0%} of synaptic memory, "
                 f"{m['utilisation']['neurons_mean']:.0%} of neurons")
    check = n.get("sanafe")
    if check and "skipped" not in check:
        buffers = check.get("time_error_loihi_link_buffers")
        lines.append(f"  SANA-FE cross-check (one step, its {check['sanafe']['timing_model']} "
                     f"timing): energy {check['energy_error']:+.1%}, time "
                     f"{check['time_error']:+.1%}" + ("" if buffers is None else
                     f" (with Loihi's link buffers {buffers:+.1%})"))
    return lines
