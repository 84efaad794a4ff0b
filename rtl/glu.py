"""The GLU's element pipeline: beat (g, u) -> mul(silu(g), u), II = 1.

Built from the row-wise unit's pieces (:class:`rtl.rowwise.Datapath`), in the
order FixedPoint composes them for the channel mixer (cosim/graph.py).
"""

from __future__ import annotations

from functools import partial

from rtl.rowwise import (
    NARROW_LUT,
    Datapath,
    Value,
    edge_beats,
    pipeline_unit,
    random_beats,
)
from rtl.spec import UnitSpec, fixed_of, numerics_of
from rtl.stream import Field, Layout

IN_FIELDS = ("g", "u")


def glu_ops(dp: Datapath, v: dict[str, Value]) -> list[Value]:
    """mul(silu(gate), up)."""
    return [dp.mul(dp.silu(v["g"]), v["u"])]


def glu_in_layout(params: dict) -> Layout:
    bits = numerics_of(params).rowwise.bits
    return Layout(*(Field(name, bits, True) for name in IN_FIELDS))


def glu_out_layout(params: dict) -> Layout:
    return Layout(Field("y", numerics_of(params).rowwise.bits, True))


def glu_build(params: dict):
    """The GLU element pipeline's block function with ``params`` bound."""
    return partial(pipeline_unit, numerics=numerics_of(params),
                   in_layout=glu_in_layout(params), outputs=glu_ops)


def glu_golden(params: dict, stimulus: list[dict]) -> list[dict]:
    """FixedPoint.mul(FixedPoint.silu(g), u) per beat, as the fixed engine's GLU."""
    fx = fixed_of(params)
    return [{"y": int(fx.mul(fx.silu(s["g"]), s["u"]))} for s in stimulus]


SPEC = UnitSpec(
    name="glu",
    build=glu_build,
    in_layout=glu_in_layout,
    out_layout=glu_out_layout,
    golden=glu_golden,
    random_stimulus=partial(random_beats, names=IN_FIELDS),
    edge_stimulus=partial(edge_beats, names=IN_FIELDS),
    param_names=("numerics",),
    default_params={},
    # the row-wise unit covers every sigmoid variant; here: the default and a narrow LUT
    test_params=({"numerics": {}}, {"numerics": NARROW_LUT}),
)
