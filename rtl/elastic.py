"""An elastic output for free-running pipelines: credits at the input, a FIFO at the output.

A pipeline that stalls as a whole needs one enable (``o_ready or not o_valid``)
on every register, and that net's fan-out and the combinational ready it chains
through cascaded units limit the clock (issue 11: 61-69 MHz). Here the pipeline
never stalls: its registers have no enable, a shift register of valid bits
follows the beats, and each result is written into a small FIFO that the
consumer drains at its own pace. The input takes a beat only while a FIFO slot
is free for it, counting the beats still in flight (credits), so nothing is
ever dropped and back-pressure reaches the input without a combinational path
from ``o_ready``. ``i_ready``, ``o_valid`` and ``o_data`` are registers (``i_ready``
gated low in reset). The FIFO holds :func:`capacity` beats, enough for one beat
per cycle while the consumer keeps up; it maps to distributed RAM.

Hand-written because it is a dozen lines of MyHDL that must convert to Verilog
Yosys maps to LUT RAM; no MyHDL library offers one.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, intbv

def capacity(depth: int) -> int:
    """FIFO slots for a ``depth``-stage pipeline: a power of two holding every beat
    in flight (depth stages, the FIFO, the output register, the credit's return),
    so II = 1."""
    return 1 << (depth + 3).bit_length()


@block
def elastic_output(clk, rst, i_valid, i_ready, o_valid, o_ready, o_data, data, depth):
    """Valid bits of a free-running ``depth``-stage pipeline whose results ``data``
    (aligned to stage ``depth``) go through a FIFO and an output register to
    ``o_data``; latency depth + 2. The output register reads the FIFO at a
    registered address, so no counter arithmetic sits in front of the RAM."""
    cap = capacity(depth)
    valid = Signal(intbv(0)[depth:])
    mem = [Signal(intbv(0)[len(data):]) for _ in range(cap)]
    wr = Signal(intbv(0, min=0, max=cap))
    rd = Signal(intbv(0, min=0, max=cap))
    level = Signal(intbv(0, min=0, max=cap + 1))      # results in the FIFO
    owed = Signal(intbv(0, min=0, max=cap + 1))       # beats taken, not yet given
    room = Signal(bool(1))
    nonempty = Signal(bool(0))
    full = Signal(bool(0))                            # the output register holds a beat
    take = Signal(bool(0))
    give = Signal(bool(0))
    write = Signal(bool(0))
    load = Signal(bool(0))

    @always_comb
    def handshake():
        i_ready.next = room and not rst
        take.next = i_valid and room and not rst
        o_valid.next = full
        give.next = full and o_ready
        write.next = valid[depth - 1]
        load.next = nonempty and (o_ready or not full)

    if depth == 1:
        @always(clk.posedge)
        def stages():
            if rst:
                valid.next = 0
            else:
                valid.next = take
    else:
        @always(clk.posedge)
        def stages():
            if rst:
                valid.next = 0
            else:
                valid.next = concat(valid[depth - 1:0], take)

    @always(clk.posedge)
    def fifo():
        if write:
            mem[wr].next = data
        if load:
            o_data.next = mem[rd]
        if rst:
            wr.next = 0
            rd.next = 0
            full.next = 0
        else:
            if write:
                wr.next = (wr + 1) % cap
            if load:
                rd.next = (rd + 1) % cap
                full.next = 1
            elif o_ready:
                full.next = 0

    @always(clk.posedge)
    def counts():
        if rst:
            level.next = 0
            nonempty.next = 0
            owed.next = 0
            room.next = 1
        else:
            if write and not load:
                level.next = level + 1
                nonempty.next = 1
            elif load and not write:
                level.next = level - 1
                nonempty.next = level != 1
            if take and not give:
                owed.next = owed + 1
                room.next = owed != cap - 1
            elif give and not take:
                owed.next = owed - 1
                room.next = 1

    return handshake, stages, fifo, counts
