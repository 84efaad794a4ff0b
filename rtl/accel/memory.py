"""Read-only memories loaded with ``$readmemh``, the one thing MyHDL cannot emit.

MyHDL writes a ROM as a ``case`` statement with every word inline, which makes
a 13,000-word weight ROM a file nobody can diff, and an export could not ship
the image as data. :func:`rom` simulates from a Python tuple in MyHDL and
converts to a block-RAM-shaped Verilog template (synchronous read with enable,
which Yosys maps to ECP5 EBR) reading ``FILE`` at elaboration.
"""

from __future__ import annotations

from myhdl import always, block


def hex_image(words, width: int, depth: int) -> str:
    """``$readmemh`` text of ``words`` (two's complement), zero-padded to ``depth`` lines."""
    digits = max(1, (width + 3) // 4)
    mask = (1 << width) - 1
    words = list(words) + [0] * (depth - len(words))
    return "".join(f"{int(w) & mask:0{digits}x}\n" for w in words)


@block
def rom(clk, en, addr, q, *, words, width, depth, file, tag):
    """q <= words[addr] on a clock edge with ``en``; the image ``file`` in Verilog."""
    mask = (1 << width) - 1
    table = tuple(int(w) & mask for w in words) + (0,) * (depth - len(words))
    signed = q.min is not None and q.min < 0
    top = 1 << (width - 1)

    @always(clk.posedge)
    def read():
        if en:
            w = table[int(addr)]
            q.next = w - (top << 1) if signed and w >= top else w

    q.driven = "reg"
    return read


rom.verilog_code = """\
reg [$width-1:0] $tag [0:$depth-1];
initial $$readmemh("$file", $tag);
always @(posedge $clk) begin
  if ($en) $q <= $tag[$addr];
end
"""
