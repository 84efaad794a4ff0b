"""A wide product split into pieces one ECP5 MULT18X18D each takes, registered.

An ECP5 multiplier block multiplies two 18-bit signed numbers. A wider product
left to Yosys becomes several blocks whose outputs are summed by carry chains in
the same cycle, behind whatever feeds the operands: the quantiser's y * recip
(24 x 39 bits) was its critical path that way. Here each operand is cut into
pieces of at most 18 signed bits (17-bit unsigned pieces below a signed top
piece), every piece product is registered, and the shifted piece products are
summed by a tree of registered two-input adders, so no stage holds more than one
multiplier or one carry chain. Hand-written because Yosys' ECP5 flow neither
splits a product on register boundaries nor retimes registers into it.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, intbv

#: bits of an unsigned operand piece (a signed top piece may take one more)
PIECE = 17


def _pieces(width: int, signed: bool) -> list[tuple[int, int, bool]]:
    """(low bit, high bit, signed) of each piece of a ``width``-bit operand."""
    out, lo = [], 0
    while width - lo > (PIECE + 1 if signed else PIECE):
        out.append((lo, lo + PIECE, False))
        lo += PIECE
    return out + [(lo, width, signed)]


def _range(piece_lo: int, piece_hi: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest value of a piece (inclusive)."""
    w = piece_hi - piece_lo
    return (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, (1 << w) - 1)


def _split(width: int, signed: bool) -> list[tuple[int, int, bool]]:
    """The pieces of an operand; one that fits a multiplier input is one piece."""
    return [(0, width, signed)] if width <= PIECE + signed else _pieces(width, signed)


def is_signed(sig) -> bool:
    """Whether a signal's range holds negative numbers."""
    return sig.min is not None and sig.min < 0


def depth(a_bits: int, b_bits: int, a_signed: bool = True, b_signed: bool = False) -> int:
    """Registers from the operands to the product: the piece products, then the adder tree."""
    terms = len(_split(a_bits, a_signed)) * len(_split(b_bits, b_signed))
    return 1 + (terms - 1).bit_length()


def result(a, b) -> Signal:
    """A signal wide enough for every product of a and b (as ``product`` drives it)."""
    ends = [x * y for x in (a.min or 0, a.max - 1) for y in (b.min or 0, b.max - 1)]
    floor = -1 if is_signed(a) or is_signed(b) else 0
    return Signal(intbv(0, min=min(min(ends), floor), max=max(ends) + 1))


@block
def _piece(src, dst, lo, hi, signed):
    @always_comb
    def cut():
        if signed:
            dst.next = src[hi:lo].signed()
        else:
            dst.next = src[hi:lo]
    return cut


@block
def _mul(clk, en, x, y, p):
    @always(clk.posedge)
    def reg():
        if en:
            p.next = x * y
    return reg


@block
def _add(clk, en, x, y, s, shift):
    @always(clk.posedge)
    def reg():
        if en:
            s.next = x + (y << shift)
    return reg


@block
def register(clk, en, x, s):
    """s <= x on every enabled cycle."""
    @always(clk.posedge)
    def reg():
        if en:
            s.next = x
    return reg


@block
def delayed(clk, en, x, y, stages):
    """y = x ``stages`` enabled cycles later (an operand kept in step with a product)."""
    insts, last = [], x
    for _ in range(stages):
        nxt = Signal(intbv(0, min=x.min, max=x.max)) if x.min is not None else \
            Signal(intbv(0)[len(x):])
        insts.append(register(clk, en, last, nxt))
        last = nxt

    @always_comb
    def out():
        y.next = last

    return insts, out


@block
def product(clk, en, a, b, p):
    """p = a * b, ``depth(len(a), len(b), a signed, b signed)`` enabled cycles after a
    and b (each signed when its range holds negative numbers); every stage advances
    when ``en`` is high. The last stage writes p, which must hold every product of
    a's and b's ranges (:func:`result`)."""
    insts = []
    terms = []             # (shift, signal, lowest, highest)
    a_pieces = _split(len(a), is_signed(a))
    b_pieces = _split(len(b), is_signed(b))
    # with a signed operand every sum is signed (Verilog then never mixes signedness)
    floor = -1 if is_signed(a) or is_signed(b) else 0
    cut = {}
    for tag, src, pieces in (("a", a, a_pieces), ("b", b, b_pieces)):
        for lo, hi, signed in pieces:
            lowest, highest = _range(lo, hi, signed)
            if len(pieces) == 1:
                cut[tag, lo] = (src, (lowest, highest))
                continue
            sig = Signal(intbv(0, min=lowest, max=highest + 1)) if signed else \
                Signal(intbv(0)[hi - lo:])
            insts.append(_piece(src, sig, lo, hi, signed))
            cut[tag, lo] = (sig, (lowest, highest))
    for alo, _, _ in a_pieces:
        x, (xl, xh) = cut["a", alo]
        for blo, _, _ in b_pieces:
            y, (yl, yh) = cut["b", blo]
            corners = [xl * yl, xl * yh, xh * yl, xh * yh]
            lowest, highest = min(corners), max(corners)
            s = p if len(a_pieces) * len(b_pieces) == 1 else \
                Signal(intbv(0, min=min(lowest, floor), max=highest + 1))
            insts.append(_mul(clk, en, x, y, s))
            terms.append((alo + blo, s, lowest, highest))
    terms.sort(key=lambda t: t[0])
    while len(terms) > 1:
        level = []
        for i in range(0, len(terms) - 1, 2):
            (sx, x, xl, xh), (sy, y, yl, yh) = terms[i], terms[i + 1]
            lowest, highest = xl + (yl << (sy - sx)), xh + (yh << (sy - sx))
            s = p if len(terms) == 2 else \
                Signal(intbv(0, min=min(lowest, floor), max=highest + 1))
            insts.append(_add(clk, en, x, y, s, sy - sx))
            level.append((sx, s, lowest, highest))
        if len(terms) % 2:
            sx, x, xl, xh = terms[-1]
            s = Signal(intbv(0, min=x.min, max=x.max))
            insts.append(register(clk, en, x, s))
            level.append((sx, s, xl, xh))
        terms = level
    return insts
