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
in reset; ``o_valid`` and ``o_data`` are one mux from registers. The FIFO maps to
distributed RAM.

Both occupancy counts (the credits, and each bank's entries) are thermometers, a
shift register of ones that grows by one bit or shrinks by one: every bit depends on
its two neighbours, an up/down enable and a direction, so no carry chain is in the
loop, and the test a count needs (empty, or no credit left) is a single register bit
(measured: binary up/down counters, two or three CCU2C and a mux behind 1.1 ns of
routing, held the TP = 64 mat-vec to 220-242 MHz).

Hand-written because it is a few dozen lines of MyHDL that must convert to Verilog
Yosys maps to LUT RAM; no MyHDL library offers one.
"""

from __future__ import annotations

from myhdl import ConcatSignal, Signal, always, always_comb, block, concat, intbv

#: entries of one FIFO bank: one column of 16x4 distributed-RAM cells, read without a mux
BANK = 16
#: banks the output can choose between (an explicit mux below)
MAX_BANKS = 8


def _in_flight(depth: int) -> int:
    """Beats a ``depth``-stage pipeline owes while one enters and one leaves each cycle:
    the depth stages, the FIFO write, the head register, and the two cycles the
    registered credit count lags (so II = 1)."""
    return depth + 4


def banks(depth: int) -> int:
    """FIFO banks: a power of two, at least two, of BANK entries for each beat in flight."""
    need = -(-_in_flight(depth) // BANK)
    return max(2, 1 << (need - 1).bit_length())


def credits(depth: int) -> int:
    """Beats the unit may owe (taken, not yet handed out): those in flight, rounded up
    to a multiple of the banks (a bank's RAM holds credits / banks - 1 of them, see
    :func:`elastic_output`, so one credit more could overfill one)."""
    n = banks(depth)
    return n * -(-_in_flight(depth) // n)


@block
def _thermometer(clk, rst, up, down, t):
    """t holds a count as that many low ones: shifted up by ``up``, down by ``down``
    (both at once: unchanged). A count of 0 is ``not t[0]``; of len(t), ``t[len - 1]``."""
    n = len(t)

    @always(clk.posedge)
    def shift():
        if rst:
            t.next = 0
        elif up != down:
            if up:
                t.next = concat(t[n - 1:0], True)
            else:
                t.next = t >> 1

    return shift


@block
def _bank(clk, rst, write, data, turn, o_ready, head, full, *, entries):
    """A BANK-deep FIFO holding at most ``entries``, whose head waits in a register
    (``head``, valid while ``full``): the RAM is read at a registered address straight
    into that register. ``turn``: the output reads this bank now, so ``o_ready`` pops it."""
    mem = [Signal(intbv(0)[len(data):]) for _ in range(BANK)]
    wr = Signal(intbv(0, min=0, max=BANK))
    rd = Signal(intbv(0, min=0, max=BANK))
    level = Signal(intbv(0)[entries:])       # entries in the RAM, a thermometer
    load = Signal(bool(0))

    @always_comb
    def refill():
        load.next = level[0] and (not full or (turn and o_ready))

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
            elif turn and o_ready:
                full.next = 0

    return refill, fifo, _thermometer(clk, rst, write, load, level)


@block
def _turns(clk, rst, step, sel, count):
    """sel counts ``step``s modulo ``count`` (round robin over the banks)."""
    @always(clk.posedge)
    def turn():
        if rst:
            sel.next = 0
        elif step:
            sel.next = (sel + 1) % count

    return turn


@block
def elastic_output(clk, rst, i_valid, i_ready, o_valid, o_ready, o_data, data, depth):
    """Valid bits of a free-running ``depth``-stage pipeline whose results ``data``
    (aligned to stage ``depth``) go, round robin, into banks of :func:`_bank` and
    out in the same order; latency depth + 2. Interleaving keeps every RAM read
    within one bank (no RAM-output mux; measured: a 64-deep single FIFO read path
    limited the MLGRU to 197 MHz), and ``o_data`` is a mux of the head registers.

    The credit count lags the handshakes by a cycle each way (``took``, ``gave``:
    the bank mux behind ``give`` stays out of its cycle; measured: it held the MLGRU
    between registered ports to 190 MHz), so the input stops one credit early."""
    limit = credits(depth)
    nbanks = banks(depth)
    if nbanks > MAX_BANKS:
        raise ValueError(f"a pipeline of depth {depth} needs {nbanks} FIFO banks; "
                         f"the output mux takes at most {MAX_BANKS}")
    valid = Signal(intbv(0)[depth:])
    owed = Signal(intbv(0)[limit:])          # beats taken, not yet given: a thermometer
    room = Signal(bool(0))
    take = Signal(bool(0))
    took = Signal(bool(0))
    give = Signal(bool(0))
    gave = Signal(bool(0))
    write = Signal(bool(0))
    wsel = Signal(intbv(0, min=0, max=nbanks))
    rsel = Signal(intbv(0, min=0, max=MAX_BANKS))
    writes = [Signal(bool(0)) for _ in range(nbanks)]
    ring = Signal(intbv(1)[nbanks:])          # rsel one-hot: no decoder before a bank's pop
    turns = [ring(j) for j in range(nbanks)]
    heads = [Signal(intbv(0)[len(data):]) for _ in range(nbanks)]
    fulls = [Signal(bool(0)) for _ in range(nbanks)]
    # round robin in and out: the banks hold within one beat of each other, at most
    # limit / nbanks each, one of them in the head register unless the RAM holds one
    # beat at most (a head emptied while the RAM was empty is refilled the cycle after
    # the next write), so the RAM holds limit / nbanks - 1 at most
    entries = max(limit // nbanks - 1, 1)
    bank_parts = [_bank(clk, rst, writes[j], data, turns[j], o_ready, heads[j], fulls[j],
                        entries=entries) for j in range(nbanks)]
    steer = [_steer(write, wsel, j, writes[j]) for j in range(nbanks)]
    pad = heads + [heads[0]] * (MAX_BANKS - nbanks)
    h0, h1, h2, h3, h4, h5, h6, h7 = pad
    full_bits = ConcatSignal(*reversed(fulls + [fulls[0]] * (MAX_BANKS - nbanks)))

    @always_comb
    def handshake():
        room.next = not owed[limit - 2]
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
    def handshakes():
        took.next = take
        gave.next = give and not rst
        if rst:
            ring.next = 1
        elif give:
            ring.next = concat(ring[nbanks - 1:0], ring[nbanks - 1])

    return (bank_parts, steer, _turns(clk, rst, write, wsel, nbanks),
            _turns(clk, rst, give, rsel, nbanks), handshake, output, stages, handshakes,
            _thermometer(clk, rst, took, gave, owed))


@block
def _steer(event, sel, j, out):
    """out = event, for bank ``j`` only when ``sel`` points at it."""
    @always_comb
    def pick():
        out.next = event and sel == j

    return pick
