"""Place the neuron groups of a model onto the cores and chips of a neuromorphic schedule.

Groups are placed in pipeline order, neuron by neuron, filling a core until
either its neuron limit or its synaptic memory (fan-in synapses x bits per
stored synapse) is reached; a core may hold the tail of one group and the head
of the next. Synapses live with the neuron that receives them, so a row of a
ternary matrix lives on one core and only its nonzero weights take memory.
A mapping that cannot work (a single neuron needs more synaptic memory than a
core has, more chips than the schedule allows, payloads wider than the chip
carries) is a ConfigError naming the schedule key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.config.neuromorphic import NeuromorphicSchedule
from cosim.config.schema import fail
from cosim.neuro.network import Group

#: placements tried while the cores a group spans are more than its senders assumed
PLACEMENTS = 4


@dataclass
class Mapping:
    """Where every neuron sits and what each core holds."""

    groups: dict[str, Group]
    order: list[str]                      # groups in placement (pipeline) order
    core_of: dict[str, np.ndarray]        # group -> core of each neuron
    fan_in: dict[str, np.ndarray]         # group -> stored synapses of each neuron
    #: accumulator -> (its cores, synapses [core, input column])
    ternary_counts: dict[str, tuple[np.ndarray, np.ndarray]]
    cores: int
    chips: int
    neurons_per_core: np.ndarray
    synapse_bits_per_core: np.ndarray

    def position(self, core: np.ndarray, schedule: NeuromorphicSchedule) -> tuple:
        """Mesh (x, y) of cores: chips side by side along x."""
        chip = schedule.chip
        per_chip = chip.cores.value
        tile = (core % per_chip) // chip.cores_per_tile.value
        x = (core // per_chip) * chip.mesh_width.value + tile % chip.mesh_width.value
        return x, tile // chip.mesh_width.value


def _fan_in(group: Group, groups: dict[str, Group], rows_nonzero) -> np.ndarray:
    """Stored synapses of each neuron of ``group``: the synapses it receives."""
    total = np.zeros(group.size, dtype=np.float64)
    for src, kind in group.inputs:
        m = groups[src].size
        if kind == "ternary":
            total += rows_nonzero(group)
        elif kind == "elementwise":
            total += m // group.size + (np.arange(group.size) < m % group.size)
        elif kind == "reduce":
            total += m
        else:                                   # broadcast: one synapse from the reducer
            total += 1
    return total


def _send_ns(groups: dict[str, Group], spans: dict[str, int],
             schedule: NeuromorphicSchedule) -> dict[str, float]:
    """Expected sending time of one neuron of each group, ns, if it fires.

    Its soma update and spike, and a message to every core of a group it feeds
    through synapses on many cores (ternary weights, a broadcast); ``spans``
    gives the cores each group occupies.
    """
    ev = schedule.events
    messages = dict.fromkeys(groups, 0)
    for name, group in groups.items():
        for src, kind in group.inputs:
            messages[src] += spans[name] if kind in ("ternary", "broadcast") else 1
    return {n: ev.soma_update.ns + ev.spike_out.ns + messages[n] * ev.message_out.ns
            for n in groups}


def map_network(groups: dict[str, Group], schedule: NeuromorphicSchedule, rows_nonzero,
                cols_nonzero_by_rows) -> Mapping:
    """Place ``groups`` on cores.

    ``rows_nonzero(group)`` gives the nonzero weights of each row of an
    accumulator; ``cols_nonzero_by_rows(group, starts)`` the nonzero weights of
    each column within the row blocks beginning at ``starts`` (counted from
    the weights, or expected from a density).

    A core takes neurons while they fit its neuron limit and synaptic memory,
    and while their expected sending time fits the time its synapse pipeline
    needs when all its synapses fire: otherwise a core of input neurons, each
    messaging many cores, would set the step while holding almost no synapses.
    How many cores a group spans is first taken from its synaptic memory (a
    lower bound), then grown to what a placement gave, until a placement
    spreads no group wider than assumed (at most ``PLACEMENTS`` placements).
    """
    core = schedule.core
    bits_per, max_bits = core.synapse_bits.value, core.synapse_memory_bits.value
    order = sorted(groups, key=lambda n: groups[n].stage)
    fan_in = {n: _fan_in(groups[n], groups, rows_nonzero) for n in order}
    for name, f in fan_in.items():
        if f.max(initial=0) * bits_per > max_bits:
            fail("schedule.core.synapse_memory_bits.value",
                 f"at least {int(f.max() * bits_per)} for one neuron of {name} "
                 f"({int(f.max())} synapses of {bits_per} bits)", max_bits)
    spans = {n: max(1, -(-int(f.sum() * bits_per) // max_bits)) for n, f in fan_in.items()}
    for _ in range(PLACEMENTS):
        core_of, neurons, bits = _place(order, fan_in, _send_ns(groups, spans, schedule),
                                        schedule)
        placed = {n: len(np.unique(c)) for n, c in core_of.items()}
        if all(placed[n] <= spans[n] for n in spans):
            break
        spans = {n: max(spans[n], placed[n]) for n in spans}
    counts = {}
    for name, group in groups.items():
        if group.kind == "accumulator":
            cores = core_of[name]
            starts = np.flatnonzero(np.r_[True, cores[1:] != cores[:-1]])
            counts[name] = (cores[starts], cols_nonzero_by_rows(group, starts))
    total = len(neurons)
    chips = -(-total // schedule.chip.cores.value)
    if chips > schedule.chip.max.value:
        fail("schedule.chip.max.value",
             f"at least {chips}: the model needs {total} cores of "
             f"{schedule.chip.cores.value} per chip", schedule.chip.max.value)
    return Mapping(groups, order, core_of, fan_in, counts, total, chips,
                   np.array(neurons), np.array(bits))


def _place(order: list[str], fan_in: dict[str, np.ndarray], send: dict[str, float],
           schedule: NeuromorphicSchedule) -> tuple[dict, list, list]:
    """Fill cores in ``order``: (core of each neuron by group, neurons and bits per core)."""
    core = schedule.core
    max_neurons, max_bits = core.neurons.value, core.synapse_memory_bits.value
    bits_per = core.synapse_bits.value
    budget = max_bits / bits_per * schedule.events.synaptic_op.ns
    core_of = {}
    neurons, bits, sending = [0], [0.0], [0.0]
    for name in order:
        need = fan_in[name] * bits_per
        cores = np.empty(len(need), dtype=np.int64)
        i = 0
        while i < len(need):
            cum = np.cumsum(need[i:i + max_neurons - neurons[-1]])
            take = int(np.searchsorted(cum, max_bits - bits[-1], side="right"))
            if budget and send[name]:        # zero latencies: no time budget
                take = min(take, int((budget - sending[-1]) // send[name]))
            if take <= 0 and neurons[-1] == 0:
                take = 1                     # a neuron slower than the budget, alone
            if take <= 0:
                neurons.append(0)
                bits.append(0.0)
                sending.append(0.0)
                continue
            cores[i:i + take] = len(neurons) - 1
            neurons[-1] += take
            bits[-1] += float(cum[take - 1])
            sending[-1] += take * send[name]
            i += take
        core_of[name] = cores
    return core_of, neurons, bits


def check_payload(schedule: NeuromorphicSchedule) -> None:
    """Graded spikes carry int8 activations and row-wise values: the chip must carry both."""
    n = schedule.numerics
    need = max(n.activation_bits, n.rowwise.bits)
    if schedule.core.payload_bits.value < need:
        fail("schedule.core.payload_bits.value",
             f"at least {need} (activations of {n.activation_bits} bits and row-wise "
             f"values of {n.rowwise.bits} bits travel as graded spikes)",
             schedule.core.payload_bits.value)


def mapping_report(mapping: Mapping, schedule: NeuromorphicSchedule) -> dict:
    """Cores per layer, chips and utilisation, for a reader."""
    core = schedule.core
    layers: dict[str, dict] = {}
    for name in mapping.order:
        g = mapping.groups[name]
        key = "embedding" if g.kind == "embed" else (
            "lm_head" if g.layer < 0 else f"layer {g.layer}")
        entry = layers.setdefault(key, {"cores": set(), "neurons": 0, "synapses": 0.0,
                                        "groups": 0, "soma_ops": 0})
        entry["cores"].update(np.unique(mapping.core_of[name]).tolist())
        entry["neurons"] += g.size
        entry["synapses"] += float(mapping.fan_in[name].sum())
        entry["groups"] += 1
        entry["soma_ops"] += g.soma_ops
    for entry in layers.values():
        entry["cores"] = len(entry["cores"])
    used_n = mapping.neurons_per_core / core.neurons.value
    used_b = mapping.synapse_bits_per_core / core.synapse_memory_bits.value
    return {
        "chips": mapping.chips, "cores": mapping.cores,
        "cores_available": mapping.chips * schedule.chip.cores.value,
        "neurons": int(mapping.neurons_per_core.sum()),
        "synapses": float(sum(f.sum() for f in mapping.fan_in.values())),
        "utilisation": {"neurons_mean": float(used_n.mean()),
                        "synaptic_memory_mean": float(used_b.mean()),
                        "cores_of_chips": mapping.cores / (mapping.chips
                                                           * schedule.chip.cores.value)},
        "limit": "synaptic memory" if used_b.mean() >= used_n.mean() else "neurons",
        "layers": layers,
    }
