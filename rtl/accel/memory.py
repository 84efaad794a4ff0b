"""Read-only memories loaded with ``$readmemh``, the one thing MyHDL cannot emit.

MyHDL writes a ROM as a ``case`` statement with every word inline, which makes
a 13,000-word weight ROM a file nobody can diff, and an export could not ship
the image as data. :func:`rom` simulates from a Python tuple in MyHDL and
converts to an instance of :func:`rom_module`, a block-RAM-shaped Verilog
module (synchronous read with enable, which Yosys maps to ECP5 EBR) that reads
its ``FILE`` parameter at elaboration; ROMs of one shape share the module.
"""

from __future__ import annotations

from myhdl import always, block

from rtl.accel.encode import bits_for


def hex_image(words, width: int, depth: int) -> str:
    """``$readmemh`` text of ``words`` (two's complement), zero-padded to ``depth`` lines."""
    digits = max(1, (width + 3) // 4)
    mask = (1 << width) - 1
    words = list(words) + [0] * (depth - len(words))
    return "".join(f"{int(w) & mask:0{digits}x}\n" for w in words)


def rom_name(width: int, depth: int) -> str:
    """The module name of a ROM of ``depth`` words of ``width`` bits."""
    return f"rom_w{width}_d{depth}"


def rom_module(width: int, depth: int) -> str:
    """The Verilog of :func:`rom_name`: q starts at zero, as in the MyHDL simulation."""
    name = rom_name(width, depth)
    return f"""\
`timescale 1ns/10ps
// {depth} words of {width} bits from the $readmemh image FILE; q <= word[addr] when en.
module {name} #(
    parameter FILE = "{name}.hex"
) (
    input clk,
    input en,
    input [{bits_for(depth) - 1}:0] addr,
    output reg [{width - 1}:0] q
);
reg [{width - 1}:0] mem [0:{depth - 1}];
initial q = 0;
initial $readmemh(FILE, mem);
always @(posedge clk) begin
  if (en) q <= mem[addr];
end
endmodule
"""


@block
def rom(clk, en, addr, q, *, words, width, depth, file, tag):
    """q <= words[addr] on a clock edge with ``en``; in Verilog the instance ``tag`` of
    :func:`rom_module` reading ``file``."""
    if len(addr) != bits_for(depth) or len(q) != width:
        raise ValueError(f"ROM {tag}: addr of {len(addr)} bits and q of {len(q)} for "
                         f"{depth} words of {width} bits")
    module = rom_name(width, depth)  # noqa: F841 (read by verilog_code)
    mask = (1 << width) - 1
    table = tuple(int(w) & mask for w in words) + (0,) * (depth - len(words))
    signed = q.min is not None and q.min < 0
    top = 1 << (width - 1)

    @always(clk.posedge)
    def read():
        if en:
            w = table[int(addr)]
            q.next = w - (top << 1) if signed and w >= top else w

    q.driven = "wire"
    for s in (clk, en, addr):
        s.read = True
    return read


rom.verilog_code = """\
$module #(.FILE("$file")) $tag (.clk($clk), .en($en), .addr($addr), .q($q));
"""
