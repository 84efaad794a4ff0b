"""The row-wise unit: one element per beat, an opcode per beat, fully pipelined (II = 1).

The datapath is assembled from small registered pieces (saturating add, 1 - x,
rounded saturating multiply, sigmoid, a registered mux) by :class:`Datapath`,
which tracks when each value is ready and inserts delay registers so operands
meet. Its methods mirror :class:`cosim.numerics.fixed.FixedPoint` one for one
(``silu``, ``lower_bound``, ``recurrence`` are composed exactly as there,
saturating after every step), so the compositions in :mod:`rtl.glu` and
:mod:`rtl.mlgru` reuse them. For the clock (200 MHz on an ECP5 is the aim)
each carry chain ends in a register (a sum, then its clamp), products are split
onto 18x18 multipliers (:mod:`rtl.mult18`), and the pipeline never stalls:
its registers have no enable, and :mod:`rtl.elastic` holds results for a slow
consumer. Every op has the same latency, so beats stay in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from myhdl import ConcatSignal, Signal, always, always_comb, block, intbv

from cosim.config.schedule import Numerics
from rtl.elastic import elastic_output
from rtl.mult18 import delay, product, product_latency, result, round_clamp
from rtl.sigmoid import pwl_rom, sigmoid_latency, sigmoid_pipe
from rtl.spec import UnitSpec, fixed_of, numerics_of
from rtl.stream import Field, Layout

# -- registered pieces ------------------------------------------------------------


def rowwise_signal(numerics: Numerics) -> Signal:
    """A signal holding one signed row-wise value."""
    bits = numerics.rowwise.bits
    return Signal(intbv(0, min=-(1 << (bits - 1)), max=1 << (bits - 1)))


@block
def saturate_reg(clk, s, y):
    """y <= s clamped to y's range: the last register of every saturating piece.
    s fits when its bits from y's sign bit up are all equal, a test of a few LUTs
    (two magnitude compares would be two carry chains in one cycle)."""
    lo, hi, bits = y.min, y.max - 1, len(y)
    top = len(s) - bits + 1                 # s's bits from y's sign bit upwards
    if top <= 1:
        @always(clk.posedge)
        def copy():
            y.next = s
        return copy
    ones = (1 << top) - 1

    @always(clk.posedge)
    def saturate():
        if s[len(s):bits - 1] == 0 or s[len(s):bits - 1] == ones:
            y.next = s[bits:].signed()
        elif s < 0:
            y.next = lo
        else:
            y.next = hi

    return saturate


@block
def add_pipe(clk, a, b, y):
    """FixedPoint.add: saturating a + b; two registers (sum, then saturate), so the
    sum's carry chain and the clamp's compare chain sit in different cycles."""
    s = Signal(intbv(0, min=2 * y.min, max=2 * (y.max - 1) + 1))

    @always(clk.posedge)
    def total():
        s.next = a + b

    return total, saturate_reg(clk, s, y)


@block
def one_minus_pipe(clk, a, y, one):
    """FixedPoint.one_minus: saturating one - a; two registers."""
    s = Signal(intbv(0, min=one - y.max, max=one - y.min + 1))

    @always(clk.posedge)
    def diff():
        s.next = one - a

    return diff, saturate_reg(clk, s, y)


def mul_latency(a: Signal, b: Signal) -> int:
    """Registers of :func:`mul_pipe`: the split product, then round_clamp's two."""
    return product_latency(a, b) + 2


@block
def mul_pipe(clk, a, b, y, frac):
    """FixedPoint.mul: (a*b + 2**(frac-1)) >> frac, saturated; :func:`mul_latency`
    registers (the product on 18x18 multipliers, then :func:`rtl.mult18.round_clamp`,
    as the quantiser and RMSNorm round theirs)."""
    prod = result(a, b)
    return product(clk, a, b, prod), round_clamp(clk, prod, y, k=frac)


@block
def mux_pipe(clk, op, table, x0, x1, x2, x3, y):
    """y <= x[table[op]]: an opcode-driven operand select, one register."""
    sel = Signal(intbv(0)[2:])

    @always_comb
    def rom():
        sel.next = table[op]

    @always(clk.posedge)
    def step():
        if sel == 0:
            y.next = x0
        elif sel == 1:
            y.next = x1
        elif sel == 2:
            y.next = x2
        else:
            y.next = x3

    return rom, step


ADD_LATENCY = 2


@dataclass(frozen=True)
class Value:
    """A signal and the cycle (after the input beat) at which it holds its value."""

    sig: Signal
    t: int


class Datapath:
    """Builds a fixed-latency pipeline from FixedPoint-shaped operations.

    Each method records the registered pieces it needs in ``parts`` as
    (block function, arguments) and returns the result's :class:`Value`;
    operands ready at different cycles are aligned by shared delay chains.
    MyHDL accepts sub-blocks only when created in a block function's own body,
    so the enclosing block instantiates ``parts`` itself (see :func:`pipeline_unit`).
    """

    def __init__(self, clk, numerics: Numerics):
        self.clk, self.numerics = clk, numerics
        self.one = 1 << numerics.rowwise.frac
        self.parts: list = []
        self._taps: dict[int, dict[int, Signal]] = {}

    def new(self) -> Signal:
        """A fresh row-wise signal."""
        return rowwise_signal(self.numerics)

    def at(self, v: Value, t: int) -> Signal:
        """``v``'s signal delayed to cycle ``t``."""
        if t < v.t:
            raise ValueError(f"a value ready at cycle {v.t} is not there at {t}")
        taps = self._taps.setdefault(id(v.sig), {v.t: v.sig})
        if t not in taps:
            base = max(k for k in taps if k < t)
            src = taps[base]
            taps[t] = Signal(intbv(0, min=src.min, max=src.max))
            self.parts.append((delay, (self.clk, src, taps[t], t - base)))
        return taps[t]

    def sigmoid(self, x: Value) -> Value:
        y = self.new()
        self.parts.append((sigmoid_pipe, (self.clk, x.sig, y, self.numerics)))
        return Value(y, x.t + sigmoid_latency(self.numerics))

    def add(self, a: Value, b: Value) -> Value:
        t, y = max(a.t, b.t), self.new()
        self.parts.append((add_pipe, (self.clk, self.at(a, t), self.at(b, t), y)))
        return Value(y, t + ADD_LATENCY)

    def one_minus(self, a: Value) -> Value:
        y = self.new()
        self.parts.append((one_minus_pipe, (self.clk, a.sig, y, self.one)))
        return Value(y, a.t + ADD_LATENCY)

    def mul(self, a: Value, b: Value) -> Value:
        t, y = max(a.t, b.t), self.new()
        self.parts.append((mul_pipe, (self.clk, self.at(a, t), self.at(b, t), y,
                                    self.numerics.rowwise.frac)))
        return Value(y, t + mul_latency(a.sig, b.sig))

    def silu(self, x: Value) -> Value:
        return self.mul(x, self.sigmoid(x))

    def lower_bound(self, f: Value, lb: Value) -> Value:
        return self.add(lb, self.mul(self.one_minus(lb), f))

    def recurrence(self, f: Value, x: Value, h: Value, variant: str) -> Value:
        if variant == "paper":
            x = self.mul(self.one_minus(f), x)
        return self.add(self.mul(f, h), x)

    def select(self, op: Value, cases: dict[int, Value], default: Value,
               codes: int = 8) -> Value:
        """The value of ``cases[op]`` (``default`` for other codes), one register later."""
        sources: list[Value] = [default]
        for v in cases.values():
            if all(v is not s for s in sources):
                sources.append(v)
        if len(sources) > 4:
            raise ValueError("select takes at most four distinct sources")
        table = tuple(next(k for k, s in enumerate(sources) if s is cases.get(code, default))
                      for code in range(codes))
        t = max(v.t for v in sources + [op])
        sigs = [self.at(v, t) for v in sources]
        sigs += [sigs[0]] * (4 - len(sigs))
        y = self.new()
        self.parts.append((mux_pipe, (self.clk, self.at(op, t), table, *sigs, y)))
        return Value(y, t + 1)


# -- stream plumbing ----------------------------------------------------------------


@block
def _field(bus, sig, lo, width, signed):
    """sig = bus[lo + width : lo] (two's complement when ``signed``)."""
    hi = lo + width
    if signed:
        @always_comb
        def read():
            sig.next = bus[hi:lo].signed()
    else:
        @always_comb
        def read():
            sig.next = bus[hi:lo]
    return read


@block
def unpack(bus, layout, sigs):
    """Each field of ``layout`` from ``bus`` into its signal in ``sigs`` (name -> signal,
    as :func:`field_signals` makes them): the inverse of :func:`pack`."""
    return [_field(bus, sigs[f.name], layout.offsets[f.name], f.width, f.signed)
            for f in layout.fields]


def field_signals(layout: Layout) -> dict[str, Signal]:
    """One signal per (scalar) field of ``layout``, with the field's range."""
    return {f.name: Signal(intbv(0, min=f.lo, max=f.hi + 1)) for f in layout.fields}


@block
def pack(bus, sigs):
    """bus = concatenation of ``sigs``, the first in the least-significant bits."""
    if len(sigs) == 1:
        only = sigs[0]

        @always_comb
        def write():
            bus.next = only[len(only):]
        return write
    cat = ConcatSignal(*reversed(sigs))

    @always_comb
    def write():
        bus.next = cat

    return write


@block
def pipeline_unit(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data, *,
                  numerics, in_layout, outputs):
    """A stream unit around a :class:`Datapath`: ``outputs(dp, fields) -> [Value]``
    builds the computation, in the order of the output layout's fields. The
    datapath runs freely; :func:`rtl.elastic.elastic_output` keeps the handshake."""
    dp = Datapath(clk, numerics)
    fields = field_signals(in_layout)
    unpackers = unpack(i_data, in_layout, fields)
    results = outputs(dp, {name: Value(sig, 0) for name, sig in fields.items()})
    depth = max(max(v.t for v in results), 1)
    sigs = [dp.at(v, depth) for v in results]
    pieces = [fn(*args) for fn, args in dp.parts]
    data = Signal(intbv(0)[len(o_data):])
    ctrl = elastic_output(clk, rst, i_valid, i_ready, o_valid, o_ready, o_data, data, depth)
    return unpackers, pieces, ctrl, pack(data, sigs)


# -- the row-wise unit ----------------------------------------------------------------

#: opcodes of the row-wise unit
ADD, MUL, ONE_MINUS, SIGMOID, SILU, LOWER_BOUND, RECUR_RELEASED, RECUR_PAPER = range(8)
OPS = ("ADD", "MUL", "ONE_MINUS", "SIGMOID", "SILU", "LOWER_BOUND", "RECUR_RELEASED",
       "RECUR_PAPER")
OP_BITS = 3


def rowwise_ops(dp: Datapath, v: dict[str, Value]) -> list[Value]:
    """All eight ops on one shared set of pieces: one sigmoid, one 1 - x, two multipliers,
    one adder, with opcode-driven operand muxes."""
    op, a, b, c = v["op"], v["a"], v["b"], v["c"]
    sig = dp.sigmoid(a)
    om = dp.one_minus(dp.select(op, {LOWER_BOUND: b}, a))
    m1 = dp.mul(dp.select(op, {LOWER_BOUND: om}, a),
                dp.select(op, {SILU: sig, MUL: b, LOWER_BOUND: a}, c))
    m2 = dp.mul(om, b)
    total = dp.add(dp.select(op, {LOWER_BOUND: b, RECUR_RELEASED: m1, RECUR_PAPER: m1}, a),
                   dp.select(op, {LOWER_BOUND: m1, RECUR_PAPER: m2}, b))
    return [dp.select(op, {MUL: m1, ONE_MINUS: om, SIGMOID: sig, SILU: m1}, total)]


def _bits(params: dict) -> int:
    return numerics_of(params).rowwise.bits


def rowwise_in_layout(params: dict) -> Layout:
    bits = _bits(params)
    return Layout(Field("op", OP_BITS), Field("a", bits, True), Field("b", bits, True),
                  Field("c", bits, True))


def rowwise_out_layout(params: dict) -> Layout:
    return Layout(Field("y", _bits(params), True))


def rowwise_build(params: dict):
    """The row-wise unit's block function with ``params`` bound."""
    return partial(pipeline_unit, numerics=numerics_of(params),
                   in_layout=rowwise_in_layout(params), outputs=rowwise_ops)


def rowwise_golden(params: dict, stimulus: list[dict]) -> list[dict]:
    """Each beat through the FixedPoint method of its opcode."""
    fx = fixed_of(params)
    calls = {
        ADD: lambda a, b, c: fx.add(a, b),
        MUL: lambda a, b, c: fx.mul(a, b),
        ONE_MINUS: lambda a, b, c: fx.one_minus(a),
        SIGMOID: lambda a, b, c: fx.sigmoid(a),
        SILU: lambda a, b, c: fx.silu(a),
        LOWER_BOUND: lambda a, b, c: fx.lower_bound(f=a, lb=b),
        RECUR_RELEASED: lambda a, b, c: fx.recurrence(f=a, x=b, h=c, variant="released"),
        RECUR_PAPER: lambda a, b, c: fx.recurrence(f=a, x=b, h=c, variant="paper"),
    }
    return [{"y": int(calls[s["op"]](s["a"], s["b"], s["c"]))} for s in stimulus]


# -- stimuli ----------------------------------------------------------------------------


def np_rng(rng):
    """A NumPy Generator from a Generator, a ``random.Random`` or an int seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    return np.random.default_rng(rng.getrandbits(64))


def random_values(params: dict, rng: np.random.Generator, n: int) -> np.ndarray:
    """n row-wise values from a mix of ranges: full scale, the sigmoid's range,
    gates in [0, 1], small values, and the saturation limits."""
    nx = numerics_of(params)
    bits, frac = nx.rowwise.bits, nx.rowwise.frac
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    span = nx.sigmoid.input_range << frac
    kind = rng.integers(0, 6, n)
    full = rng.integers(lo, hi + 1, n)
    ranged = rng.integers(-span - 8, span + 8, n).clip(lo, hi)
    gate = rng.integers(0, (1 << frac) + 1, n)
    small = rng.integers(-4 << frac, (4 << frac) + 1, n).clip(lo, hi) if frac < bits - 3 \
        else rng.integers(lo, hi + 1, n)
    limit = rng.choice(np.array([lo, lo + 1, hi - 1, hi, 0, -1, 1]), n)
    return np.select([kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
                     [full, ranged, gate, small, limit], ranged)


def rowwise_random(params: dict, rng, operations: int) -> list[dict]:
    """``operations`` beats with random opcodes and operands."""
    g = np_rng(rng)
    ops = g.integers(0, len(OPS), operations)
    a, b, c = (random_values(params, g, operations) for _ in range(3))
    return [{"op": int(o), "a": int(x), "b": int(y), "c": int(z)}
            for o, x, y, z in zip(ops, a, b, c)]


def edge_values(params: dict) -> list[int]:
    """Row-wise values at the formats' corners and the sigmoid's breakpoints."""
    nx = numerics_of(params)
    bits, frac = nx.rowwise.bits, nx.rowwise.frac
    lo, hi, one = -(1 << (bits - 1)), (1 << (bits - 1)) - 1, 1 << frac
    span = nx.sigmoid.input_range << frac
    vals = {lo, lo + 1, hi, hi - 1, 0, 1, -1, one, one - 1, one + 1, -one, one // 2,
            span, span - 1, -span, -span - 1, span + 1, -span + 1}
    if nx.sigmoid.method == "pwl":
        for brk in pwl_rom(nx)[0]:
            vals |= {brk - 1, brk, brk + 1, -brk + 1, -brk, -brk - 1}
    return sorted(v for v in vals if lo <= v <= hi)


def rowwise_edges(params: dict) -> list[dict]:
    """Every opcode on the corner values, paired with extreme second operands."""
    vals = edge_values(params)
    bits = numerics_of(params).rowwise.bits
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    beats = []
    for op in range(len(OPS)):
        for a in vals:
            for b in (lo, hi, a):
                beats.append({"op": op, "a": a, "b": b, "c": hi if b == lo else lo})
    return beats


#: parameter sets of the suite: both sigmoid methods, and a narrow format that saturates
TEST_NUMERICS = (
    {},
    {"sigmoid": {"method": "pwl", "segments": 1}},
    {"sigmoid": {"method": "pwl", "segments": 3}},
    {"sigmoid": {"method": "lut", "lut_entries": 256}},
    {"rowwise": {"bits": 12, "frac": 6}, "sigmoid": {"method": "pwl", "segments": 5}},
    {"rowwise": {"bits": 12, "frac": 6}, "sigmoid": {"method": "lut", "lut_entries": 64}},
)
#: the narrow LUT set, shared with the compositions' test parameters
NARROW_LUT = TEST_NUMERICS[-1]



def edge_beats(params: dict, names: tuple[str, ...]) -> list[dict]:
    """Beats of signed row-wise fields ``names``: each field swept over the corner
    values while the others cycle through them at different strides."""
    vals = edge_values(params)
    n = len(vals)
    beats = [{name: vals[0] for name in names}, {name: vals[-1] for name in names}]
    for pos, name in enumerate(names):
        for i, v in enumerate(vals):
            beats.append({other: v if other == name else vals[(i * (3 + 2 * k) + pos) % n]
                          for k, other in enumerate(names)})
    return beats


def random_beats(params: dict, rng, operations: int, names: tuple[str, ...]) -> list[dict]:
    """``operations`` beats of signed row-wise fields ``names`` from :func:`random_values`."""
    g = np_rng(rng)
    cols = [random_values(params, g, operations) for _ in names]
    return [{name: int(col[i]) for name, col in zip(names, cols)} for i in range(operations)]


SPEC = UnitSpec(
    name="rowwise",
    build=rowwise_build,
    in_layout=rowwise_in_layout,
    out_layout=rowwise_out_layout,
    golden=rowwise_golden,
    random_stimulus=rowwise_random,
    edge_stimulus=rowwise_edges,
    param_names=("numerics",),
    default_params={},
    test_params=tuple({"numerics": n} for n in TEST_NUMERICS),
)
