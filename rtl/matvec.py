"""Ternary mat-vec: TP lanes of 2-bit weights times signed activations, no multipliers.

A beat carries TP activations, TP weight codes and ``last`` (final beat of a row).
Weight codes: 00 = 0, 01 = +1, 11 = -1, 10 = 0 (bit 1 is the sign, bit 0 "nonzero").
Each lane is a mux of a, ~a and 0; a -1 lane contributes ~a = -a - 1 and the
missing +1s are counted by a popcount tree that runs beside the adder tree, so
no lane needs a negating carry chain. The TP-lane adder tree has log2(TP) levels
with ``stages`` of them registered (evenly spread); a combine stage adds the
popcount, an exact accumulator sums the row's beats, and the row's sum is
saturated to ``accumulator_bits`` only when emitted, which equals the golden
model's saturation of the exact sum. The accumulator is sized for rows of
``cols`` elements: a row of more beats than that is flagged, not wrapped (the
output's ``overflow`` bit is set and its sum is 0), since no fixed width holds
the exact sum of a row of any length. Every register advances together when the
output register can take a value, so the unit accepts one beat per cycle. A
row's sum leaves (beats per row - 1) + stages + 4 cycles after its first beat.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from myhdl import Signal, always, always_comb, block, concat, intbv

from rtl.spec import UnitSpec, fixed_of, numerics_of
from rtl.stream import Field, Layout

#: weight code -> ternary value
CODES = {0b00: 0, 0b01: 1, 0b11: -1, 0b10: 0}
ENCODE = {0: 0b00, 1: 0b01, -1: 0b11}


def _levels(tp: int) -> int:
    return tp.bit_length() - 1


def default_stages(tp: int) -> int:
    """Register every tree level: fewer stages let Yosys merge levels into LUT-mapped
    carry-save adders (about 30 instead of 24 LUT4 per lane at TP = 64)."""
    return _levels(tp)


def _check(params: dict) -> tuple[int, int, int]:
    tp, cols = params["tp"], params["cols"]
    if not isinstance(tp, int) or tp < 2 or tp & (tp - 1):
        raise ValueError(f"matvec.tp must be a power of two of at least 2, not {tp!r}")
    if not isinstance(cols, int) or cols < 1:
        raise ValueError(f"matvec.cols must be a positive integer, not {cols!r}")
    stages = params.get("stages")
    stages = default_stages(tp) if stages is None else stages
    if not isinstance(stages, int) or not 0 <= stages <= _levels(tp):
        raise ValueError(f"matvec.stages must be an integer in [0, {_levels(tp)}], "
                         f"not {stages!r}")
    return tp, cols, stages


def registered_levels(tp: int, stages: int) -> set[int]:
    """Tree levels (1..log2 tp) whose outputs are registered, spread evenly."""
    n = _levels(tp)
    return {j for j in range(1, n + 1) if (j * stages) // n > ((j - 1) * stages) // n}


def in_layout(params: dict) -> Layout:
    """TP signed activations, TP weight codes, last-beat-of-row flag."""
    tp = params["tp"]
    a = numerics_of(params).activation_bits
    return Layout(Field("act", a, signed=True, count=tp), Field("w", 2, count=tp),
                  Field("last", 1))


def out_layout(params: dict) -> Layout:
    """One saturated row sum; ``overflow`` (then acc = 0) when the row had more beats
    than ``cols`` needs."""
    return Layout(Field("acc", numerics_of(params).accumulator_bits, signed=True),
                  Field("overflow", 1))


def _rows(beats: list):
    acts, ws = [], []
    for b in beats:
        acts.extend(b["act"])
        ws.extend(CODES[c] for c in b["w"])
        if b["last"]:
            yield acts, ws
            acts, ws = [], []


def golden(params: dict, beats: list) -> list:
    """FixedPoint.matvec of each row the beats carry; a row of more beats than
    ``cols`` needs is flagged (overflow = 1, acc = 0)."""
    tp, cols, _ = _check(params)
    fx = fixed_of(params)
    out = []
    for acts, ws in _rows(beats):
        if len(acts) > -(-cols // tp) * tp:
            out.append({"acc": 0, "overflow": 1})
            continue
        acc = fx.matvec(np.array(acts, np.int64), np.array([ws], np.float32))
        out.append({"acc": int(acc[0]), "overflow": 0})
    return out


def _row_beats(params: dict, acts, weights) -> list:
    tp, cols, _ = _check(params)
    n = -(-cols // tp)
    acts = list(acts) + [0] * (n * tp - cols)
    weights = list(weights) + [0] * (n * tp - cols)
    return [{"act": acts[k * tp:(k + 1) * tp],
             "w": [ENCODE[int(v)] for v in weights[k * tp:(k + 1) * tp]],
             "last": int(k == n - 1)} for k in range(n)]


def random_stimulus(params: dict, rng: np.random.Generator, operations: int) -> list:
    """``operations`` random rows; padding lanes get random activations and code 10."""
    tp, cols, _ = _check(params)
    fx = fixed_of(params)
    beats = []
    for _ in range(operations):
        row = _row_beats(params, rng.integers(fx.qmin, fx.qmax + 1, cols),
                         rng.integers(-1, 2, cols))
        for b in row:
            b["w"] = [c if c or rng.random() < 0.5 else 0b10 for c in b["w"]]
        pad = len(row) * tp - cols
        if pad:
            row[-1]["act"][tp - pad:] = [int(v) for v in rng.integers(fx.qmin, fx.qmax + 1,
                                                                      pad)]
        beats.extend(row)
    return beats


def edge_stimulus(params: dict) -> list:
    """Extreme activations with all-+1, all--1 and all-0 rows: saturating sums."""
    _, cols, _ = _check(params)
    fx = fixed_of(params)
    rows = [(fx.qmin, 1), (fx.qmin, -1), (fx.qmax, 1), (fx.qmax, -1), (fx.qmin, 0),
            (fx.qmax, 0)]
    beats = []
    for act, w in rows:
        beats += _row_beats(params, [act] * cols, [w] * cols)
    alt = [fx.qmin if k % 2 else fx.qmax for k in range(cols)]
    beats += _row_beats(params, alt, [-1 if k % 2 else 1 for k in range(cols)])
    beats += _row_beats(params, alt, [-1] * cols)
    return beats


@block
def saturate_or_flag(clk, rst, en, vin, res, too_long, o_valid, out, flag, *, accbits):
    """The output register: ``res`` saturated to ``accbits`` bits, or 0 with ``flag``
    set when the row was longer than the unit was built for.

    Saturation looks at the bits above the result's sign bit rather than comparing
    with the largest value: MyHDL emits a comparison with a constant of 32 bits or
    more unsigned, which made every row of a 32-bit accumulator the most negative
    value in Verilog. When ``res`` already fits, there is nothing to saturate.
    """
    width = len(res)
    hi, lo = (1 << (accbits - 1)) - 1, -(1 << (accbits - 1))
    ones = (1 << max(width - accbits + 1, 0)) - 1

    if width <= accbits:
        @always(clk.posedge)
        def emit():
            if rst:
                o_valid.next = 0
            elif en:
                o_valid.next = vin
                flag.next = too_long
                if too_long:
                    out.next = 0
                else:
                    out.next = res
    else:
        @always(clk.posedge)
        def emit():
            if rst:
                o_valid.next = 0
            elif en:
                o_valid.next = vin
                flag.next = too_long
                if too_long:
                    out.next = 0
                elif res[width - 1] == 0 and res[width:accbits - 1] != 0:
                    out.next = hi
                elif res[width - 1] == 1 and res[width:accbits - 1] != ones:
                    out.next = lo
                else:
                    out.next = res[accbits:].signed()

    return emit


@block
def ternary_tree(clk, rst, adv, i_valid, i_data, vroot, lroot, root, proot, *, tp, stages,
                 abits):
    """The lane muxes and the log2(tp) levels of the adder and popcount trees.

    One beat of i_data (the in_layout's act, w and last fields) enters whenever
    ``adv`` is high; root + proot is its sum of a_i * w_i, with its valid and last
    bits in vroot and lroot, stages + 1 advancing cycles later. tests/test_rtl_subblocks.py
    checks it on its own vectors.
    """
    nlev = _levels(tp)
    regs = registered_levels(tp, stages)
    amax = 1 << (abits - 1)
    wbase = tp * abits
    lastbit = wbase + 2 * tp
    # stage 0: the lane muxes, registered
    terms = [Signal(intbv(0, min=-amax, max=amax)) for _ in range(tp)]
    negs = [Signal(intbv(0)[1:]) for _ in range(tp)]
    # one-element lists: a memory is wholly registers or wholly wires in Verilog
    v0, l0 = [Signal(bool(0))], [Signal(bool(0))]
    # tree levels 1..nlev: sums and popcounts
    sums = [[Signal(intbv(0, min=-amax << j, max=amax << j)) for _ in range(tp >> j)]
            for j in range(1, nlev + 1)]
    pops = [[Signal(intbv(0, min=0, max=(1 << j) + 1)) for _ in range(tp >> j)]
            for j in range(1, nlev + 1)]
    valids = [[Signal(bool(0))] for _ in range(nlev)]
    lasts = [[Signal(bool(0))] for _ in range(nlev)]

    @block
    def lane(i):
        alo = i * abits
        wlo = wbase + 2 * i

        @always(clk.posedge)
        def mux():
            if adv:
                if i_data[wlo] == 0:
                    terms[i].next = 0
                elif i_data[wlo + 1] == 0:
                    terms[i].next = i_data[alo + abits:alo].signed()
                else:
                    terms[i].next = ~i_data[alo + abits:alo].signed()
                negs[i].next = i_data[wlo] & i_data[wlo + 1]
        return mux

    @block
    def stage0():
        @always(clk.posedge)
        def seq():
            if rst:
                v0[0].next = 0
            elif adv:
                v0[0].next = i_valid
                l0[0].next = i_data[lastbit]
        return seq

    @block
    def node(src, psrc, dst, pdst, k, registered):
        if registered:
            @always(clk.posedge)
            def add():
                if adv:
                    dst[k].next = src[2 * k] + src[2 * k + 1]
                    pdst[k].next = psrc[2 * k] + psrc[2 * k + 1]
        else:
            @always_comb
            def add():
                dst[k].next = src[2 * k] + src[2 * k + 1]
                pdst[k].next = psrc[2 * k] + psrc[2 * k + 1]
        return add

    @block
    def flag(vin, lin, vout, lout, registered):
        if registered:
            @always(clk.posedge)
            def pipe():
                if rst:
                    vout[0].next = 0
                elif adv:
                    vout[0].next = vin[0]
                    lout[0].next = lin[0]
        else:
            @always_comb
            def pipe():
                vout[0].next = vin[0]
                lout[0].next = lin[0]
        return pipe

    insts = [stage0()]
    insts += [lane(i) for i in range(tp)]
    src, psrc, vin, lin = terms, negs, v0, l0
    for j in range(nlev):
        reg = (j + 1) in regs
        insts += [node(src, psrc, sums[j], pops[j], k, reg) for k in range(tp >> (j + 1))]
        insts.append(flag(vin, lin, valids[j], lasts[j], reg))
        src, psrc, vin, lin = sums[j], pops[j], valids[j], lasts[j]

    top_sum, top_pop, top_valid, top_last = src[0], psrc[0], vin[0], lin[0]

    @always_comb
    def outputs():
        root.next = top_sum
        proot.next = top_pop
        vroot.next = top_valid
        lroot.next = top_last

    return insts, outputs


@block
def matvec(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data, *, tp, cols,
           stages, abits, accbits):
    """The pipelined ternary mat-vec (see the module docstring)."""
    nlev = _levels(tp)
    amax = 1 << (abits - 1)
    beats = -(-cols // tp)
    row_bound = beats * tp * amax
    acc_hi = (1 << (accbits - 1)) - 1

    adv = Signal(bool(0))
    root = Signal(intbv(0, min=-amax << nlev, max=amax << nlev))
    proot = Signal(intbv(0, min=0, max=(1 << nlev) + 1))
    vroot, lroot = Signal(bool(0)), Signal(bool(0))
    tree = ternary_tree(clk, rst, adv, i_valid, i_data, vroot, lroot, root, proot, tp=tp,
                        stages=stages, abits=abits)
    beat = Signal(intbv(0, min=-tp * amax, max=tp * amax + 1))
    vb, lb = Signal(bool(0)), Signal(bool(0))
    acc = Signal(intbv(0, min=-row_bound, max=row_bound + 1))
    res = Signal(intbv(0, min=-row_bound, max=row_bound + 1))
    vr = Signal(bool(0))
    # beats of the current row so far (saturating at one past the last legal one)
    count = Signal(intbv(0, min=0, max=beats + 1))
    long, too_long, overflow = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    out = Signal(intbv(0, min=-acc_hi - 1, max=acc_hi + 1))

    @always_comb
    def handshake():
        adv.next = o_ready or not o_valid

    @always_comb
    def ready():
        i_ready.next = adv and not rst

    @always(clk.posedge)
    def combine():
        if rst:
            vb.next = 0
        elif adv:
            vb.next = vroot
            lb.next = lroot
            beat.next = root + proot

    @always(clk.posedge)
    def accumulate():
        if rst:
            vr.next = 0
            acc.next = 0
            count.next = 0
            long.next = 0
        elif adv:
            vr.next = vb and lb
            if vb:
                # past the last beat cols allows, the sum is not kept (it would wrap)
                if lb:
                    too_long.next = long or count == beats
                    if not long and count < beats:
                        res.next = acc + beat
                    acc.next = 0
                    count.next = 0
                    long.next = 0
                elif count == beats:
                    long.next = 1
                else:
                    acc.next = acc + beat
                    count.next = count + 1

    emit = saturate_or_flag(clk, rst, adv, vr, res, too_long, o_valid, out, overflow,
                            accbits=accbits)

    @always_comb
    def drive():
        o_data.next = concat(overflow, out[accbits:])

    return handshake, ready, tree, combine, accumulate, emit, drive


def build(params: dict):
    """The matvec block with its parameters bound."""
    tp, cols, stages = _check(params)
    num = numerics_of(params)
    return partial(matvec, tp=tp, cols=cols, stages=stages, abits=num.activation_bits,
                   accbits=num.accumulator_bits)


SPEC = UnitSpec(
    name="matvec", build=build, in_layout=in_layout, out_layout=out_layout, golden=golden,
    random_stimulus=random_stimulus, edge_stimulus=edge_stimulus,
    param_names=("tp", "cols", "stages", "numerics"),
    default_params={"tp": 16, "cols": 256},
    test_params=(
        {"tp": 4, "cols": 10},
        {"tp": 8, "cols": 16, "stages": 0},
        {"tp": 16, "cols": 40, "stages": 4},
        {"tp": 8, "cols": 37, "numerics": {"accumulator_bits": 10}},
        {"tp": 2, "cols": 3, "numerics": {"activation_bits": 4, "accumulator_bits": 8}},
    ),
)
