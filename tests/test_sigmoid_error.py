"""Accuracy of the hardware sigmoid and SiLU, exhaustively over every representable input.

The RTL equals the golden model bit for bit (tests/test_rtl_units.py), so the
golden model's error is the hardware's.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from cosim.config.schedule import Numerics
from cosim.numerics.fixed import FixedPoint
from cosim.numerics.nonlinear import sigmoid_pwl
from rtl.sigmoid import error_table, max_error, pwl_rom, silu_max_error
from rtl.spec import numerics_of


def numerics(method: str, size: int, **rowwise) -> Numerics:
    key = "lut_entries" if method == "lut" else "segments"
    over = {"sigmoid": {"method": method, key: size}}
    if rowwise:
        over["rowwise"] = rowwise
    return numerics_of({"numerics": over})


@pytest.fixture(scope="module")
def table():
    return {(r["method"], r["size"]): r for r in error_table()}


def test_table_covers_the_closing_configurations(table):
    assert set(table) == {("lut", 64), ("lut", 256), ("lut", 1024),
                          ("pwl", 1), ("pwl", 3), ("pwl", 5), ("pwl", 8)}


@pytest.mark.parametrize("size", [64, 256, 1024])
def test_lut_error_is_half_a_bin_of_the_steepest_slope(table, size):
    """Bins are sampled at their centres: error <= 1/4 * half a bin + rounding."""
    nx = Numerics()
    half_bin = nx.sigmoid.input_range / size
    bound = 0.25 * half_bin + 2.0 ** -(nx.rowwise.frac + 1)
    assert 0.9 * 0.25 * half_bin < table[("lut", size)]["sigmoid"] <= bound


@pytest.mark.parametrize("segments, published", [(1, 0.056), (3, 0.017), (5, 0.008)])
def test_pwl_beats_the_published_ternip_fits(table, segments, published):
    """The minimax fit is at least as good as the 1/3/5-segment fits of sifferman/ternip."""
    assert table[("pwl", segments)]["sigmoid"] < published


def test_errors_fall_with_size(table):
    for method, sizes in (("lut", (64, 256, 1024)), ("pwl", (1, 3, 5, 8))):
        for kind in ("sigmoid", "silu"):
            errs = [table[(method, s)][kind] for s in sizes]
            assert errs == sorted(errs, reverse=True), (method, kind, errs)


def test_silu_error_is_bounded_by_range_times_sigmoid_error(table):
    """silu = x * sigmoid(x): |x| < input_range scales the sigmoid error, plus one rounding."""
    nx = Numerics()
    for row in table.values():
        assert row["silu"] <= nx.sigmoid.input_range * row["sigmoid"] + 2.0 ** -nx.rowwise.frac


def test_max_error_is_exhaustive_on_a_narrow_format():
    """On Q5.6 every input of [-8, 8) is enumerated; compare with a direct loop."""
    nx = numerics("pwl", 3, bits=12, frac=6)
    fx = FixedPoint(nx)
    worst = max(abs(int(fx.sigmoid(np.int64(x))) / 64 - expit(x / 64))
                for x in range(-8 * 64, 8 * 64))
    assert max_error(nx) == pytest.approx(worst, abs=1e-12)
    worst_silu = max(abs(int(fx.silu(np.int64(x))) / 64 - x / 64 * expit(x / 64))
                     for x in range(-8 * 64, 8 * 64))
    assert silu_max_error(nx) == pytest.approx(worst_silu, abs=1e-12)


@pytest.mark.parametrize("segments", [1, 3, 5, 8])
def test_pwl_rom_saturates_to_one_beyond_the_last_break(segments):
    """The extra ROM entry (slope 0, intercept 1) reproduces the golden 1.0 region."""
    nx = numerics("pwl", segments)
    fx = FixedPoint(nx)
    breaks, slopes, icepts = pwl_rom(nx)
    assert breaks == sigmoid_pwl(segments, 8, 16).breaks
    assert (slopes[-1], icepts[-1]) == (0, fx.one)
    x = np.array([breaks[-1], breaks[-1] + 1, fx.hi, -breaks[-1], fx.lo])
    assert list(fx.sigmoid(x)) == [fx.one, fx.one, fx.one, 0, 0]
