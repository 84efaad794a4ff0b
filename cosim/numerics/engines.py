"""Numeric engines: the float reference and the fixed-point golden model.

Both execute the dataflow graph node by node in its order; an engine supplies
one function per operation kind and nothing else, so the computation is the
graph's by construction. The recurrent state of each MLGRU persists across
``step`` calls until ``reset``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import networkx as nx
import numpy as np
from scipy.special import expit

from cosim.config.model import ModelConfig
from cosim.config.schedule import Numerics
from cosim.errors import CosimError
from cosim.graph import ordered
from cosim.numerics.fixed import FixedPoint
from cosim.weights import PreparedWeights

Observer = Callable[[str, dict, Any], None]


class Engine:
    """Walks the graph for one token at a time; subclasses define the operations."""

    def __init__(self, graph: nx.DiGraph, cfg: ModelConfig, weights: PreparedWeights):
        self.graph = graph
        self.cfg = cfg
        self.weights = weights
        self.order = [(name, graph.nodes[name]) for name in ordered(graph)]
        self.ops: dict[str, Callable] = {kind[3:]: getattr(self, kind)
                                         for kind in dir(self) if kind.startswith("op_")}
        self.state: dict[str, Any] = {}
        self.token = 0

    def reset(self) -> None:
        """Forget the recurrent state (start a new sequence)."""
        self.state.clear()

    def step(self, token: int, observe: Observer | None = None) -> np.ndarray:
        """Logits (float64, real units) after feeding one token."""
        if not 0 <= token < self.cfg.vocab_size:
            raise CosimError(f"token {token} is outside the vocabulary [0, "
                             f"{self.cfg.vocab_size})")
        self.token = token
        values: dict[str, Any] = {}
        for name, node in self.order:
            value = self.ops[node["kind"]](node, *(values[i] for i in node["inputs"]))
            values[name] = value
            if observe is not None:
                observe(name, node, value)
        return self.real(value)

    def run(self, tokens: Iterable[int], observe: Observer | None = None) -> np.ndarray:
        """Logits [len(tokens), vocab] of a sequence, state carried from position to position."""
        return np.stack([self.step(t, observe) for t in tokens])

    def generate(self, prompt: list[int], count: int) -> list[int]:
        """Greedy decoding: feed ``prompt``, then ``count`` argmax tokens."""
        logits = self.run(prompt)[-1]
        out = []
        for _ in range(count):
            out.append(int(np.argmax(logits)))
            logits = self.step(out[-1])
        return out

    def real(self, value: Any) -> np.ndarray:
        """An engine value in real units (float64)."""
        return np.asarray(value, dtype=np.float64)

    def op_split(self, node: dict, x):
        half = node["size"]
        return x[node["part"] * half:(node["part"] + 1) * half]

    def op_matvec(self, node: dict, quantized):
        return self.weights.ternary[node["param"]].matrix @ quantized[0].astype(np.float32)


class FloatEngine(Engine):
    """The model as the released code computes it, in float64 (mat-vec exact in float32).

    Its activation quantiser is the model's own int8 one whatever the schedule
    says, so fidelity measures what a narrower datapath costs.
    """

    qmax = 127

    def __init__(self, graph: nx.DiGraph, cfg: ModelConfig, weights: PreparedWeights):
        super().__init__(graph, cfg, weights)
        self.lb = weights.lower_bounds()

    def vector(self, node: dict) -> np.ndarray:
        return self.weights.vectors[node["param"]].astype(np.float64)

    def op_embed(self, node):
        return self.weights.vectors[node["param"]][self.token].astype(np.float64)

    def op_constant(self, node):
        return self.lb

    def op_rmsnorm(self, node, x):
        return x / np.sqrt(np.mean(x * x) + self.cfg.rms_norm_eps) * self.vector(node)

    def op_quantize(self, node, y):
        scale = self.qmax / max(float(np.max(np.abs(y))), 1e-5)
        return np.clip(np.round(y * scale), -self.qmax - 1, self.qmax), scale

    def op_dequantize(self, node, acc, quantized):
        mean_abs = self.weights.ternary[node["param"]].mean_abs
        return acc.astype(np.float64) * mean_abs / quantized[1]

    def op_sigmoid(self, node, x):
        return expit(x)

    def op_silu(self, node, x):
        return x * expit(x)

    def op_one_minus(self, node, x):
        return 1.0 - x

    def op_add(self, node, a, b):
        return a + b

    def op_mul(self, node, a, b):
        return a * b

    def op_lower_bound(self, node, lb, f):
        bound = lb[node["layer"]]
        return bound + (1.0 - bound) * f

    def op_recurrence(self, node, f, x):
        h = self.state.get(node["layer"], 0.0)
        if self.cfg.variant == "paper":
            x = (1.0 - f) * x
        self.state[node["layer"]] = h = f * h + x
        return h


class FixedEngine(Engine):
    """The hardware's integer datapath: :class:`FixedPoint` operations on the graph."""

    def __init__(self, graph: nx.DiGraph, cfg: ModelConfig, weights: PreparedWeights,
                 numerics: Numerics):
        super().__init__(graph, cfg, weights)
        self.fx = FixedPoint(numerics)
        self.vectors = {name: self.fx.to_fixed(v, "weights")
                        for name, v in weights.vectors.items()
                        if name not in ("model.embeddings.weight", "model.lower_bounds")}
        self.scales = {name: self.fx.weight_scale(t.mean_abs)
                       for name, t in weights.ternary.items()}
        self.lb = self.fx.to_fixed(weights.lower_bounds(), "weights")
        self.embeddings = weights.vectors["model.embeddings.weight"]

    @property
    def overflow_count(self) -> int:
        """Saturated elements so far, over all operations."""
        return sum(self.fx.overflows.values())

    def real(self, value):
        return self.fx.to_real(value)

    def op_embed(self, node):
        return self.fx.to_fixed(self.embeddings[self.token], "embed")

    def op_constant(self, node):
        return self.lb

    def op_rmsnorm(self, node, x):
        return self.fx.rmsnorm(x, self.vectors[node["param"]], self.cfg.rms_norm_eps)

    def op_quantize(self, node, y):
        return self.fx.quantize(y)

    def op_matvec(self, node, quantized):
        return self.fx.matvec(quantized[0], self.weights.ternary[node["param"]].matrix)

    def op_dequantize(self, node, acc, quantized):
        return self.fx.dequantize(acc, quantized[1], self.scales[node["param"]])

    def op_sigmoid(self, node, x):
        return self.fx.sigmoid(x)

    def op_silu(self, node, x):
        return self.fx.silu(x)

    def op_one_minus(self, node, x):
        return self.fx.one_minus(x)

    def op_add(self, node, a, b):
        return self.fx.add(a, b)

    def op_mul(self, node, a, b):
        return self.fx.mul(a, b)

    def op_lower_bound(self, node, lb, f):
        return self.fx.lower_bound(f, lb[node["layer"]])

    def op_recurrence(self, node, f, x):
        h = self.state.get(node["layer"], np.zeros_like(x))
        self.state[node["layer"]] = h = self.fx.recurrence(f, x, h, self.cfg.variant)
        return h


ENGINES = {"float": FloatEngine, "fixed": FixedEngine}
