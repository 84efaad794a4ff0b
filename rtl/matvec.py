"""Ternary mat-vec: TP lanes of 2-bit weights times signed activations, no multipliers.

A beat carries TP activations, TP weight codes and ``last`` (final beat of a row).
Weight codes: 00 = 0, 01 = +1, 11 = -1, 10 = 0 (bit 1 is the sign, bit 0 "nonzero").
A -1 lane contributes ~a = -a - 1, and its missing +1 enters an adder of the tree
as its carry-in: lane l's at tree level (trailing zeros of l + 1) + 1, the last
lane's in the accumulator, so every adder takes one and no popcount is needed.
Lanes pair up in the first level: the even lane's term (0, a or ~a) is registered,
and the odd lane's mux is folded into the adder's carry chain, one ECP5 CCU2C LUT4
per bit (:func:`folded_pair`; Yosys maps a mux and an add to a LUT4 and a carry
cell per bit). Above it, log2(TP) - 1 levels of exact width with ``stages`` of all
log2(TP) levels registered (evenly spread); an exact accumulator sums the row's
beats, and the row's sum is saturated to ``accumulator_bits`` only when emitted,
which equals the golden model's saturation of the exact sum. The accumulator is
sized for rows of ``cols`` elements: a row of more beats than that is flagged, not
wrapped (the output's ``overflow`` bit is set and its sum is 0), since no fixed
width holds the exact sum of a row of any length.

No register has an enable: the pipeline runs freely with its valid bits beside it,
and each row's result goes into :func:`rtl.elastic.elastic_output`'s FIFO, whose
credits hold ``i_ready`` low while the rows in flight could fill it. ``o_ready``
reaches no datapath register and no combinational path leads from it to
``i_ready``. One beat per cycle; a row's sum leaves (beats per row - 1) +
stages + 5 cycles after its first beat.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from myhdl import Signal, always, always_comb, block, concat, intbv

from rtl.elastic import elastic_output
from rtl.mult18 import delay
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
def saturate_or_flag(clk, res, too_long, out, flag, *, accbits):
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
            flag.next = too_long
            if too_long:
                out.next = 0
            else:
                out.next = res
    else:
        @always(clk.posedge)
        def emit():
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


def _folded_init() -> str:
    """INIT of a CCU2C half adding A + (0, B or ~B): A is the even lane's term bit, B
    the odd lane's activation bit, C its nonzero bit and D its sign bit. The LUT4 is
    the propagate A ^ (C & (B ^ D)); the carry generate is the LUT2 of the INIT's low
    four bits, (C, D) = (0, 0), where the propagate is A: the bit both operands share
    whenever the propagate is 0, as a generate must be."""
    bits = 0
    for idx in range(16):
        a, b, c, d = ((idx >> k) & 1 for k in range(4))
        bits |= (a ^ (c & (b ^ d))) << idx
    return f"16'h{bits:04x}"


@block
def folded_pair(te, ao, wo, cin, s):
    """s = te + (0, ao or ~ao by the weight code wo) + cin in one carry chain.

    Under `SYNTHESIS` (Yosys defines it) the chain is CCU2C cells whose LUT4s also
    select the odd lane's term (:func:`_folded_init`): one LUT4 per bit instead of
    a mux LUT4 and an adder half. Simulators take the same sum written as an add;
    tests/test_rtl_matvec.py simulates the CCU2C branch against Yosys' cell model.
    """
    abits = len(te)
    msb = abits - 1
    sbits = abits + 1
    cells = (sbits + 1) // 2
    ext = 2 * cells - abits  # noqa: F841 (the template's sign-extension count)
    zeros = abits  # noqa: F841 (the template's zero padding of the carry-in)
    init = _folded_init()  # noqa: F841 (the template's LUT contents)
    s.driven = "wire"

    @always_comb
    def model():
        t = 0
        if wo[0]:
            t = -int(ao) - 1 if wo[1] else int(ao)
        s.next = te + t + cin

    return model


folded_pair.verilog_code = """
`ifdef SYNTHESIS
wire [2*${cells}-1:0] ${s}_a;
wire [2*${cells}-1:0] ${s}_b;
wire [2*${cells}-1:0] ${s}_y;
wire [${cells}:0] ${s}_c;
assign ${s}_a = {{${ext}{${te}[${msb}]}}, ${te}};
assign ${s}_b = {{${ext}{${ao}[${msb}]}}, ${ao}};
assign ${s}_c[0] = ${cin};
genvar ${s}_i;
generate
    for (${s}_i = 0; ${s}_i < ${cells}; ${s}_i = ${s}_i + 1) begin : ${s}_chain
        CCU2C #(.INIT0(${init}), .INIT1(${init}), .INJECT1_0("NO"), .INJECT1_1("NO")) cell(
            .CIN(${s}_c[${s}_i]),
            .A0(${s}_a[2*${s}_i]), .B0(${s}_b[2*${s}_i]), .C0(${wo}[0]), .D0(${wo}[1]),
            .A1(${s}_a[2*${s}_i+1]), .B1(${s}_b[2*${s}_i+1]), .C1(${wo}[0]), .D1(${wo}[1]),
            .S0(${s}_y[2*${s}_i]), .S1(${s}_y[2*${s}_i+1]), .COUT(${s}_c[${s}_i+1]));
    end
endgenerate
assign ${s} = ${s}_y[${sbits}-1:0];
`else
wire [${sbits}-1:0] ${s}_t;
assign ${s}_t = ${wo}[0] ? {${ao}[${msb}] ^ ${wo}[1], ${ao} ^ {${abits}{${wo}[1]}}} : ${sbits}'d0;
assign ${s} = {${te}[${msb}], ${te}} + ${s}_t + {${zeros}'d0, ${cin}};
`endif
"""


@block
def _pair_inputs(clk, i_data, te, ao, wo, ne, no, *, k, abits, wbase):
    """Stage 0 of lanes 2k and 2k + 1: the even lane's term (0, a or ~a) and both
    lanes' +1 owed for a -1 weight, the odd lane's activation and code as they are."""
    ae, aod = 2 * k * abits, (2 * k + 1) * abits
    we = wbase + 4 * k
    wod = we + 2

    @always(clk.posedge)
    def regs():
        if i_data[we] == 0:
            te.next = 0
        elif i_data[we + 1] == 0:
            te.next = i_data[ae + abits:ae].signed()
        else:
            te.next = ~i_data[ae + abits:ae].signed()
        ao.next = i_data[aod + abits:aod].signed()
        wo.next = i_data[wod + 2:wod]
        ne.next = i_data[we] & i_data[we + 1]
        no.next = i_data[wod] & i_data[wod + 1]

    return regs


@block
def _node(clk, x, y, c, s, registered):
    """s = x + y + c (c: a lane's owed +1), registered or not. The carry is widened
    as a signed 0 or 1: MyHDL casts no unsigned bit in a signed sum, and Verilog then
    computes the whole sum unsigned."""
    if registered:
        @always(clk.posedge)
        def add():
            s.next = x + y + concat(False, c).signed()
    else:
        @always_comb
        def add():
            s.next = x + y + concat(False, c).signed()
    return add


@block
def _flags(clk, rst, take, last, vroot, lroot, *, depth):
    """Valid (reset) and last bits of the beats, ``depth`` registers deep."""
    valid = Signal(intbv(0)[depth:])
    lasts = Signal(intbv(0)[depth:])

    if depth == 1:
        @always(clk.posedge)
        def shift():
            lasts.next = last
            if rst:
                valid.next = 0
            else:
                valid.next = take
    else:
        @always(clk.posedge)
        def shift():
            lasts.next = concat(lasts[depth - 1:0], last)
            if rst:
                valid.next = 0
            else:
                valid.next = concat(valid[depth - 1:0], take)

    @always_comb
    def ends():
        vroot.next = valid[depth - 1]
        lroot.next = lasts[depth - 1]

    return shift, ends


def _wire(x):
    """A signal of x's range."""
    return Signal(bool(0)) if isinstance(x.val, bool) else Signal(intbv(0, min=x.min,
                                                                          max=x.max))


@block
def ternary_tree(clk, rst, take, i_data, vroot, lroot, root, carry, *, tp, stages, abits):
    """Stage 0, the folded first level and the other log2(tp) - 1 levels of the tree.

    Each beat of i_data (the in_layout's act, w and last fields) enters every cycle;
    root + carry is its sum of a_i * w_i (``carry``: the last lane's owed +1), with
    ``take`` (it was a real beat) and its last bit in vroot and lroot, stages + 1
    cycles later. tests/test_rtl_subblocks.py checks it on its own vectors.
    """
    nlev = _levels(tp)
    regs = registered_levels(tp, stages)
    amax = 1 << (abits - 1)
    lastbit = tp * (abits + 2)
    # delay[j]: registers between stage 0 and the inputs of level j
    delay_at = [0, 0] + [sum(1 for i in range(1, j) if i in regs) for j in range(2, nlev + 2)]
    insts = []
    lane_signal = partial(Signal, intbv(0, min=-amax, max=amax))
    te = [lane_signal() for _ in range(tp // 2)]
    ao = [lane_signal() for _ in range(tp // 2)]
    wo = [Signal(intbv(0)[2:]) for _ in range(tp // 2)]
    ne = [Signal(bool(0)) for _ in range(tp // 2)]
    no = [Signal(bool(0)) for _ in range(tp // 2)]
    insts += [_pair_inputs(clk, i_data, te[k], ao[k], wo[k], ne[k], no[k], k=k, abits=abits,
                           wbase=tp * abits)
              for k in range(tp // 2)]

    # owed[j][m]: the +1 the level-j adder m takes (j = nlev + 1: the accumulator's),
    # the odd lane of pair m 2^(j-1) + 2^(j-2) - 1, delayed to meet the level's operands
    owed = {}
    for j in range(2, nlev + 2):
        owed[j] = []
        for m in range(max(tp >> j, 1)):
            k = (m << (j - 1)) + (1 << (j - 2)) - 1
            if delay_at[j] == 0:
                owed[j].append(no[k])
            else:
                late = Signal(bool(0))
                insts.append(delay(clk, no[k], late, delay_at[j]))
                owed[j].append(late)
    sums = []
    for m in range(tp // 2):
        s = Signal(intbv(0, min=-amax << 1, max=amax << 1))
        insts.append(folded_pair(te[m], ao[m], wo[m], ne[m], s))
        sums.append(s)
    if 1 in regs:
        held = [_wire(s) for s in sums]
        insts += [delay(clk, s, h, 1) for s, h in zip(sums, held)]
        sums = held
    for j in range(2, nlev + 1):
        nxt = [Signal(intbv(0, min=-amax << j, max=amax << j)) for _ in range(tp >> j)]
        insts += [_node(clk, sums[2 * m], sums[2 * m + 1], owed[j][m], nxt[m], j in regs)
                  for m in range(tp >> j)]
        sums = nxt
    last = Signal(bool(0))
    insts.append(_flags(clk, rst, take, last, vroot, lroot, depth=1 + len(regs)))
    left = owed[nlev + 1][0]
    top = sums[0]

    @always_comb
    def outputs():
        last.next = i_data[lastbit]
        root.next = top
        carry.next = left

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
    lastbit = tp * (abits + 2)

    take, row_in = Signal(bool(0)), Signal(bool(0))
    root = Signal(intbv(0, min=-amax << nlev, max=amax << nlev))
    carry = Signal(bool(0))
    vb, lb = Signal(bool(0)), Signal(bool(0))
    tree = ternary_tree(clk, rst, take, i_data, vb, lb, root, carry, tp=tp, stages=stages,
                        abits=abits)
    # acc: the row so far (0 before its first beat); total: acc + this beat, every cycle
    acc = Signal(intbv(0, min=-row_bound, max=row_bound + 1))
    # one beat more than a row holds: the beat past a row's end is added, then dropped
    total = Signal(intbv(0, min=-row_bound - tp * amax, max=row_bound + tp * amax + 1))
    plus = Signal(intbv(0, min=-row_bound - tp * amax, max=row_bound + tp * amax + 1))
    # beats of the current row so far (saturating at the last legal one)
    count = Signal(intbv(0, min=0, max=beats + 1))
    over = Signal(bool(0))
    long, too_long, overflow = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    out = Signal(intbv(0, min=-acc_hi - 1, max=acc_hi + 1))
    data = Signal(intbv(0)[accbits + 1:])

    @always_comb
    def handshake():
        take.next = i_valid and i_ready
        row_in.next = i_valid and i_data[lastbit]

    @always_comb
    def add():
        # past the last beat cols allows, the sum is not kept (it would wrap)
        over.next = long or count == beats
        plus.next = acc + root + concat(False, carry).signed()

    @always(clk.posedge)
    def accumulate():
        # a row's end clears acc (a synchronous reset of its flip-flops, no mux in
        # front of the adder); total and too_long hold the row for the output register
        total.next = plus
        too_long.next = over
        if rst or (vb and lb):
            acc.next = 0
        elif vb and not over:
            acc.next = plus
        if rst:
            count.next = 0
            long.next = 0
        elif vb:
            if lb:
                count.next = 0
                long.next = 0
            elif over:
                long.next = 1
            else:
                count.next = count + 1

    emit = saturate_or_flag(clk, total, too_long, out, overflow, accbits=accbits)

    @always_comb
    def drive():
        data.next = concat(overflow, out[accbits:])

    # stage 0 and the registered tree levels, total, the output register
    depth = 1 + len(registered_levels(tp, stages)) + 2
    ctrl = elastic_output(clk, rst, row_in, i_ready, o_valid, o_ready, o_data, data, depth)
    return handshake, tree, add, accumulate, emit, drive, ctrl


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
