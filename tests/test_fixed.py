"""The fixed-point golden operations: vector tables, bounds against float, saturation."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.special import expit

from cosim.config.schedule import FixedFormat, Numerics, RsqrtImpl, SigmoidImpl
from cosim.numerics.fixed import FixedPoint, round_shift

FX = FixedPoint(Numerics())
ONE = FX.one


@pytest.mark.parametrize("x, shift, expected", [
    (5, 1, 3), (4, 1, 2), (-5, 1, -2), (-6, 1, -3), (7, 0, 7), (3, -2, 12), (1, 1, 1),
])
def test_round_shift_is_round_half_up(x, shift, expected):
    assert round_shift(x, shift) == expected
    assert round_shift(np.array([x]), shift)[0] == expected


@pytest.mark.parametrize("op, a, b, expected", [
    ("add", 3 * ONE, 2 * ONE, 5 * ONE),
    ("add", FX.hi, 1, FX.hi),                 # saturates high
    ("add", FX.lo, -1, FX.lo),                # saturates low
    ("mul", 3 * ONE, ONE // 2, 3 * ONE // 2),
    ("mul", -ONE, ONE, -ONE),
    ("mul", FX.hi, FX.hi, FX.hi),             # saturates
    ("mul", 1, 1, 0),                         # 2^-32 rounds to 0
    ("mul", 1 << 8, 1 << 7, 1),               # 2^-1 LSB rounds half up
])
def test_rowwise_vectors(op, a, b, expected):
    assert int(getattr(FixedPoint(Numerics()), op)(np.array([a]), np.array([b]))[0]) == expected


def test_saturation_is_counted_by_operation():
    fx = FixedPoint(Numerics())
    fx.add(np.array([fx.hi, fx.hi, 0]), np.array([1, 5, 1]))
    fx.mul(np.array([fx.lo]), np.array([fx.hi]))
    assert fx.overflows == {"add": 2, "mul": 1}


@pytest.mark.parametrize("impl, bound", [
    (SigmoidImpl(method="pwl", segments=1), 0.05),
    (SigmoidImpl(method="pwl", segments=3), 0.009),
    (SigmoidImpl(method="pwl", segments=5), 0.005),
    (SigmoidImpl(method="lut", lut_entries=256), 0.0085),
    (SigmoidImpl(method="lut", lut_entries=4096), 0.0011),  # Q.10 output LSB
])
def test_sigmoid_error_bounded_over_every_input(impl, bound):
    fx = FixedPoint(Numerics(rowwise=FixedFormat(16, 10), sigmoid=impl))
    x = np.arange(fx.lo, fx.hi + 1)
    y = fx.sigmoid(x)
    assert np.max(np.abs(fx.to_real(y) - expit(fx.to_real(x)))) < bound
    assert y.min() >= 0 and y.max() <= fx.one


@pytest.mark.parametrize("rsqrt, tolerance", [
    (RsqrtImpl(lut_bits=6, newton_steps=0), 2e-2),
    (RsqrtImpl(lut_bits=6, newton_steps=1), 1e-3),
    (RsqrtImpl(lut_bits=8, newton_steps=2, frac=20), 1e-5),
])
def test_rsqrt_relative_error(rsqrt, tolerance):
    fx = FixedPoint(Numerics(rsqrt=rsqrt))
    for v in [1, 2, 3, 1000, 2 ** 20, 2 ** 32 - 1, 2 ** 32, 3 * 2 ** 31 + 7, 2 ** 44]:
        exact = 2.0 ** (fx.frac + rsqrt.frac) / np.sqrt(v)
        assert abs(fx.rsqrt(v) - exact) <= tolerance * exact + 1


@given(st.lists(st.floats(-100, 100), min_size=1, max_size=300))
@example([63.319420194393665, 76.22321687529433])  # 105.5002 rounds to 105: CI found it
def test_quantize_matches_the_float_quantiser(values):
    """Integer absmax quantisation is round(y * 127 / max|y|) to within the floored reciprocal.

    recip = floor(127 * 2**K / m) is low by less than one, so y * recip / 2**K is low by
    less than |y| / 2**K <= m / 2**K (under 2**-activation_bits, as K = bits + activation_bits):
    a value that far above a half rounds the other way.
    """
    fx = FixedPoint(Numerics())
    y = fx.to_fixed(np.array(values))
    q, m = fx.quantize(y)
    exact = fx.to_real(y) * 127 / fx.to_real(m)
    assert np.all(np.abs(q - exact) <= 0.5 + m / 2 ** fx.recip_frac + 1e-9)
    assert q.min() >= -128 and q.max() <= 127


def test_matvec_is_exact_and_saturates():
    fx = FixedPoint(Numerics(accumulator_bits=10))
    rng = np.random.default_rng(0)
    w = rng.integers(-1, 2, (6, 40)).astype(np.float32)
    q = rng.integers(-128, 128, 40)
    w[0] = 1
    q_sat = np.full(40, 127)
    exact = (w.astype(np.int64) @ q_sat)
    acc = fx.matvec(q_sat, w)
    assert acc[0] == 511 and fx.overflows["matvec"] >= 1
    assert np.array_equal(np.clip(exact, -512, 511), acc)
    assert np.array_equal(FixedPoint(Numerics()).matvec(q, w), w.astype(np.int64) @ q)


def test_rmsnorm_close_to_float():
    fx = FixedPoint(Numerics())
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(256) * 3, 1 + 0.1 * rng.standard_normal(256)
    y = fx.rmsnorm(fx.to_fixed(x), fx.to_fixed(w), 1e-6)
    xr, wr = fx.to_real(fx.to_fixed(x)), fx.to_real(fx.to_fixed(w))
    ref = xr / np.sqrt(np.mean(xr * xr) + 1e-6) * wr
    assert np.max(np.abs(fx.to_real(y) - ref)) < 1e-3


def test_rmsnorm_of_zero_vector_is_zero_and_finite():
    fx = FixedPoint(Numerics())
    assert not fx.rmsnorm(np.zeros(64, dtype=np.int64), np.full(64, fx.one), 1e-6).any()


def test_dequantize_restores_scale():
    fx = FixedPoint(Numerics())
    scale = fx.weight_scale(0.02)
    assert 2 ** 15 <= scale.mantissa < 2 ** 16
    acc = np.array([1000, -1000, 0])
    m = fx.one * 3
    out = fx.to_real(fx.dequantize(acc, m, scale))
    np.testing.assert_allclose(out, acc * 3 * 0.02 / 127, rtol=1e-4)
