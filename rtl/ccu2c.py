"""Adders whose carry-chain LUTs also compute an operand: ECP5 CCU2C cells by hand.

Each half of a CCU2C is a LUT4 of its pins A, B, C, D, the propagate P, and a
carry mux: the sum bit is P ^ carry-in, the carry-out is the carry-in when P is 1
and otherwise the generate G, a LUT2 of A and B read from the INIT's four low bits
(the LUT4's entries for C = D = 0). Yosys maps ``a + b`` with D tied to 1 and C
unused, so a mux in front of an operand costs a LUT4 per bit of its own; here the
mux goes into the propagate, when the generate still names the bit both operands
share whenever P is 0. :func:`chain` instantiates the cells under `SYNTHESIS`
(Yosys defines it) and gives simulators the same cells bit by bit from the INIT,
so every simulation checks the LUT contents the FPGA runs. Hand-written: Yosys
does not pack logic into carry cells, and no MyHDL library instantiates them.
"""

from __future__ import annotations

from myhdl import always_comb, block


def lut_init(propagate, generate) -> str:
    """The INIT of a half whose LUT4 is ``propagate(a, b, c, d)`` (the entries with
    c = d = 0 are ``generate(a, b)``, the LUT2 the carry reads: a chain that drives
    C = D = 0 must have propagate = generate there), as a Verilog literal."""
    bits = 0
    for idx in range(16):
        a, b, c, d = ((idx >> k) & 1 for k in range(4))
        bit = generate(a, b) if (c, d) == (0, 0) else propagate(a, b, c, d)
        bits |= bit << idx
    return f"16'h{bits:04x}"


def _ripple(init: int, a: int, b: int, c: int, d: int, cin: int, width: int) -> int:
    """The chain's sum, bit by bit as the cells compute it, as a signed integer."""
    carry, y = cin, 0
    for i in range(width):
        ai, bi = (a >> i) & 1, (b >> i) & 1
        p = (init >> (ai | bi << 1 | c << 2 | d << 3)) & 1
        y |= (p ^ carry) << i
        carry = carry if p else (init >> (ai | bi << 1)) & 1
    return y - (1 << width) if y >> (width - 1) else y


@block
def chain(a, b, c, d, cin, s, *, init):
    """s = the carry chain over the bits of a and b (signed, extended to s's width),
    with every half's LUT4 seeing (a_i, b_i, c, d) and the carry-in ``cin``; ``init``
    from :func:`lut_init`. Combinational; the caller registers ``s``."""
    sbits = len(s)
    cells = (sbits + 1) // 2  # noqa: F841 (the template's cell count)
    code = int(init.split("'h")[1], 16)
    s.driven = "wire"

    @always_comb
    def model():
        s.next = _ripple(code, int(a), int(b), int(c), int(d), int(cin), sbits)

    return model


chain.verilog_code = """
wire [2*${cells}-1:0] ${s}_a;
wire [2*${cells}-1:0] ${s}_b;
assign ${s}_a = ${a};
assign ${s}_b = ${b};
`ifdef SYNTHESIS
wire [2*${cells}-1:0] ${s}_y;
wire [${cells}:0] ${s}_c;
assign ${s}_c[0] = ${cin};
genvar ${s}_i;
generate
    for (${s}_i = 0; ${s}_i < ${cells}; ${s}_i = ${s}_i + 1) begin : ${s}_cells
        CCU2C #(.INIT0(${init}), .INIT1(${init}), .INJECT1_0("NO"), .INJECT1_1("NO")) ccu(
            .CIN(${s}_c[${s}_i]),
            .A0(${s}_a[2*${s}_i]), .B0(${s}_b[2*${s}_i]), .C0(${c}), .D0(${d}),
            .A1(${s}_a[2*${s}_i+1]), .B1(${s}_b[2*${s}_i+1]), .C1(${c}), .D1(${d}),
            .S0(${s}_y[2*${s}_i]), .S1(${s}_y[2*${s}_i+1]), .COUT(${s}_c[${s}_i+1]));
    end
endgenerate
assign ${s} = ${s}_y[${sbits}-1:0];
`else
localparam [15:0] ${s}_init = ${init};
reg [${sbits}-1:0] ${s}_y;
always @(*) begin : ${s}_ripple
    integer ${s}_n;
    reg ${s}_cy;
    reg [3:0] ${s}_k;
    ${s}_cy = ${cin};
    for (${s}_n = 0; ${s}_n < ${sbits}; ${s}_n = ${s}_n + 1) begin
        ${s}_k = {${d}, ${c}, ${s}_b[${s}_n], ${s}_a[${s}_n]};
        ${s}_y[${s}_n] = ${s}_init[${s}_k] ^ ${s}_cy;
        ${s}_cy = ${s}_init[${s}_k] ? ${s}_cy : ${s}_init[{2'b00, ${s}_k[1:0]}];
    end
end
assign ${s} = ${s}_y;
`endif
"""
