"""Rebuild a mapped network in SANA-FE and run one time step of the same activity.

SANA-FE (Boyle et al., IEEE TCAD 2025; ``pip install sanafe``) simulates
Loihi-class chips and was validated against Loihi silicon. Here it gets the
schedule's architecture (the same mesh, cores, per-event energies and
latencies, barrier), the same neurons on the same cores and the same synapses
(nonzero ternary weights, element-wise, reduce and broadcast connections).
Who spikes is imposed: a neuron that should fire has a bias far above its
threshold, one that should not has a threshold out of reach, so SANA-FE counts
and times exactly the events of the project's step. Energy and time then
differ only where the two timing and energy models differ.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import tempfile
from pathlib import Path

import numpy as np
import yaml

from cosim.config.neuromorphic import NeuromorphicSchedule
from cosim.graph import totals
from cosim.neuro.mapping import Mapping

#: messages per step up to which SANA-FE's "detailed" timing model is used; its cost grows
#: with the square of the messages in flight (a 370M block, about 10^5 messages, ran for
#: over ten minutes here), so larger steps use its "simple" model (per core, the longer of
#: message and neuron processing; the step is the slowest core plus the barrier)
DETAILED_MAX_MESSAGES = 20_000
#: LIF settings that make a neuron fire every step, or never, whatever its input
FIRE = {"threshold": 0.5, "bias": 1e9, "reset": 0.0, "leak_decay": 0.0, "force_update": True}
QUIET = {"threshold": 1e30, "bias": 0.0, "reset": 0.0, "leak_decay": 0.0,
         "force_update": True}
#: ternary weights (zeros included) beyond which the cross-check is not run: SANA-FE
#: takes about 2 us per synapse to build, so the 370M model would take hours
MAX_WEIGHTS = 30_000_000
#: neurons SANA-FE 2.2.9 holds per core, whatever max_neurons_supported says (seen here:
#: a 1025th neuron fails in SpikingChip.load with a vector range check)
SANAFE_NEURONS_PER_CORE = 1024
#: messages a mesh link buffers in SANA-FE's Loihi preset (arch/loihi.yaml); beyond it,
#: senders block. The project's model has no such back-pressure (unbounded buffers).
LOIHI_LINK_BUFFER = 16
UNBOUNDED = 1_000_000_000


def architecture(schedule: NeuromorphicSchedule, chips: int,
                 link_buffer: int = UNBOUNDED) -> dict:
    """SANA-FE's architecture description of ``chips`` chips of the schedule."""
    ch, ev = schedule.chip, schedule.events
    tile_attrs = {f"{k}_{d}_hop": v for d in ("east", "west")
                  for k, v in (("energy", ev.hop_east_west.pj * 1e-12),
                               ("latency", ev.hop_east_west.ns * 1e-9))}
    tile_attrs.update({f"{k}_{d}_hop": v for d in ("north", "south")
                       for k, v in (("energy", ev.hop_north_south.pj * 1e-12),
                                    ("latency", ev.hop_north_south.ns * 1e-9))})
    tiles = ch.mesh_width.value * chips * ch.mesh_height.value
    core = {
        "name": f"core[0..{ch.cores_per_tile.value - 1}]",
        "attributes": {"buffer_position": "soma", "buffer_inside_unit": False,
                       "max_neurons_supported": schedule.core.neurons.value},
        "axon_in": [{"name": "axon_in", "attributes": {
            "energy_message_in": ev.message_in.pj * 1e-12,
            "latency_message_in": ev.message_in.ns * 1e-9}}],
        "synapse": [{"name": "synapse", "attributes": {
            "model": "current_based", "energy_process_spike": ev.synaptic_op.pj * 1e-12,
            "latency_process_spike": ev.synaptic_op.ns * 1e-9}}],
        "dendrite": [{"name": "dendrite", "attributes": {
            "model": "accumulator", "energy_update": 0.0, "latency_update": 0.0}}],
        "soma": [{"name": "soma", "attributes": {
            "model": "leaky_integrate_fire",
            "energy_access_neuron": 0.0, "latency_access_neuron": 0.0,
            "energy_update_neuron": ev.soma_update.pj * 1e-12,
            "latency_update_neuron": ev.soma_update.ns * 1e-9,
            "energy_spike_out": ev.spike_out.pj * 1e-12,
            "latency_spike_out": ev.spike_out.ns * 1e-9}}],
        "axon_out": [{"name": "axon_out", "attributes": {
            "energy_message_out": ev.message_out.pj * 1e-12,
            "latency_message_out": ev.message_out.ns * 1e-9}}],
    }
    return {"architecture": {
        "name": schedule.name,
        "attributes": {"topology": "mesh", "width": ch.mesh_width.value * chips,
                       "height": ch.mesh_height.value, "link_buffer_size": link_buffer,
                       "sync_model": "fixed", "latency_sync": schedule.barrier.ns * 1e-9},
        "tile": [{"name": f"tile[0..{tiles - 1}]", "attributes": tile_attrs,
                  "core": [core]}]}}


def run_sanafe(mapping: Mapping, schedule: NeuromorphicSchedule, masks: dict,
               weights: dict, link_buffer: int = UNBOUNDED,
               timing_model: str = "detailed") -> dict:
    """One SANA-FE time step of ``mapping`` with the spikes of ``masks``.

    ``weights``: accumulator group -> its ternary matrix [rows, cols]. Returns
    energy (J), time (s) and SANA-FE's event counts.
    """
    import sanafe

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "arch.yaml"
        path.write_text(yaml.safe_dump(architecture(schedule, mapping.chips, link_buffer)))
        arch = sanafe.load_arch(str(path))
    cores = arch.cores()
    height = schedule.chip.mesh_height.value
    per_tile = schedule.chip.cores_per_tile.value
    net = sanafe.Network()
    made = {}
    for name in mapping.order:
        group = mapping.groups[name]
        made[name] = net.create_neuron_group(name, group.size, QUIET, soma_hw_name="soma")
        x, y = mapping.position(mapping.core_of[name], schedule)
        index = (x * height + y) * per_tile + mapping.core_of[name] % per_tile
        for j, neuron in enumerate(made[name].neurons):
            if masks[name][j]:
                neuron.set_attributes(model_attributes=FIRE)
            neuron.map_to_core(cores[int(index[j])])
    for name in mapping.order:
        dst = mapping.groups[name]
        for src, kind in dst.inputs:
            m = mapping.groups[src].size
            if kind == "ternary":
                rows, cols = np.nonzero(weights[name])
                pairs = list(zip(cols.tolist(), rows.tolist()))
            elif kind == "elementwise":
                pairs = [(k, k % dst.size) for k in range(m)]
            elif kind == "reduce":
                pairs = [(k, 0) for k in range(m)]
            else:
                pairs = [(0, i) for i in range(dst.size)]
            made[src].connect_neurons_sparse(made[name], {"weight": [1.0] * len(pairs)}, pairs)
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    with contextlib.redirect_stdout(io.StringIO()):      # SANA-FE prints its progress
        result = chip.sim(1, timing_model=timing_model, processing_threads=1)
    return {"energy_j": result["energy"]["total"], "time_s": result["sim_time"],
            "energy_by_unit_j": {k: v for k, v in result["energy"].items() if k != "total"},
            "counts": {"synaptic_op": result["spikes"], "spike_out": result["neurons_fired"],
                       "message_out": result["packets_sent"],
                       "soma_update": result["neurons_updated"]},
            "timing_model": timing_model, "sanafe_version": _version()}


def _version() -> str:
    from importlib.metadata import version

    return version("sanafe")


def sanafe_schedule(schedule: NeuromorphicSchedule) -> NeuromorphicSchedule:
    """The schedule with at most the neurons per core SANA-FE can hold."""
    core = schedule.core
    if core.neurons.value <= SANAFE_NEURONS_PER_CORE:
        return schedule
    neurons = dataclasses.replace(core.neurons, value=SANAFE_NEURONS_PER_CORE)
    return dataclasses.replace(schedule, core=dataclasses.replace(core, neurons=neurons))


def cross_check(graph, cfg, schedule: NeuromorphicSchedule, engine, tokens: list[int]) -> dict:
    """The project's last token step beside SANA-FE's, both on SANA-FE's neuron limit.

    Returns both energies and times, SANA-FE's and the project's event counts,
    and the relative differences (project / SANA-FE - 1).
    """
    from cosim.neuro.core import energy_of, simulate
    from cosim.neuro.simulator import simulate_step

    weights_total = totals(graph)["ternary_adds_per_token"]
    if weights_total > MAX_WEIGHTS:
        return {"skipped": f"{weights_total:,} ternary weights: beyond the {MAX_WEIGHTS:,} "
                           "this cross-check builds in SANA-FE; benchmarks/neuro_sanafe.py "
                           "runs it on one-block slices up to 370M's widths"}
    capped = sanafe_schedule(schedule)
    out = simulate(graph, cfg, capped, engine=engine, tokens=tokens)
    mapping = out.mapping
    weights = {n: engine.weights.ternary[graph.nodes[n]["param"]].matrix
               for n, g in mapping.groups.items() if g.kind == "accumulator"}
    detailed = len(out.traffic.src) <= DETAILED_MAX_MESSAGES
    theirs = run_sanafe(mapping, capped, out.masks, weights,
                        timing_model="detailed" if detailed else "simple")
    counts = out.traffic.counts(mapping, capped)
    ours_j = sum(energy_of(counts, capped).values())
    ours_s = simulate_step(out.traffic, mapping, capped).seconds
    check = {"sanafe": theirs, "cosim": {"energy_j": ours_j, "time_s": ours_s,
                                         "counts": counts},
             "energy_error": ours_j / theirs["energy_j"] - 1,
             "time_error": ours_s / theirs["time_s"] - 1,
             "cores": mapping.cores, "neurons_per_core": capped.core.neurons.value,
             "note": "one time step with every stage busy, on the last token's spikes; "
                     f"SANA-FE {theirs['sanafe_version']} holds at most "
                     f"{SANAFE_NEURONS_PER_CORE} neurons per core, so both sides are "
                     "mapped with that limit; SANA-FE's links unbounded, as in the "
                     "project's model"}
    if detailed:    # the Loihi preset's 16-message link buffers: senders block
        blocking = run_sanafe(mapping, capped, out.masks, weights, LOIHI_LINK_BUFFER)
        check["sanafe_time_s_loihi_link_buffers"] = blocking["time_s"]
        check["time_error_loihi_link_buffers"] = ours_s / blocking["time_s"] - 1
    return check
