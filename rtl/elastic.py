"""An elastic output for free-running pipelines: credits at the input, a FIFO at the output.

A pipeline that stalls as a whole needs one enable (``o_ready or not o_valid``)
on every register, and that net's fan-out and the combinational ready it chains
through cascaded units limit the clock (issue 11: 61-69 MHz). Here the pipeline
never stalls: its registers have no enable, a shift register of valid bits
follows the beats, and each result is written into a small FIFO that the
consumer drains at its own pace (see :func:`elastic_output` for its banks). The
input takes a beat only while a FIFO slot is free for it, counting the beats still
in flight (credits), so nothing is ever dropped and back-pressure reaches the input
without a combinational path from ``o_ready``. ``i_ready`` is a register gated low
in reset; ``o_valid`` and ``o_data`` are one mux from registers. The FIFO holds
:func:`capacity` beats, enough for one beat per cycle while the consumer keeps up;
it maps to distributed RAM.

Hand-written because it is a dozen lines of MyHDL that must convert to Verilog
Yosys maps to LUT RAM; no MyHDL library offers one.
"""

from __future__ import annotations

from myhdl import ConcatSignal, Signal, always, always_comb, block, concat, intbv

#: entries of one FIFO bank: one column of 16x4 distributed-RAM cells, read without a mux
BANK = 16
#: banks the output can choose between (an explicit mux below)
MAX_BANKS = 8


def capacity(depth: int) -> int:
    """FIFO slots for a ``depth``-stage pipeline: a power of two, at least two banks,
    holding every beat in flight (depth stages, the FIFO write, the head register,
    the credit's registered return), so II = 1."""
    return max(2 * BANK, 1 << (depth + 3).bit_length())


@block
def _bank(clk, rst, write, data, pop, head, full):
    """A BANK-deep FIFO whose head waits in a register (``head``, valid while ``full``):
    the RAM is read at a registered address straight into that register."""
    mem = [Signal(intbv(0)[len(data):]) for _ in range(BANK)]
    wr = Signal(intbv(0, min=0, max=BANK))
    rd = Signal(intbv(0, min=0, max=BANK))
    level = Signal(intbv(0, min=0, max=BANK + 1))
    nonempty = Signal(bool(0))
    load = Signal(bool(0))

    @always_comb
    def refill():
        load.next = nonempty and (pop or not full)

    @always(clk.posedge)
    def fifo():
        if write:
            mem[wr].next = data
        if load:
            head.next = mem[rd]
        if rst:
            wr.next = 0
            rd.next = 0
            full.next = 0
        else:
            if write:
                wr.next = (wr + 1) % BANK
            if load:
                rd.next = (rd + 1) % BANK
                full.next = 1
            elif pop:
                full.next = 0

    @always(clk.posedge)
    def count():
        if rst:
            level.next = 0
            nonempty.next = 0
        elif write and not load:
            level.next = level + 1
            nonempty.next = 1
        elif load and not write:
            level.next = level - 1
            nonempty.next = level != 1

    return refill, fifo, count


@block
def _turns(clk, rst, step, sel, banks):
    """sel counts ``step``s modulo ``banks`` (round robin over the banks)."""
    @always(clk.posedge)
    def turn():
        if rst:
            sel.next = 0
        elif step:
            sel.next = (sel + 1) % banks

    return turn


@block
def elastic_output(clk, rst, i_valid, i_ready, o_valid, o_ready, o_data, data, depth):
    """Valid bits of a free-running ``depth``-stage pipeline whose results ``data``
    (aligned to stage ``depth``) go, round robin, into banks of :func:`_bank` and
    out in the same order; latency depth + 2. Interleaving keeps every RAM read
    within one bank (no RAM-output mux; measured: a 64-deep single FIFO read path
    limited the MLGRU to 197 MHz), and ``o_data`` is a mux of the head registers."""
    cap = capacity(depth)
    banks = cap // BANK
    if banks > MAX_BANKS:
        raise ValueError(f"a pipeline of depth {depth} needs {banks} FIFO banks; "
                         f"the output mux takes at most {MAX_BANKS}")
    valid = Signal(intbv(0)[depth:])
    owed = Signal(intbv(0, min=0, max=cap + 1))       # beats taken, not yet given
    room = Signal(bool(1))
    take = Signal(bool(0))
    give = Signal(bool(0))
    gave = Signal(bool(0))            # give, registered: the credit returns a cycle later
    write = Signal(bool(0))
    wsel = Signal(intbv(0, min=0, max=banks))
    rsel = Signal(intbv(0, min=0, max=MAX_BANKS))
    writes = [Signal(bool(0)) for _ in range(banks)]
    pops = [Signal(bool(0)) for _ in range(banks)]
    heads = [Signal(intbv(0)[len(data):]) for _ in range(banks)]
    fulls = [Signal(bool(0)) for _ in range(banks)]
    bank_parts = [_bank(clk, rst, writes[j], data, pops[j], heads[j], fulls[j])
                  for j in range(banks)]
    steer = [_steer(write, wsel, j, writes[j]) for j in range(banks)] + \
        [_steer(give, rsel, j, pops[j]) for j in range(banks)]
    pad = heads + [heads[0]] * (MAX_BANKS - banks)
    h0, h1, h2, h3, h4, h5, h6, h7 = pad
    full_bits = ConcatSignal(*reversed(fulls + [fulls[0]] * (MAX_BANKS - banks)))

    @always_comb
    def handshake():
        i_ready.next = room and not rst
        take.next = i_valid and room and not rst
        o_valid.next = full_bits[rsel]
        give.next = full_bits[rsel] and o_ready
        write.next = valid[depth - 1]

    @always_comb
    def output():
        if rsel == 0:
            o_data.next = h0
        elif rsel == 1:
            o_data.next = h1
        elif rsel == 2:
            o_data.next = h2
        elif rsel == 3:
            o_data.next = h3
        elif rsel == 4:
            o_data.next = h4
        elif rsel == 5:
            o_data.next = h5
        elif rsel == 6:
            o_data.next = h6
        else:
            o_data.next = h7

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
    def credits():
        # the bank mux behind give stays out of the counter's cycle (measured: it
        # held the MLGRU between registered ports to 190 MHz)
        gave.next = give and not rst
        if rst:
            owed.next = 0
            room.next = 1
        elif take and not gave:
            owed.next = owed + 1
            room.next = owed != cap - 1
        elif gave and not take:
            owed.next = owed - 1
            room.next = 1

    return (bank_parts, steer, _turns(clk, rst, write, wsel, banks),
            _turns(clk, rst, give, rsel, banks), handshake, output, stages, credits)


@block
def _steer(event, sel, j, out):
    """out = event, for bank ``j`` only when ``sel`` points at it."""
    @always_comb
    def pick():
        out.next = event and sel == j

    return pick
