"""The dataflow graph of one token through the model: the single description of the work.

Nodes are operations in execution order (attribute ``order``); edges are
tensors. The numeric engines execute this graph node by node and the system
simulator schedules it, so what is counted, computed and timed cannot drift
apart. Node attributes:

- ``kind``: the operation (see ``KINDS``); ``layer``: block index or -1;
- ``inputs``: producer node names in argument order (edges carry the same);
- ``param``: the checkpoint tensor it reads, if any; ``params``: its size;
- ``weight_bytes``: bytes of parameters read per token (2 bits per ternary
  weight, 16 bits per full-precision value, one embedding row);
- ``shape``: (rows, cols) of a mat-vec, else (elements,);
- ``ternary_adds`` and ``rowwise_ops``: elementary operations per token.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import networkx as nx

from cosim.config.model import ModelConfig
from cosim.config.schedule import Numerics
from cosim.errors import CosimError

#: elementary row-wise operations per output element, by kind
ROWWISE_OPS = {
    "embed": 0, "split": 0, "constant": 0,
    "rmsnorm": 4,       # square, accumulate, scale by rsqrt, scale by weight
    "quantize": 2,      # absmax compare, scale
    "dequantize": 1,    # scale
    "sigmoid": 1, "one_minus": 1, "add": 1, "mul": 1,
    "silu": 2,          # sigmoid, multiply
    "lower_bound": 2,   # multiply by (1 - lb), add lb
    "recurrence": 2,    # released: f*h + x; the paper form adds (1 - f) * x
    "matvec": 0,
}
KINDS = tuple(ROWWISE_OPS)
FULL_PRECISION_BITS = 16


class GraphBuilder:
    """Appends operations in execution order with their costs."""

    def __init__(self, cfg: ModelConfig, numerics: Numerics):
        self.cfg = cfg
        self.numerics = numerics
        self.graph = nx.DiGraph(model=cfg.name, variant=cfg.variant)

    def op(self, name: str, kind: str, inputs: tuple[str, ...], size: int, *,
           layer: int = -1, param: str | None = None, params: int = 0,
           shape: tuple[int, ...] | None = None, **attrs) -> str:
        """Add node ``name``; its output has ``size`` elements."""
        ops = ROWWISE_OPS[kind] * size
        if kind == "recurrence" and self.cfg.variant == "paper":
            ops = 4 * size
        self.graph.add_node(name, kind=kind, layer=layer, inputs=inputs, size=size,
                            param=param, params=params, shape=shape or (size,),
                            weight_bytes=0, ternary_adds=0, rowwise_ops=ops,
                            order=self.graph.number_of_nodes(), **attrs)
        for src in inputs:
            self.graph.add_edge(src, name, elements=self.graph.nodes[src]["size"],
                                bits=self.graph.nodes[src]["bits"] * self.graph.nodes[src]["size"])
        self.graph.nodes[name]["bits"] = self._bits(kind)
        if params:
            self.graph.nodes[name]["weight_bytes"] = params * FULL_PRECISION_BITS // 8
        return name

    def _bits(self, kind: str) -> int:
        if kind == "quantize":
            return self.numerics.activation_bits
        if kind == "matvec":
            return self.numerics.accumulator_bits
        return self.numerics.rowwise.bits

    def bitlinear(self, prefix: str, x: str, rows: int, cols: int, layer: int) -> str:
        """RMSNorm -> quantise -> ternary mat-vec -> dequantise, for tensor ``prefix``."""
        norm = self.op(f"{prefix}.norm", "rmsnorm", (x,), cols, layer=layer,
                       param=f"{prefix}.norm.weight", params=cols)
        quant = self.op(f"{prefix}.quantize", "quantize", (norm,), cols, layer=layer)
        mv = self.op(f"{prefix}.matvec", "matvec", (quant,), rows, layer=layer,
                     param=f"{prefix}.weight", params=rows * cols, shape=(rows, cols))
        node = self.graph.nodes[mv]
        node["weight_bytes"] = rows * cols * 2 // 8
        node["ternary_adds"] = rows * cols
        return self.op(f"{prefix}.dequantize", "dequantize", (mv, quant), rows,
                       layer=layer, param=f"{prefix}.weight")

    def token_mixer(self, x: str, layer: int) -> str:
        """The MLGRU of ``cfg.variant`` on input x; returns its output o."""
        h, p = self.cfg.hidden_size, f"model.layers.{layer}.attn"
        f = self.bitlinear(f"{p}.f_proj", x, h, h, layer)
        f = self.op(f"{p}.f", "sigmoid", (f,), h, layer=layer)
        i = self.bitlinear(f"{p}.i_proj", x, h, h, layer)
        i = self.op(f"{p}.i", "silu", (i,), h, layer=layer)
        g = self.bitlinear(f"{p}.g_proj", x, h, h, layer)
        if self.cfg.variant == "paper":
            hidden = self.op(f"{p}.h", "recurrence", (f, i), h, layer=layer)
            g = self.op(f"{p}.g", "sigmoid", (g,), h, layer=layer)
            gated = self.op(f"{p}.gated", "mul", (g, hidden), h, layer=layer)
        else:
            if self.cfg.use_lower_bound and layer > 0:
                f = self.op(f"{p}.f_bounded", "lower_bound", ("model.lower_bounds", f), h,
                            layer=layer)
            keep = self.op(f"{p}.one_minus_f", "one_minus", (f,), h, layer=layer)
            i = self.op(f"{p}.i_gated", "mul", (i, keep), h, layer=layer)
            hidden = self.op(f"{p}.h", "recurrence", (f, i), h, layer=layer)
            g = self.op(f"{p}.g_norm", "rmsnorm", (g,), h, layer=layer,
                        param=f"{p}.g_norm.weight", params=h)
            act = self.op(f"{p}.h_act", "silu", (hidden,), h, layer=layer)
            gated = self.op(f"{p}.gated", "mul", (g, act), h, layer=layer)
        return self.bitlinear(f"{p}.o_proj", gated, h, h, layer)

    def channel_mixer(self, x: str, layer: int) -> str:
        """The GLU: SiLU(gate) * up, then down_proj."""
        h, i, p = self.cfg.hidden_size, self.cfg.intermediate, f"model.layers.{layer}.mlp"
        gu = self.bitlinear(f"{p}.gate_proj", x, 2 * i, h, layer)
        gate = self.op(f"{p}.gate", "split", (gu,), i, layer=layer, part=0)
        up = self.op(f"{p}.up", "split", (gu,), i, layer=layer, part=1)
        gate = self.op(f"{p}.gate_act", "silu", (gate,), i, layer=layer)
        prod = self.op(f"{p}.glu", "mul", (gate, up), i, layer=layer)
        return self.bitlinear(f"{p}.down_proj", prod, h, i, layer)


def build_graph(cfg: ModelConfig, numerics: Numerics | None = None) -> nx.DiGraph:
    """The dataflow graph of one decoded token of model ``cfg``."""
    b = GraphBuilder(cfg, numerics or Numerics())
    h, n = cfg.hidden_size, cfg.num_hidden_layers
    x = b.op("model.embeddings", "embed", (), h, param="model.embeddings.weight",
             params=cfg.vocab_size * h)
    b.graph.nodes[x]["weight_bytes"] = h * FULL_PRECISION_BITS // 8
    # lb = cumsum(softmax(lower_bounds)): a constant of the weights, folded once
    b.op("model.lower_bounds", "constant", (), n * h, param="model.lower_bounds",
         params=n * h)
    b.graph.nodes["model.lower_bounds"]["weight_bytes"] = 0
    for layer in range(n):
        p = f"model.layers.{layer}"
        normed = b.op(f"{p}.attn_norm", "rmsnorm", (x,), h, layer=layer,
                      param=f"{p}.attn_norm.weight", params=h)
        mixed = b.token_mixer(normed, layer)
        x = b.op(f"{p}.attn_residual", "add", (x, mixed), h, layer=layer)
        normed = b.op(f"{p}.mlp_norm", "rmsnorm", (x,), h, layer=layer,
                      param=f"{p}.mlp_norm.weight", params=h)
        mixed = b.channel_mixer(normed, layer)
        x = b.op(f"{p}.mlp_residual", "add", (x, mixed), h, layer=layer)
    x = b.op("model.norm", "rmsnorm", (x,), h, param="model.norm.weight", params=h)
    b.bitlinear("lm_head", x, cfg.vocab_size, h, -1)
    if cfg.variant == "paper" or not cfg.use_lower_bound:
        b.graph.nodes["model.lower_bounds"]["unused"] = True
    return b.graph


def ordered(graph: nx.DiGraph) -> list[str]:
    """Node names in execution order."""
    return sorted(graph.nodes, key=lambda n: graph.nodes[n]["order"])


def totals(graph: nx.DiGraph) -> dict:
    """Parameters, bytes per token and operation counts of a graph."""
    ops: Counter[str] = Counter()
    for _, d in graph.nodes(data=True):
        ops[d["kind"]] += d["ternary_adds"] + d["rowwise_ops"]
    nodes = graph.nodes.values()
    return {
        "parameters": sum(d["params"] for d in nodes),
        "weight_bytes_per_token": sum(d["weight_bytes"] for d in nodes),
        "ternary_adds_per_token": sum(d["ternary_adds"] for d in nodes),
        "rowwise_ops_per_token": sum(d["rowwise_ops"] for d in nodes),
        "ops_per_token": {k: v for k, v in sorted(ops.items()) if v},
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
    }


def export(graph: nx.DiGraph, path: Path) -> None:
    """Write GraphML (``.graphml``) or Graphviz DOT (``.dot``/``.gv``)."""
    flat = nx.DiGraph(**{k: str(v) for k, v in graph.graph.items()})
    for name, data in graph.nodes(data=True):
        flat.add_node(name, **{k: (v if isinstance(v, (int, float, str)) else str(v))
                               for k, v in data.items() if v is not None})
    for u, v, data in graph.edges(data=True):
        flat.add_edge(u, v, **data)
    suffix = Path(path).suffix
    if suffix == ".graphml":
        nx.write_graphml(flat, path)
    elif suffix in (".dot", ".gv"):
        Path(path).write_text(_dot(flat), encoding="utf-8")
    else:
        raise CosimError(f"--graph needs a .graphml, .dot or .gv path, not {path}")


def _dot(graph: nx.DiGraph) -> str:
    """Graphviz DOT text without needing pydot or pygraphviz."""
    lines = ["digraph model {", "  rankdir=TB; node [shape=box, fontsize=10];"]
    for name, d in graph.nodes(data=True):
        lines.append(f'  "{name}" [label="{name}\\n{d["kind"]} {d["shape"]}"];')
    for u, v, d in graph.edges(data=True):
        lines.append(f'  "{u}" -> "{v}" [label="{d["elements"]}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
