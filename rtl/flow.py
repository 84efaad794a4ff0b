"""Flow control shared by the stream units: valid bits of a pipeline that stalls as a whole.

:func:`stream_ctrl` is the control of a fixed-latency pipeline that stalls as a
whole: a shift register of valid bits advancing whenever the output is not held
(``en = o_ready or not o_valid``); the dequantiser uses it. :func:`readback`
puts an address counter in front of :func:`rtl.elastic.elastic_output` for the
units that first store a whole vector and then re-read it through a free-running
pipeline (quantize and rmsnorm: their enable's fan-out limited their clock).
Both of those had the same hand-written copy of this logic (valid bits, a read
index, an output count to n - 1); keeping it in one place keeps their handshakes
identical and lets a fix reach both. :func:`counter` is the count of a vector's
beats with its last-beat flag, which the readback and both units' load sides use.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, intbv

from rtl.elastic import elastic_output


@block
def stream_ctrl(clk, rst, i_valid, i_ready, o_valid, o_ready, en, depth):
    """Valid bits of a ``depth``-stage pipeline that stalls as a whole when its
    output is held: en = o_ready or not o_valid, and i_ready = en and not rst (``i_ready``
    may be None when nothing reads it)."""
    valid = Signal(intbv(0)[depth:])

    @always_comb
    def enable():
        en.next = o_ready or not valid[depth - 1]

    if i_ready is None:
        @always_comb
        def ports():
            o_valid.next = valid[depth - 1]
    else:
        @always_comb
        def ports():
            i_ready.next = en and not rst
            o_valid.next = valid[depth - 1]

    if depth == 1:
        @always(clk.posedge)
        def shift():
            if rst:
                valid.next = 0
            elif en:
                valid.next = i_valid
    else:
        @always(clk.posedge)
        def shift():
            if rst:
                valid.next = 0
            elif en:
                valid.next = concat(valid[depth - 1:0], i_valid)

    return enable, ports, shift


@block
def counter(clk, rst, step, cnt, last, *, n):
    """``cnt`` counts the steps of an ``n``-beat vector, 0, 1, ..., n - 1, 0, ...; ``last``
    is cnt == n - 1 as a register set a step ahead, so an enable that waits for a
    vector's last beat is one register, not a compare of the count (RMSNorm's read
    counter's compare into its issue register's enable was four LUT levels, 196.85 MHz
    at n = 64 between registered ports)."""
    before = max(n - 2, 0)      # unused when n == 1: then every index is the last

    @always(clk.posedge)
    def count():
        if rst:
            cnt.next = 0
            last.next = n == 1
        elif step:
            if last:
                cnt.next = 0
                last.next = n == 1
            else:
                cnt.next = cnt + 1
                last.next = cnt == before

    return count


@block
def readback(clk, rst, run, ridx, o_valid, o_ready, o_data, data, done, *, n, depth):
    """Re-read a stored ``n``-vector through a free-running ``depth``-stage pipeline.

    While ``run`` is high, each cycle the output FIFO has room for the beat
    issues the next read address ``ridx`` = 0, 1, ..., n - 1; the unit's datapath
    registers ``store[ridx]`` and its results on every cycle, depth registers in
    all up to ``data``, which :func:`rtl.elastic.elastic_output` takes into its
    FIFO and gives out on ``o_valid``/``o_data``. ``done`` is a register, high for
    the one cycle after the handshake of the n-th output beat, when the unit
    leaves its emit phase; the pipeline is then empty and the address counter is
    back at 0, so the next run starts on the cycle ``run`` rises, as an explicit
    start would.
    """
    issue = Signal(bool(1))
    go, room, take, out = (Signal(bool(0)) for _ in range(4))
    ocnt = Signal(intbv(0, min=0, max=n))
    rlast, olast = Signal(bool(n == 1)), Signal(bool(n == 1))
    ctrl = elastic_output(clk, rst, go, room, o_valid, o_ready, o_data, data, depth)
    reads = counter(clk, rst, take, ridx, rlast, n=n)
    beats = counter(clk, rst, out, ocnt, olast, n=n)

    @always_comb
    def status():
        go.next = run and issue
        take.next = run and issue and room
        out.next = o_valid and o_ready

    @always(clk.posedge)
    def issued():
        """Issue until the last read, again once its beat is out."""
        done.next = out and olast and not rst
        if rst or done:
            issue.next = 1
        elif take and rlast:
            issue.next = 0

    return ctrl, reads, beats, status, issued
