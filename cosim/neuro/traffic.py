"""Which neurons spike for a token, and the messages and synaptic operations that follow.

Activity comes from the fixed-point values (a neuron spikes when the value it
stands for is nonzero: a zero int8 activation sends nothing) or, without
values, from the schedule's expected activation density drawn with a seeded
generator. A spiking neuron sends one message to every core holding at least
one of its synapses; each synapse met there is a synaptic operation. Both the
SimPy model and the SANA-FE network are driven from these same spikes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.config.neuromorphic import NeuromorphicSchedule
from cosim.neuro.mapping import Mapping

#: graph values a group's spikes are read from (reducers always send their scale)
VALUE_OF = {"embed": lambda v: v, "activation": lambda v: v[0],
            "accumulator": lambda v: v, "residual": lambda v: v}


@dataclass
class Traffic:
    """The messages of one time step, in the order each source core sends them."""

    src: np.ndarray        # source core of each message
    neuron: np.ndarray     # global index of the sending neuron (placement order)
    dst: np.ndarray        # destination core
    synapses: np.ndarray   # synaptic operations the message causes there
    spiking: np.ndarray    # global indices of the neurons that spike
    neurons: int           # neurons updated (all of them, every time step)

    def counts(self, mapping: Mapping, schedule: NeuromorphicSchedule) -> dict:
        """Event counts of the step."""
        sx, sy = mapping.position(self.src, schedule)
        dx, dy = mapping.position(self.dst, schedule)
        return {"soma_update": float(self.neurons), "spike_out": float(len(self.spiking)),
                "synaptic_op": float(self.synapses.sum()),
                "message_out": float(len(self.src)), "message_in": float(len(self.src)),
                "hop_east_west": float(np.abs(sx - dx).sum()),
                "hop_north_south": float(np.abs(sy - dy).sum())}


def spikes_from_values(mapping: Mapping, values: dict) -> dict[str, np.ndarray]:
    """Spike masks of every group from one token's engine values (node -> value)."""
    masks = {}
    for name, group in mapping.groups.items():
        if group.kind == "reducer":
            masks[name] = np.ones(1, dtype=bool)
        else:
            masks[name] = np.asarray(VALUE_OF[group.kind](values[name])) != 0
    return masks


def spikes_from_density(mapping: Mapping, density: float, seed: int = 0
                        ) -> dict[str, np.ndarray]:
    """Spike masks when no values travel: activations spike with ``density``, the rest always."""
    rng = np.random.default_rng(seed)
    return {name: (rng.random(g.size) < density) if g.kind == "activation"
            else np.ones(g.size, dtype=bool) for name, g in mapping.groups.items()}


def traffic(mapping: Mapping, masks: dict[str, np.ndarray]) -> Traffic:
    """Messages of a time step in which the neurons of ``masks`` spike."""
    offsets, start = {}, 0
    for name in mapping.order:
        offsets[name] = start
        start += mapping.groups[name].size
    parts = []
    for dname in mapping.order:
        dst = mapping.groups[dname]
        dcores = mapping.core_of[dname]
        for sname, kind in dst.inputs:
            idx = np.flatnonzero(masks[sname])
            if not len(idx):
                continue
            if kind == "ternary":
                cores, per = mapping.ternary_counts[dname]
                syn = per[:, idx]                             # [blocks, spiking]
                b, k = np.nonzero(syn)
                parts.append((idx[k], cores[b], syn[b, k]))
            elif kind == "elementwise":
                parts.append((idx, dcores[idx % dst.size], np.ones(len(idx))))
            elif kind == "reduce":
                parts.append((idx, np.full(len(idx), dcores[0]), np.ones(len(idx))))
            else:
                cores, per = np.unique(dcores, return_counts=True)
                parts.append((np.zeros(len(cores), dtype=np.int64), cores, per))
            src, dcore, syn = parts[-1]
            parts[-1] = (src + offsets[sname], dcore, np.asarray(syn, dtype=np.float64))
    neuron_core = np.concatenate([mapping.core_of[n] for n in mapping.order]).astype(np.int32)
    spiking = np.concatenate([np.flatnonzero(masks[n]) + offsets[n] for n in mapping.order])
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Traffic(empty, empty, empty, np.zeros(0), spiking, len(neuron_core))
    neuron = np.concatenate([p[0] for p in parts])
    dst = np.concatenate([p[1] for p in parts])
    syn = np.concatenate([p[2] for p in parts])
    # one message per (neuron, destination core), in neuron order
    key = neuron * (mapping.cores + 1) + dst
    del neuron, dst
    uniq, inverse = np.unique(key, return_inverse=True)
    del key
    synapses = np.bincount(inverse, weights=syn, minlength=len(uniq))
    neuron = (uniq // (mapping.cores + 1)).astype(np.int32)
    dst = (uniq % (mapping.cores + 1)).astype(np.int32)
    return Traffic(neuron_core[neuron], neuron, dst, synapses, spiking, len(neuron_core))
