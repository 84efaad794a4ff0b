"""Tables the hardware stores for its non-linear functions.

The sigmoid LUT, the piecewise-linear sigmoid's breakpoints, slopes and
intercepts, and the rsqrt seed table are computed here once per numeric format
and shared by the golden model and the RTL generators, so both use the same
constants bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

#: fractional bits of PWL slopes (slopes are below 0.25, so 16 bits keep ~14 significant).
SLOPE_FRAC = 16


@dataclass(frozen=True)
class SigmoidLUT:
    """sigmoid over [-range, range) in ``len(table)`` bins, sampled at bin centres."""

    table: tuple[int, ...]
    shift: int          # index = (x + range << frac) >> shift
    offset: int         # range << frac


@dataclass(frozen=True)
class SigmoidPWL:
    """sigmoid(|x|) by segment k: (slope[k] * |x| >> SLOPE_FRAC) + intercept[k].

    ``breaks[k]`` is where segment k+1 starts; at or beyond ``breaks[-1]`` the
    output is 1.0. Negative inputs use sigmoid(-x) = 1 - sigmoid(x).
    """

    breaks: tuple[int, ...]
    slopes: tuple[int, ...]
    intercepts: tuple[int, ...]


@lru_cache(maxsize=None)
def sigmoid_lut(entries: int, input_range: int, frac: int) -> SigmoidLUT:
    """A LUT of ``entries`` values of sigmoid, in the row-wise format."""
    span_bits = int(np.log2(2 * input_range)) + frac
    shift = span_bits - int(np.log2(entries))
    if shift < 0:
        raise ValueError(f"{entries} LUT entries exceed the {2 ** span_bits} "
                         f"representable inputs of [-{input_range}, {input_range})")
    width = 2.0 * input_range / entries
    centres = -input_range + (np.arange(entries) + 0.5) * width
    table = np.floor(expit(centres) * (1 << frac) + 0.5).astype(np.int64)
    return SigmoidLUT(tuple(int(v) for v in table), shift, input_range << frac)


def _minimax_pieces(breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Best line per segment of the concave sigmoid on [0, inf): chord + half sag."""
    edges = np.concatenate([[0.0], np.sort(np.abs(breaks))])
    slopes, intercepts, err = [], [], 1.0 - expit(edges[-1])
    for lo, hi in zip(edges[:-1], edges[1:]):
        hi = max(hi, lo + 1e-6)
        slope = (expit(hi) - expit(lo)) / (hi - lo)
        # tangent point where sigmoid' = slope: s(1-s) = slope
        s = 0.5 + np.sqrt(max(0.25 - slope, 0.0))
        t = np.clip(np.log(s / (1 - s)), lo, hi)
        sag = expit(t) - (expit(lo) + slope * (t - lo))
        slopes.append(slope)
        intercepts.append(expit(lo) - slope * lo + sag / 2)
        err = max(err, sag / 2)
    return np.array(slopes), np.array(intercepts), err


@lru_cache(maxsize=None)
def sigmoid_pwl(segments: int, input_range: int, frac: int) -> SigmoidPWL:
    """A minimax piecewise-linear sigmoid of ``segments`` pieces on [0, range).

    Breakpoints are optimised (Nelder-Mead, deterministic start) for the worst
    error, then every constant is rounded to the hardware's formats.
    """
    start = np.linspace(0, input_range * 0.75, segments + 1)[1:]
    result = minimize(lambda b: _minimax_pieces(np.clip(b, 0, input_range))[2],
                      start, method="Nelder-Mead",
                      options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000})
    breaks = np.sort(np.clip(result.x, 0, input_range))
    slopes, intercepts, _ = _minimax_pieces(breaks)
    one = 1 << frac
    return SigmoidPWL(
        breaks=tuple(int(v) for v in np.floor(breaks * one + 0.5)),
        slopes=tuple(int(v) for v in np.floor(slopes * (1 << SLOPE_FRAC) + 0.5)),
        intercepts=tuple(int(v) for v in np.floor(intercepts * one + 0.5)))


@lru_cache(maxsize=None)
def rsqrt_seeds(lut_bits: int, frac: int) -> tuple[int, ...]:
    """Seed table of 1/sqrt(m) for a mantissa m in [1, 4), indexed by its top bits.

    Index k covers m in [k, k+1) * 2**(2 - lut_bits); entries below 2**(lut_bits-2)
    are never addressed (m >= 1) and hold 0.
    """
    k = np.arange(1 << lut_bits)
    mid = (k + 0.5) * 2.0 ** (2 - lut_bits)
    seeds = np.where(k >= 1 << (lut_bits - 2),
                     np.floor((1 << frac) / np.sqrt(mid) + 0.5), 0)
    return tuple(int(v) for v in seeds)
