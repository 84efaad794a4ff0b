"""The model's dataflow graph as a network of neuron groups joined by synapses.

Groups come from the graph's nodes:

- ``embed``: the embedding vector the host writes in, one neuron per element;
- ``activation`` (a BitLinear's quantiser): one neuron per input element; it
  sends its int8 value as a graded spike, and a zero sends nothing;
- ``accumulator`` (a BitLinear's ternary mat-vec): one neuron per output row,
  whose synapses are the row's nonzero ternary weights (zeros are not stored);
- ``residual``: the residual stream after each mixer, one neuron per element;
- ``reducer`` (an RMSNorm): one neuron that gathers the sum of squares (and the
  absmax the quantiser needs) of its vector and broadcasts the scale back.

Element-wise work between groups (dequantise, sigmoid, SiLU, the lower bound,
the MLGRU recurrence, the GLU product) runs as the soma program of the group
that consumes it, so it costs soma updates, not messages. Connections:
``ternary`` (activation to accumulator, the weights), ``elementwise`` (element
k to neuron k mod n of the next group: the GLU's gate and up rows meet at one
neuron), ``reduce`` (all to a reducer) and ``broadcast`` (a reducer to all).
A group's ``stage`` is its time step in the layer pipeline: one more than the
latest group it hears from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from cosim.graph import ordered

#: graph node kinds that become neuron groups, and the group kind
GROUP_KINDS = {"embed": "embed", "quantize": "activation", "matvec": "accumulator",
               "add": "residual", "rmsnorm": "reducer"}


@dataclass
class Group:
    """Neurons standing for one graph node's output."""

    name: str
    kind: str
    size: int
    layer: int
    param: str | None = None
    stage: int = 0
    inputs: list[tuple[str, str]] = field(default_factory=list)   # (source group, connection)
    soma_ops: int = 0            # row-wise ops per token run as this group's soma programs


def connection_kind(src: Group, dst: Group) -> str:
    """How ``src`` reaches ``dst`` (see the module docstring)."""
    if dst.kind == "reducer":
        return "reduce"
    if src.kind == "reducer":
        return "broadcast"
    if dst.kind == "accumulator":
        return "ternary"
    return "elementwise"


def build_network(graph: nx.DiGraph) -> dict[str, Group]:
    """Groups in graph order, each with its inputs and pipeline stage."""
    groups: dict[str, Group] = {}
    for name in ordered(graph):
        node = graph.nodes[name]
        kind = GROUP_KINDS.get(node["kind"])
        if kind is None:
            continue
        size = 1 if kind == "reducer" else node["size"]
        groups[name] = Group(name, kind, size, node["layer"],
                             node["param"] if kind == "accumulator" else None)
    for name, group in groups.items():
        sources: dict[str, None] = {}
        ops = _walk_back(graph, groups, name, sources, set())
        group.soma_ops = 0 if group.kind == "reducer" else ops
        group.inputs = [(src, connection_kind(groups[src], group)) for src in sources]
        group.stage = 1 + max((groups[s].stage for s in sources), default=-1)
    return groups


def _walk_back(graph: nx.DiGraph, groups: dict[str, Group], name: str,
               sources: dict[str, None], seen: set) -> int:
    """Collect the groups ``name`` hears from; return the row-wise ops passed on the way.

    Non-group nodes are element-wise work and are walked through (a
    dequantisation only to its accumulator: its scale is the quantiser's,
    known where it runs); an RMSNorm
    is a reducer group and is also walked through, because its vector reaches
    the consumer element by element while its scale comes from the reducer.
    """
    ops = 0
    node = graph.nodes[name]
    inputs = node["inputs"][:1] if node["kind"] == "dequantize" else node["inputs"]
    for src in inputs:
        if src in seen or graph.nodes[src]["kind"] == "constant":
            continue
        seen.add(src)
        if src in groups:
            sources[src] = None
            if groups[src].kind != "reducer":
                continue
        else:
            ops += graph.nodes[src]["rowwise_ops"]
        ops += _walk_back(graph, groups, src, sources, seen)
    return ops


def pipeline_depth(groups: dict[str, Group]) -> int:
    """Time steps one token needs from the embedding to the logits."""
    return 1 + max(g.stage for g in groups.values())
