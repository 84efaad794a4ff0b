"""A vector store in distributed RAM, read through two registers: the quantiser's and RMSNorm's.

An ECP5 block RAM has no output register that Yosys' ECP5 memory mapping can use,
and its unregistered read takes 5.8 ns from the clock edge (measured: the
quantiser's critical path, 128 MHz). Distributed RAM (TRELLIS_DPR16X4, 16 words of
4 bits) reads in about 1 ns, but a deep one ends in a mux of its 16-word columns
in the same cycle (measured: 178 MHz for 128 words). So the store is cut into
groups of 16 words, each its own memory (Yosys chooses per memory by cost: a
16-word group is always LUT RAM) read into its own register, and a registered mux
picks the group (two of them past four groups: measured, a 16-way mux held a
256-word store to 147 MHz): two or three cycles from address to word. Hand-written because MyHDL
cannot attach Yosys' ``ram_style`` attribute, and Yosys does not pipeline the mux.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, intbv

#: words of one group: one column of TRELLIS_DPR16X4 cells
GROUP = 16
#: groups one registered mux picks from (more take a second registered mux)
FAN_IN = 4


def read_latency(depth: int) -> int:
    """Cycles from ``raddr`` to ``rdata`` in a store of ``depth`` words."""
    return 2 if -(-depth // GROUP) <= FAN_IN else 3


@block
def _group(clk, we, waddr, wdata, raddr, rdata, size):
    mem = [Signal(intbv(0)[len(wdata):]) for _ in range(size)]

    @always(clk.posedge)
    def access():
        if we:
            mem[waddr].next = wdata
        rdata.next = mem[raddr]

    return access


@block
def _low(addr, lo):
    @always_comb
    def cut():
        lo.next = addr[len(lo):]

    return cut


@block
def _low_reg(clk, x, lo):
    """lo <= x's low bits (a write port's address or data, registered)."""
    @always(clk.posedge)
    def cut():
        lo.next = x[len(lo):]

    return cut


@block
def _selects(clk, we, waddr, j, hit):
    """hit <= we, for the group ``j`` that ``waddr`` falls in."""
    @always(clk.posedge)
    def pick():
        hit.next = we and (waddr >> 4) == j

    return pick


@block
def _group_of(clk, raddr, sel):
    """sel <= the group ``raddr`` falls in (in step with the groups' read registers)."""
    @always(clk.posedge)
    def reg():
        sel.next = raddr >> 4

    return reg


@block
def _choose(sel, j, word, prev, out):
    """out = word when sel == j, else prev (one link of the groups' mux)."""
    @always_comb
    def pick():
        if sel == j:
            out.next = word
        else:
            out.next = prev

    return pick


@block
def lutram(clk, we, waddr, wdata, raddr, rdata, *, depth):
    """``depth`` words of ``len(wdata)`` bits: written at ``waddr`` when ``we`` (the
    write lands a cycle later: the port is registered, so no logic in front of it
    reaches the RAM's write enable); ``rdata`` is the word at ``raddr``
    :func:`read_latency` cycles later, signed when its range is."""
    bits = len(wdata)
    groups = -(-depth // GROUP)
    data = Signal(intbv(0)[bits:])
    insts = [_low_reg(clk, wdata, data)]
    words = [Signal(intbv(0)[bits:]) for _ in range(groups)]
    if groups == 1:
        wa = Signal(intbv(0, min=0, max=depth))
        hit = Signal(bool(0))
        insts += [_low_reg(clk, waddr, wa), _selects(clk, we, waddr, 0, hit)]
        insts.append(_group(clk, hit, wa, data, raddr, words[0], depth))
    else:
        wlo, rlo = Signal(intbv(0)[4:]), Signal(intbv(0)[4:])
        hits = [Signal(bool(0)) for _ in range(groups)]
        insts += [_low_reg(clk, waddr, wlo), _low(raddr, rlo)]
        insts += [_selects(clk, we, waddr, j, hits[j]) for j in range(groups)]
        insts += [_group(clk, hits[j], wlo, data, rlo, words[j], GROUP) for j in range(groups)]
        sel = Signal(intbv(0, min=0, max=groups))
        insts.append(_group_of(clk, raddr, sel))
    if groups <= FAN_IN:
        chain = [words[0]] + [Signal(intbv(0)[bits:]) for _ in range(groups - 1)]
        insts += [_choose(sel, j, words[j], chain[j - 1], chain[j]) for j in range(1, groups)]
        return insts, _output(clk, chain[-1], rdata)
    # a registered mux per FAN_IN groups, then one over their registers
    firsts = []
    for lo in range(0, groups, FAN_IN):
        rest = range(lo + 1, min(lo + FAN_IN, groups))
        chain = [words[lo]] + [Signal(intbv(0)[bits:]) for _ in rest]
        insts += [_choose(sel, j, words[j], chain[j - lo - 1], chain[j - lo]) for j in rest]
        first = Signal(intbv(0)[bits:])
        insts.append(_output(clk, chain[-1], first))
        firsts.append(first)
    quad = Signal(intbv(0, min=0, max=len(firsts)))
    insts.append(_quad_of(clk, sel, quad))
    chain = [firsts[0]] + [Signal(intbv(0)[bits:]) for _ in range(len(firsts) - 1)]
    insts += [_choose(quad, i, firsts[i], chain[i - 1], chain[i]) for i in range(1, len(firsts))]
    return insts, _output(clk, chain[-1], rdata)


@block
def _quad_of(clk, sel, quad):
    """quad <= which FAN_IN-group mux ``sel`` falls in (in step with those muxes)."""
    @always(clk.posedge)
    def reg():
        quad.next = sel >> 2

    return reg


@block
def _output(clk, word, rdata):
    """rdata <= word, as a two's-complement number when rdata is signed."""
    if rdata.min is not None and rdata.min < 0:
        @always(clk.posedge)
        def out():
            rdata.next = word.signed()
    else:
        @always(clk.posedge)
        def out():
            rdata.next = word

    return out
