"""The accelerator top level: a sequencer over the lane program and ``lanes`` lock-stepped lanes.

The sequencer fetches one instruction (FETCH), latches its fields (DECODE)
and runs it (EXEC) until every lane has written every result. One shared
feeder issues the operand beats: each issue reads the same addresses in every
lane's memories (synchronous reads, registered on ``en``) plus the shared
constant and weight words, and a second register on ``en`` (the operand
register) holds the beat, so a block-RAM clock-to-out never reaches a unit's
logic in the same cycle. The beat is handed to the selected unit of
every lane at once, only when that unit is ready in *every* lane
(``valid = fvalid and all_ready``; a unit's ready never depends on its valid,
so this makes no combinational loop). The lanes therefore consume identical
beat sequences whatever each unit's latency, and a lane whose unit ran slower
would stall the others instead of drifting out of step; results are written
by per-lane counters, and an instruction ends only when all lanes are done.
A reset starts a new sequence: until the first token's last instruction
retires, the recurrence reads its state as zero (``fresh``) instead of the
state memory, which it overwrites as it goes, so no cycle is spent clearing
the memory and a sequence can begin without reloading the FPGA.

Ports: ``i_*`` the host's input vector (one element of every lane per beat,
lane 0 in the low bits), ``o_*`` the program's output vector in the same
packing; with streamed weights ``w_addr``/``w_valid``/``w_ready``/``w_data``
is the weight port (``w_data`` must be the word at ``w_addr`` while
``w_valid``; the sequencer asks for the words of each mat-vec in order).
Units: the ``rtl`` units through their valid/ready streams (``o_ready`` is
high but for the mat-vec's, which is the dequantiser's ``i_ready``: every
result is written the cycle it appears).
"""

from __future__ import annotations

from myhdl import ConcatSignal, Signal, always, always_comb, block, concat, enum, intbv

from cosim.config.schema import as_dict
from rtl.accel.encode import (
    OPCODES,
    Design,
    bits_for,
    constants,
    instruction_words,
    weight_words,
)
from rtl.accel.memory import rom
from rtl.accel.modules import dequant_unit, stream_unit
from rtl.mult18 import product
from rtl.rowwise import RECUR_PAPER, RECUR_RELEASED
from rtl.units import UNITS

OP_IN, OP_RMS, OP_QUANT, OP_MV, OP_ROW, OP_OUT = (OPCODES[k] for k in (
    "in", "rmsnorm", "quantize", "matvec", "row", "out"))

#: the sequencer's cycles around every instruction: FETCH and DECODE before it, the
#: feeder's memory read and operand register before the first beat, and the cycle
#: that sees it retire
SEQUENCER_CYCLES = {"fetch": 2, "read": 2, "retire": 1}

#: memory image files of the export
FILES = {"instr": "instr.hex", "const": "const.hex", "weights": "weights.hex"}


def unit_params(d: Design, unit: str, n: int = 0) -> dict:
    """Parameters of one unit instance of the design."""
    params: dict = {"numerics": as_dict(d.numerics)}
    if unit == "matvec":
        params.update(tp=d.tp, cols=d.max_cols)
    elif unit == "rmsnorm":
        params.update(n=n, eps=d.cfg.rms_norm_eps)
    elif unit == "quantize":
        params.update(n=n)
    return params


class Bundle:
    """Named signals passed to sub-blocks as one argument (a MyHDL interface)."""

    def __init__(self, **signals):
        self.__dict__.update(signals)


@block
def pick(sel, k, x_in, x_prev, x_out):
    """x_out = x_in when sel == k, else the previous link of the chain."""
    @always_comb
    def mux():
        if sel == k:
            x_out.next = x_in
        else:
            x_out.next = x_prev
    return mux


@block
def chain(sel, xs, x_out):
    """Signal ``sel`` of ``xs`` by a chain of 2-way muxes (no list-of-signals memory,
    which MyHDL cannot mix with port connections)."""
    if len(xs) == 1:
        x0 = xs[0]

        @always_comb
        def only():
            x_out.next = x0
        return only
    links = []
    prev = xs[0]
    for k in range(1, len(xs)):
        x = x_out if k == len(xs) - 1 else Signal(intbv(0)[len(x_out):])
        links.append(pick(sel, k, xs[k], prev, x))
        prev = x
    return links


@block
def lane(clk, rst, d: Design, ctl: dict, in_data, ready, done, rda, index: int):
    """Lane ``index``: its memories and units, fed by the shared sequencer's ``ctl``
    signals; each unit is an instance of its own Verilog module."""
    num = d.numerics
    bits, abits, tp = num.rowwise.bits, num.activation_bits, d.tp
    vmin, vmax = -(1 << (bits - 1)), 1 << (bits - 1)
    qw = tp * abits
    tpb = bits_for(tp)

    va = [Signal(intbv(0, min=vmin, max=vmax)) for _ in range(d.vdepth)]
    vb = [Signal(intbv(0, min=vmin, max=vmax)) for _ in range(d.vdepth)]
    sm = [Signal(intbv(0, min=vmin, max=vmax)) for _ in range(d.sdepth)]
    qm = [Signal(intbv(0)[qw:]) for _ in range(d.qdepth)]
    # the memories' read registers (m*) and the operand registers behind them (rd*)
    ma, mb, ms = (Signal(intbv(0, min=vmin, max=vmax)) for _ in range(3))
    mq = Signal(intbv(0)[qw:])
    rdb = Signal(intbv(0, min=vmin, max=vmax))
    rds = Signal(intbv(0, min=vmin, max=vmax))     # zero in a sequence's first token
    rdq = Signal(intbv(0)[qw:])
    bsel = Signal(intbv(0, min=vmin, max=vmax))
    one = Signal(bool(1))

    # -- units -------------------------------------------------------------------------
    def ports(name, n=0):
        """The stream ports of a unit instance, as wide as its layouts say."""
        spec, params = UNITS[name], unit_params(d, name, n)
        return Bundle(name=name, params=params, i_valid=Signal(bool(0)),
                      i_ready=Signal(bool(0)), o_valid=Signal(bool(0)),
                      i_data=Signal(intbv(0)[spec.in_layout(params).width:]),
                      o_data=Signal(intbv(0)[spec.out_layout(params).width:]))

    row = ports("rowwise")
    rms = [ports("rmsnorm", n) for n in d.rms_sizes]
    qnt = [ports("quantize", n) for n in d.quant_sizes]
    mv = ports("matvec")
    accbits = num.accumulator_bits
    dq_ready = Signal(bool(0))
    units = [(row, one, ""), (mv, dq_ready, "")]
    units += [(p, one, n) for n, p in zip(d.rms_sizes, rms)]
    units += [(p, one, n) for n, p in zip(d.quant_sizes, qnt)]
    insts = [stream_unit(clk, rst, p.i_valid, p.i_ready, p.i_data, p.o_valid, o_ready, p.o_data,
                         unit=p.name, params=p.params, label=f"u_lane{index}_{p.name}{n}")
             for p, o_ready, n in units]
    acc = Signal(intbv(0, min=-(1 << (accbits - 1)), max=1 << (accbits - 1)))
    absmax = Signal(intbv(1, min=0, max=1 << bits))
    gain = Signal(intbv(0, min=0, max=(1 << bits) << num.scale_bits))
    dq_valid = Signal(bool(0))
    dq_y = Signal(intbv(0, min=vmin, max=vmax))
    # gain = absmax * mant on a MULT18X18D with its registers (unregistered, it was the
    # whole accelerator's critical path: 13.0 ns at b769ebd). Free-running: mant is
    # latched at DECODE and absmax by the last quantise, so gain is right
    # product_latency cycles into an instruction, before its first row sum can reach
    # the dequantiser (the read and operand registers and the mat-vec's own pipeline,
    # 14 cycles or more, later), and needs no enable.
    insts.append(product(clk, absmax, ctl.mant, gain))
    insts.append(dequant_unit(clk, rst, mv.o_valid, dq_ready, acc, gain, ctl.shm1, dq_valid,
                              one, dq_y, params=unit_params(d, "dequant"),
                              label=f"u_lane{index}_dequant"))

    rms_v, rms_d = Signal(bool(0)), Signal(intbv(0)[len(rms[0].o_data):])
    q_v, q_d = Signal(bool(0)), Signal(intbv(0)[len(qnt[0].o_data):])
    rms_ready, q_ready = Signal(bool(0)), Signal(bool(0))
    insts += [chain(ctl.unit, [p.o_valid for p in rms], rms_v),
              chain(ctl.unit, [p.o_data for p in rms], rms_d),
              chain(ctl.unit, [p.o_valid for p in qnt], q_v),
              chain(ctl.unit, [p.o_data for p in qnt], q_d),
              chain(ctl.unit, [p.i_ready for p in rms], rms_ready),
              chain(ctl.unit, [p.i_ready for p in qnt], q_ready)]

    @block
    def feed(p, k, op):
        """Unit instance k of ``op`` gets the shared beat when selected."""
        @always_comb
        def valid():
            p.i_valid.next = ctl.u_valid and ctl.op == op and ctl.unit == k
        return valid

    insts += [feed(p, k, OP_RMS) for k, p in enumerate(rms)]
    insts += [feed(p, k, OP_QUANT) for k, p in enumerate(qnt)]

    @always_comb
    def operands():
        if ctl.bconst:
            bsel.next = ctl.cdata
        else:
            bsel.next = rdb
        row.i_valid.next = ctl.u_valid and ctl.op == OP_ROW
        mv.i_valid.next = ctl.u_valid and ctl.op == OP_MV
        acc.next = mv.o_data[accbits:].signed()

    @always_comb
    def beats():
        row.i_data.next = concat(rds, bsel, rda, ctl.kind)
        mv.i_data.next = concat(ctl.flast, ctl.wd, rdq)

    @block
    def rms_in(p):
        @always_comb
        def data():
            p.i_data.next = concat(ctl.cdata, rda)
        return data

    @block
    def q_in(p):
        @always_comb
        def data():
            p.i_data.next = rda
        return data

    insts += [rms_in(p) for p in rms] + [q_in(p) for p in qnt]

    @always_comb
    def ready_mux():
        op = ctl.op
        if op == OP_ROW:
            ready.next = row.i_ready
        elif op == OP_MV:
            ready.next = mv.i_ready
        elif op == OP_RMS:
            ready.next = rms_ready
        elif op == OP_QUANT:
            ready.next = q_ready
        else:
            ready.next = 1

    # -- reads ---------------------------------------------------------------------------
    @always(clk.posedge)
    def read():
        if ctl.en:
            ma.next = va[ctl.ra]
            mb.next = vb[ctl.rb]
            ms.next = sm[ctl.rs]
            mq.next = qm[ctl.rq]

    @always(clk.posedge)
    def operand():
        if ctl.en:
            rda.next = ma
            rdb.next = mb
            rds.next = 0 if ctl.fresh else ms
            rdq.next = mq

    # -- writes --------------------------------------------------------------------------
    # as wide as the count it is compared with, and sliced to the qm index it selects
    wcnt = Signal(intbv(0)[len(ctl.n):])
    qbits = bits_for(d.qdepth)
    if tpb + qbits > len(wcnt):
        raise ValueError(f"{d.qdepth} quantised words of {tp} need a count of "
                         f"{tpb + qbits} bits, the instruction's n has {len(wcnt)}")
    wv = Signal(bool(0))
    wd = Signal(intbv(0, min=vmin, max=vmax))
    qsr = Signal(intbv(0)[qw:])
    qnext = Signal(intbv(0)[qw:])
    waddr = Signal(intbv(0)[bits_for(d.vdepth):])
    saddr = Signal(intbv(0)[bits_for(d.sdepth):])
    recur = Signal(bool(0))

    @always_comb
    def result():
        op = ctl.op
        if op == OP_ROW:
            wv.next = row.o_valid
            wd.next = row.o_data.signed()
        elif op == OP_RMS:
            wv.next = rms_v
            wd.next = rms_d.signed()
        elif op == OP_MV:
            wv.next = dq_valid
            wd.next = dq_y
        else:
            wv.next = 0
            wd.next = dq_y
        waddr.next = (ctl.dst + wcnt) % d.vdepth
        saddr.next = (ctl.state + wcnt) % d.sdepth
        recur.next = ctl.kind == RECUR_RELEASED or ctl.kind == RECUR_PAPER
        qnext.next = concat(q_d[abits:], qsr[qw:abits])
        done.next = wcnt == ctl.n

    @always(clk.posedge)
    def write():
        if ctl.in_we:
            va[ctl.in_addr].next = in_data
            vb[ctl.in_addr].next = in_data
        elif wv:
            va[waddr].next = wd
            vb[waddr].next = wd
            if ctl.op == OP_ROW and recur:
                sm[saddr].next = wd

    @always(clk.posedge)
    def count():
        if ctl.start:
            wcnt.next = 0
        elif ctl.op == OP_QUANT and q_v:
            wcnt.next = wcnt + 1
        elif wv:
            wcnt.next = wcnt + 1

    @always(clk.posedge)
    def quant_out():
        if ctl.op == OP_QUANT and q_v:
            qsr.next = qnext
            absmax.next = q_d[abits + bits:abits]
            if wcnt[tpb:] == tp - 1:
                qm[wcnt[tpb + qbits:tpb]].next = qnext

    return insts, operands, beats, ready_mux, read, operand, result, write, count, quant_out


@block
def core(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data, w_valid, w_ready,
         w_data, w_addr, *, d: Design, instr: list, const: list, weights: list | None,
         tag: str):
    """Sequencer, feeder and lanes; ``weights`` None means the w_* port streams them."""
    num = d.numerics
    bits, tp = num.rowwise.bits, d.tp
    layout = d.layout()
    ninstr = len(instr)
    vmin, vmax = -(1 << (bits - 1)), 1 << (bits - 1)

    phase = enum("FETCH", "DECODE", "EXEC")
    state = Signal(phase.FETCH)
    pc = Signal(intbv(0, min=0, max=ninstr))
    ir = Signal(intbv(0)[layout.width:])
    fetch = Signal(bool(0))
    insts = [rom(clk, fetch, pc, ir, words=instr, width=layout.width, depth=ninstr,
                 file=FILES["instr"], tag=f"{tag}_instr")]

    names = ("op", "unit", "kind", "a", "b", "dst", "state", "n", "total", "bpr", "wbase",
             "mant", "shm1")
    # n is widened to total's width so that the counters compare it at equal widths
    width = {name: layout.field(name).width for name in names}
    width["n"] = max(width["n"], width["total"])
    ctl = Bundle(**{name: Signal(intbv(0)[width[name]:]) for name in names})
    bconst = Signal(bool(0))
    start = Signal(bool(0))     # DECODE: the fields are latched for EXEC
    ctl.bconst, ctl.start = bconst, start

    @block
    def field(sig, lo, width):
        """A field register, loaded in DECODE: the instruction ROM's block-RAM
        clock-to-out stays out of every path the field starts."""
        hi = lo + width

        @always(clk.posedge)
        def latch():
            if start:
                sig.next = ir[hi:lo]
        return latch

    insts += [field(getattr(ctl, name), layout.offsets[name], layout.field(name).width)
              for name in names]
    bc_lo = layout.offsets["bconst"]

    @always(clk.posedge)
    def bconst_bit():
        if start:
            bconst.next = ir[bc_lo]

    icnt = Signal(intbv(0, min=0, max=1 << layout.field("total").width))
    kb = Signal(intbv(0, min=0, max=d.qdepth + 1))
    fvalid_m = Signal(bool(0))  # a beat in the memories' read registers
    fvalid = Signal(bool(0))    # a beat in the operand registers, offered to the units
    cword = Signal(intbv(0, min=vmin, max=vmax))
    wword = Signal(intbv(0)[2 * tp:])
    flast_m = Signal(bool(0))
    issue = Signal(bool(0))
    en = Signal(bool(0))
    all_ready = Signal(bool(0))
    all_done = Signal(bool(0))
    finished = Signal(bool(0))
    fresh = Signal(bool(1))     # the first token since reset: the state reads as zero
    ctl.__dict__.update(
        en=en, fresh=fresh, u_valid=Signal(bool(0)),
        ra=Signal(intbv(0)[bits_for(d.vdepth):]), rb=Signal(intbv(0)[bits_for(d.vdepth):]),
        rs=Signal(intbv(0)[bits_for(d.sdepth):]), rq=Signal(intbv(0)[bits_for(d.qdepth):]),
        cdata=Signal(intbv(0, min=vmin, max=vmax)), wd=Signal(intbv(0)[2 * tp:]),
        flast=Signal(bool(0)), in_we=Signal(bool(0)),
        in_addr=Signal(intbv(0)[bits_for(d.vdepth):]))
    rc = Signal(intbv(0)[bits_for(d.cdepth):])
    wa = Signal(intbv(0)[bits_for(d.wdepth):])
    insts.append(rom(clk, en, rc, cword, words=const, width=bits, depth=d.cdepth,
                     file=FILES["const"], tag=f"{tag}_const"))
    wvalid = Signal(bool(1))
    if weights is not None:
        insts.append(rom(clk, en, wa, wword, words=weights, width=2 * tp,
                         depth=d.wdepth, file=FILES["weights"], tag=f"{tag}_weights"))

        @always(clk.posedge)
        def wport():
            wvalid.next = 1     # the on-chip ROM always has the word
    else:
        @always_comb
        def wport():
            wvalid.next = w_valid
            w_addr.next = wa
            w_ready.next = en and state == phase.EXEC and ctl.op == OP_MV and \
                icnt < ctl.total

        @always(clk.posedge)
        def wreg():
            if en:
                wword.next = w_data
        insts.append(wreg)
    insts.append(wport)

    @always(clk.posedge)
    def operand():
        if en:
            ctl.cdata.next = cword
            ctl.wd.next = wword
            ctl.flast.next = flast_m

    lanes = d.lanes
    readies = [Signal(bool(0)) for _ in range(lanes)]
    dones = [Signal(bool(0)) for _ in range(lanes)]
    rdas = [Signal(intbv(0, min=vmin, max=vmax)) for _ in range(lanes)]
    ins = [Signal(intbv(0, min=vmin, max=vmax)) for _ in range(lanes)]
    ready_bus = ConcatSignal(*reversed(readies)) if lanes > 1 else readies[0]
    done_bus = ConcatSignal(*reversed(dones)) if lanes > 1 else dones[0]
    out_bus = ConcatSignal(*reversed(rdas)) if lanes > 1 else rdas[0]
    all_ones = (1 << lanes) - 1

    @block
    def unpack(k, sig):
        lo, hi = k * bits, (k + 1) * bits

        @always_comb
        def sl():
            sig.next = i_data[hi:lo].signed()
        return sl

    insts += [unpack(k, s) for k, s in enumerate(ins)]
    insts += [lane(clk, rst, d, ctl, ins[k], readies[k], dones[k], rdas[k], k)
              for k in range(lanes)]

    @always_comb
    def control():
        op = ctl.op
        fetch.next = state == phase.FETCH
        ctl.start.next = state == phase.DECODE
        if op == OP_OUT:
            all_ready.next = o_ready
        else:
            all_ready.next = ready_bus == all_ones
        all_done.next = done_bus == all_ones
        issue.next = state == phase.EXEC and icnt < ctl.total and op != OP_IN and \
            (op != OP_MV or wvalid)
        en.next = all_ready or not fvalid
        ctl.u_valid.next = fvalid and all_ready and state == phase.EXEC
        ctl.ra.next = (ctl.a + icnt) % d.vdepth
        ctl.rb.next = (ctl.b + icnt) % d.vdepth
        rc.next = (ctl.b + icnt) % d.cdepth
        ctl.rs.next = (ctl.state + icnt) % d.sdepth
        ctl.rq.next = kb % d.qdepth
        wa.next = (ctl.wbase + icnt) % d.wdepth
        i_ready.next = state == phase.EXEC and op == OP_IN and icnt < ctl.n
        ctl.in_we.next = state == phase.EXEC and op == OP_IN and icnt < ctl.n and i_valid
        ctl.in_addr.next = (ctl.dst + icnt) % d.vdepth
        o_valid.next = fvalid and op == OP_OUT and state == phase.EXEC
        o_data.next = out_bus
        if op == OP_IN:
            finished.next = icnt == ctl.n
        elif op == OP_OUT:
            finished.next = icnt == ctl.total and not fvalid_m and not fvalid
        else:
            finished.next = icnt == ctl.total and not fvalid_m and not fvalid and all_done

    @always(clk.posedge)
    def sequencer():
        if rst:
            state.next = phase.FETCH
            pc.next = 0
            icnt.next = 0
            kb.next = 0
            fvalid_m.next = 0
            fvalid.next = 0
            fresh.next = 1
        elif state == phase.FETCH:
            state.next = phase.DECODE
        elif state == phase.DECODE:
            icnt.next = 0
            kb.next = 0
            fvalid_m.next = 0
            fvalid.next = 0
            state.next = phase.EXEC
        else:
            if ctl.op == OP_IN:
                if i_valid and icnt < ctl.n:
                    icnt.next = icnt + 1
            elif en:
                fvalid_m.next = issue
                fvalid.next = fvalid_m
                if issue:
                    icnt.next = icnt + 1
                    flast_m.next = kb == ctl.bpr - 1
                    if kb == ctl.bpr - 1:
                        kb.next = 0
                    else:
                        kb.next = kb + 1
            if finished:
                state.next = phase.FETCH
                if pc == ninstr - 1:
                    pc.next = 0
                    fresh.next = 0
                else:
                    pc.next = pc + 1

    return insts, bconst_bit, control, operand, sequencer


def build(d: Design, engine) -> tuple:
    """(top block function, its port signals) of design ``d`` with ``engine``'s weights."""
    bits, tp = d.numerics.rowwise.bits, d.tp
    lanes = d.lanes
    p = dict(clk=Signal(bool(0)), rst=Signal(bool(1)), i_valid=Signal(bool(0)),
             i_ready=Signal(bool(0)), i_data=Signal(intbv(0)[lanes * bits:]),
             o_valid=Signal(bool(0)), o_ready=Signal(bool(0)),
             o_data=Signal(intbv(0)[lanes * bits:]))
    instr = instruction_words(d, engine)
    const = constants(d, engine)
    tag = d.name()
    if d.resident:
        weights = weight_words(d, engine)

        @block
        def top(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data):
            w = dict(w_valid=Signal(bool(1)), w_ready=Signal(bool(0)),
                     w_data=Signal(intbv(0)[2 * tp:]),
                     w_addr=Signal(intbv(0)[bits_for(d.wdepth):]))
            return core(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data,
                        w["w_valid"], w["w_ready"], w["w_data"], w["w_addr"], d=d,
                        instr=instr, const=const, weights=weights, tag=tag)
    else:
        p.update(w_valid=Signal(bool(0)), w_ready=Signal(bool(0)),
                 w_data=Signal(intbv(0)[2 * tp:]),
                 w_addr=Signal(intbv(0)[bits_for(d.wdepth):]))

        @block
        def top(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data, w_valid,
                w_ready, w_data, w_addr):
            return core(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data,
                        w_valid, w_ready, w_data, w_addr, d=d, instr=instr, const=const,
                        weights=None, tag=tag)
    return top, p
