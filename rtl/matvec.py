"""Ternary mat-vec: TP lanes of 2-bit weights times signed activations, no multipliers.

A beat carries TP activations, TP weight codes and ``last`` (final beat of a row).
Weight codes: 00 = 0, 01 = +1, 11 = -1, 10 = 0 (bit 1 is the sign, bit 0 "nonzero").
A -1 lane contributes ~a = -a - 1, and its missing +1 enters an adder of the tree
as its carry-in: lane l's at tree level (trailing zeros of l + 1) + 1, the last
lane's in the accumulator, so every adder takes one and no popcount is needed.
Lanes pair up in the first level: the even lane's term (0, a or ~a) is registered,
and the odd lane's mux is folded into the adder's carry chain, one ECP5 CCU2C LUT4
per bit (:mod:`rtl.ccu2c`; Yosys spends a LUT4 on the mux and half a carry cell on
the add, per bit). Above it, log2(TP) - 1 levels of exact width with ``stages`` of
all log2(TP) levels registered (evenly spread), and the root registered on its own;
an exact accumulator sums the row's beats (its chain's LUTs also drop the old sum
at a row's first beat), and the row's sum is saturated to ``accumulator_bits`` only
when emitted, which equals the golden model's saturation of the exact sum. The
accumulator is sized for rows of ``cols`` elements: a row of more beats than that is
flagged, not wrapped (the output's ``overflow`` bit is set and its sum is 0), since
no fixed width holds the exact sum of a row of any length.

No register has an enable: the pipeline runs freely with its valid bits beside it,
and each row's result goes into :func:`rtl.elastic.elastic_output`'s FIFO, whose
credits hold ``i_ready`` low while the rows in flight could fill it. ``o_ready``
reaches no datapath register and no combinational path leads from it to
``i_ready``. One beat per cycle; a row's sum leaves (beats per row - 1) +
stages + 6 cycles after its first beat.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from myhdl import Signal, always, always_comb, block, concat, intbv

from rtl.ccu2c import chain, lut_init
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
    """Register every tree level: an unregistered level puts two carry chains in one
    cycle, and Yosys may merge such levels into LUT-mapped carry-save adders (on the
    design before the folded carries: about 30 instead of 24 LUT4 per lane at TP = 64)."""
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


#: the first level's half: A + (0, B or ~B), A the even lane's term bit, B the odd lane's
#: activation bit, C its nonzero bit, D its sign bit; a zero weight propagates A, which
#: is also the bit both operands share when nothing propagates
PAIR_INIT = lut_init(lambda a, b, c, d: a ^ (c & (b ^ d)), lambda a, b: a)
#: the accumulator's half: A + B (C, D = 0, 1) or B alone at a row's first beat
#: (C, D = 1, 0), A the row so far, B the beat; either way B is the shared bit
ACC_INIT = lut_init(lambda a, b, c, d: b if c else a ^ b, lambda a, b: b)


@block
def _pair_inputs(clk, i_data, te, ao, nz, sg, ne, no, *, k, abits, wbase):
    """Stage 0 of lanes 2k and 2k + 1: the even lane's term (0, a or ~a) and both
    lanes' +1 owed for a -1 weight, the odd lane's activation and code bits as they are."""
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
        nz.next = i_data[wod]
        sg.next = i_data[wod + 1]
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
    """Valid (reset) and last bits of the beats, ``depth`` >= 2 registers deep."""
    valid = Signal(intbv(0)[depth:])
    lasts = Signal(intbv(0)[depth:])

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


@block
def ternary_tree(clk, rst, take, i_data, vroot, lroot, root, carry, *, tp, stages, abits):
    """Stage 0, the folded first level and the other log2(tp) - 1 levels of the tree.

    Each beat of i_data (the in_layout's act, w and last fields) enters every cycle;
    root + carry is its sum of a_i * w_i (``carry``: the last lane's owed +1), with
    ``take`` (it was a real beat) and its last bit in vroot and lroot, stages + 2
    cycles later (stage 0, the registered levels, the root's own register).
    tests/test_rtl_subblocks.py checks it on its own vectors.
    """
    nlev = _levels(tp)
    regs = registered_levels(tp, stages)
    amax = 1 << (abits - 1)
    lastbit = tp * (abits + 2)
    # delay[j]: registers between stage 0 and the inputs of level j
    delay_at = [0, 0] + [sum(1 for i in range(1, j) if i in regs) for j in range(2, nlev + 2)]
    insts = []
    te = [Signal(intbv(0, min=-amax, max=amax)) for _ in range(tp // 2)]
    ao = [Signal(intbv(0, min=-amax, max=amax)) for _ in range(tp // 2)]
    nz = [Signal(bool(0)) for _ in range(tp // 2)]
    sg = [Signal(bool(0)) for _ in range(tp // 2)]
    ne = [Signal(bool(0)) for _ in range(tp // 2)]
    no = [Signal(bool(0)) for _ in range(tp // 2)]
    insts += [_pair_inputs(clk, i_data, te[k], ao[k], nz[k], sg[k], ne[k], no[k], k=k,
                           abits=abits, wbase=tp * abits) for k in range(tp // 2)]

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
        insts.append(chain(te[m], ao[m], nz[m], sg[m], ne[m], s, init=PAIR_INIT))
        sums.append(s)
    if 1 in regs:
        held = [Signal(intbv(0, min=s.min, max=s.max)) for s in sums]
        insts += [delay(clk, s, h, 1) for s, h in zip(sums, held)]
        sums = held
    for j in range(2, nlev + 1):
        nxt = [Signal(intbv(0, min=-amax << j, max=amax << j)) for _ in range(tp >> j)]
        insts += [_node(clk, sums[2 * m], sums[2 * m + 1], owed[j][m], nxt[m], j in regs)
                  for m in range(tp >> j)]
        sums = nxt
    last = Signal(bool(0))
    insts.append(_flags(clk, rst, take, last, vroot, lroot, depth=2 + len(regs)))
    left = owed[nlev + 1][0]
    top = sums[0]

    @always_comb
    def tap():
        last.next = i_data[lastbit]

    @always(clk.posedge)
    def outputs():
        # a register of its own: the accumulator's carry chain sits apart from the
        # last adder's (measured: 1.5 ns of routing between them held the unit to 237 MHz)
        root.next = top
        carry.next = left

    return insts, tap, outputs


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
    # acc: the row so far; plus: acc + this beat, or the beat alone at a row's start
    acc = Signal(intbv(0, min=-row_bound, max=row_bound + 1))
    # acc's bits: plus is formed every cycle and kept only in a row that fits, so a beat
    # past a row's end may wrap it
    plus = Signal(intbv(0, min=-(1 << (len(acc) - 1)), max=1 << (len(acc) - 1)))
    restart, cont = Signal(bool(1)), Signal(bool(0))    # the next beat starts a row, or not
    # beats the current row may still take after the next one, less one, counted down
    # to -1: negative when the next valid beat is past the last one cols allows, a
    # test of its sign bit (measured: an up-count compared with beats - 1, a carry
    # chain and a mux before ``over``, held TP = 16 to 237 MHz)
    rest = Signal(intbv(0, min=-1, max=max(beats - 2, 1)))
    rest_first = max(beats - 3, -1)     # rest after a row's first beat
    # the next valid beat is past the last one cols allows: its sum is not kept (it
    # would wrap), and the row is flagged. A register of its own, set a beat ahead
    # (measured: computed from a count, it was three LUTs to the accumulator's enable)
    over = Signal(bool(0))
    too_long, overflow = Signal(bool(0)), Signal(bool(0))
    out = Signal(intbv(0, min=-acc_hi - 1, max=acc_hi + 1))
    data = Signal(intbv(0)[accbits + 1:])
    # the row's start selects the beat alone inside the carry chain's LUTs: a mux in
    # front of it (measured: the restart flag's fan-out and a LUT held it to 233 MHz)
    add = chain(acc, root, restart, cont, carry, plus, init=ACC_INIT)

    @always_comb
    def handshake():
        take.next = i_valid and i_ready
        row_in.next = i_valid and i_data[lastbit]

    @always(clk.posedge)
    def accumulate():
        if rst:
            # acc is ignored at a row's start, but a simulator's unknown would pass
            # through the chain's LUT emulation
            acc.next = 0
            restart.next = 1
            cont.next = 0
            rest.next = 0
            over.next = 0
        elif vb:
            restart.next = lb
            cont.next = not lb
            too_long.next = over
            if not over:
                acc.next = plus
            if restart:
                rest.next = rest_first
            elif rest >= 0:
                rest.next = rest - 1
            if lb:
                over.next = 0
            elif restart:
                over.next = beats == 1
            else:
                over.next = over or rest < 0

    emit = saturate_or_flag(clk, acc, too_long, out, overflow, accbits=accbits)

    @always_comb
    def drive():
        data.next = concat(overflow, out[accbits:])

    # stage 0, the registered tree levels, the root, the accumulator, the output register
    depth = len(registered_levels(tp, stages)) + 4
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
