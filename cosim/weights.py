"""Model weights: the released tensor layout, seeded random weights, ternarisation.

Both numeric engines consume :class:`PreparedWeights`, built once from any
weight source (a checkpoint folder or :class:`RandomWeights`), so the ternary
matrices and scales they use are the same objects.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cosim.budget import check_memory
from cosim.config.model import ModelConfig

PROJECTIONS = ("i_proj", "f_proj", "g_proj", "o_proj")


def expected_tensors(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor of a released ``hgrn_bit`` checkpoint and its shape."""
    h, i, v, n = cfg.hidden_size, cfg.intermediate, cfg.vocab_size, cfg.num_hidden_layers
    shapes: dict[str, tuple[int, ...]] = {
        "model.embeddings.weight": (v, h),
        "model.lower_bounds": (n, h),
        "model.norm.weight": (h,),
        "lm_head.weight": (v, h),
        "lm_head.norm.weight": (h,),
    }
    for layer in range(n):
        p = f"model.layers.{layer}"
        shapes[f"{p}.attn_norm.weight"] = (h,)
        shapes[f"{p}.mlp_norm.weight"] = (h,)
        shapes[f"{p}.attn.g_norm.weight"] = (h,)
        for proj in PROJECTIONS:
            shapes[f"{p}.attn.{proj}.weight"] = (h, h)
            shapes[f"{p}.attn.{proj}.norm.weight"] = (h,)
        shapes[f"{p}.mlp.gate_proj.weight"] = (2 * i, h)
        shapes[f"{p}.mlp.gate_proj.norm.weight"] = (h,)
        shapes[f"{p}.mlp.down_proj.weight"] = (h, i)
        shapes[f"{p}.mlp.down_proj.norm.weight"] = (i,)
    return shapes


def is_ternary(name: str) -> bool:
    """Whether a tensor is a projection matrix that BitLinear ternarises."""
    return name == "lm_head.weight" or (
        name.endswith("_proj.weight") and ".norm." not in name)


class WeightSource(Protocol):
    """Anything that yields a model's tensors by released name, as float32."""

    def tensor(self, name: str) -> np.ndarray: ...


class RandomWeights:
    """Seeded random weights of the released layout, reproducible per tensor.

    Each tensor has its own generator seeded by (seed, crc32(name)), so a
    tensor's values do not depend on which others were drawn first. Matrices
    are N(0, init_std) as the released code initialises them; embeddings are
    N(0, 1); norm weights are 1 + N(0, 0.1) and lower bounds N(0, 1), not the
    trivial ones and zeros, so that a test can tell whether a norm or a gate
    was applied.
    """

    def __init__(self, cfg: ModelConfig):
        self.cfg = cfg
        self.shapes = expected_tensors(cfg)

    def tensor(self, name: str) -> np.ndarray:
        shape = self.shapes[name]
        rng = np.random.default_rng([self.cfg.seed, zlib.crc32(name.encode())])
        draw = rng.standard_normal(shape, dtype=np.float32)
        if name.endswith("norm.weight"):
            return 1 + np.float32(0.1) * draw
        if name in ("model.embeddings.weight", "model.lower_bounds"):
            return draw
        return np.float32(self.cfg.init_std) * draw


@dataclass(frozen=True)
class Ternary:
    """A ternarised matrix: values in {-1, 0, +1} and its scale s_w.

    ``matrix`` is float32 so the mat-vec runs in BLAS; integer accumulations of
    small integers are exact there while |sum| < 2**24 (checked by callers).
    """

    matrix: np.ndarray
    mean_abs: float

    @property
    def nonzero_fraction(self) -> float:
        return float(np.count_nonzero(self.matrix)) / self.matrix.size


def ternarize(weight: np.ndarray) -> Ternary:
    """BitLinear's weight quantiser: s_w = 1/max(mean|W|, 1e-5), round, clamp to +-1."""
    mean_abs = max(float(np.mean(np.abs(weight), dtype=np.float64)), 1e-5)
    matrix = np.clip(np.round(weight / np.float32(mean_abs)), -1, 1).astype(np.float32)
    return Ternary(matrix, mean_abs)


#: Bytes of float32 temporaries while the largest tensor is drawn or read and
#: ternarised (the value, its scaled copy, the rounded and clipped results).
TRANSIENT_COPIES = 5


def prepared_bytes(cfg: ModelConfig) -> int:
    """Memory PreparedWeights and the engines need for ``cfg``, estimated before any is taken.

    float32 for every weight, int64 fixed-point copies of the vectors, and the
    temporaries of the largest tensor.
    """
    sizes = [math.prod(shape) for shape in expected_tensors(cfg).values()]
    vectors = sum(n for name, n in zip(expected_tensors(cfg), sizes) if not is_ternary(name))
    return 4 * sum(sizes) + 8 * vectors + 4 * TRANSIENT_COPIES * max(sizes)


class PreparedWeights:
    """Ternarised projections and full-precision vectors, shared by all engines.

    Refuses, before allocating, a model whose weights the machine cannot hold.
    """

    def __init__(self, cfg: ModelConfig, source: WeightSource):
        check_memory(prepared_bytes(cfg), f"the weights of {cfg.name} ("
                     f"{sum(math.prod(s) for s in expected_tensors(cfg).values()):,} "
                     "parameters)",
                     "use --numerics off (timing only, no weights) or a smaller model")
        self.cfg = cfg
        self.ternary: dict[str, Ternary] = {}
        self.vectors: dict[str, np.ndarray] = {}
        for name in expected_tensors(cfg):
            value = source.tensor(name)
            if is_ternary(name):
                self.ternary[name] = ternarize(value)
            else:
                self.vectors[name] = np.asarray(value, dtype=np.float32)

    def lower_bounds(self) -> np.ndarray:
        """lb[l] = cumsum(softmax(lower_bounds, 0))[l] - softmax(lower_bounds)[0]."""
        raw = self.vectors["model.lower_bounds"].astype(np.float64)
        soft = np.exp(raw - raw.max(axis=0))
        soft /= soft.sum(axis=0)
        return np.cumsum(soft, axis=0) - soft[0]
