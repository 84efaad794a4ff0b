"""A vector store in distributed RAM, read into a register: the quantiser's and RMSNorm's.

An ECP5 block RAM has no output register that Yosys' ECP5 memory mapping can use,
and its unregistered read takes 5.8 ns from the clock edge (measured: the
quantiser's critical path, 128 MHz). Distributed RAM (TRELLIS_DPR16X4, 16 words of
4 bits) reads in about 1 ns. Yosys chooses per memory by cost (a block RAM 128, a
16x4 cell 4), so a 128 x 16-bit store would become a block RAM; cut into 4-bit
slices, each slice is its own memory of cost depth / 4 and maps to LUT RAM up to
512 words. Hand-written because MyHDL cannot attach Yosys' ``ram_style`` attribute.
"""

from __future__ import annotations

from myhdl import ConcatSignal, Signal, always, always_comb, block, intbv

#: data bits of one TRELLIS_DPR16X4 cell
SLICE = 4


@block
def _slice_ram(clk, we, waddr, wdata, re, raddr, rdata, depth):
    mem = [Signal(intbv(0)[len(wdata):]) for _ in range(depth)]

    if re is None:
        @always(clk.posedge)
        def access():
            if we:
                mem[waddr].next = wdata
            rdata.next = mem[raddr]
    else:
        @always(clk.posedge)
        def access():
            if we:
                mem[waddr].next = wdata
            if re:
                rdata.next = mem[raddr]

    return access


@block
def _cut(x, y, lo):
    hi = lo + len(y)

    @always_comb
    def cut():
        y.next = x[hi:lo]

    return cut


@block
def _join(x, y):
    @always_comb
    def join():
        y.next = x.signed() if y.min < 0 else x

    return join


@block
def lutram(clk, we, waddr, wdata, raddr, rdata, *, depth, re=None):
    """``depth`` words of ``len(wdata)`` bits: written at ``waddr`` when ``we``;
    ``rdata`` takes the word at ``raddr`` on every cycle (when ``re``, with a read
    enable), read before write, signed when its range is."""
    bits = len(wdata)
    widths = [min(SLICE, bits - lo) for lo in range(0, bits, SLICE)]
    ins = [Signal(intbv(0)[w:]) for w in widths]
    outs = [Signal(intbv(0)[w:]) for w in widths]
    cuts = [_cut(wdata, ins[k], k * SLICE) for k in range(len(widths))]
    rams = [_slice_ram(clk, we, waddr, ins[k], re, raddr, outs[k], depth)
            for k in range(len(widths))]
    word = ConcatSignal(*reversed(outs)) if len(outs) > 1 else outs[0]
    return cuts, rams, _join(word, rdata)
