"""Flow control shared by the stream units: valid bits of a pipeline that stalls as a whole.

:func:`stream_ctrl` is the control of a fixed-latency pipeline that stalls as a
whole: a shift register of valid bits advancing whenever the output is not held
(``en = o_ready or not o_valid``); the dequantiser uses it. :func:`readback`
puts an address counter in front of :func:`rtl.elastic.elastic_output` for the
units that first store a whole vector and then re-read it through a free-running
pipeline (quantize and rmsnorm: their enable's fan-out limited their clock).
Both of those had the same hand-written copy of this logic (valid bits, a read
index, an output count to n - 1); keeping it in one place keeps their handshakes
identical and lets a fix reach both.
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
def readback(clk, rst, run, ridx, o_valid, o_ready, o_data, data, done, *, n, depth):
    """Re-read a stored ``n``-vector through a free-running ``depth``-stage pipeline.

    While ``run`` is high, each cycle the output FIFO has room for the beat
    issues the next read address ``ridx`` = 0, 1, ..., n - 1; the unit's datapath
    registers ``store[ridx]`` and its results on every cycle, depth registers in
    all up to ``data``, which :func:`rtl.elastic.elastic_output` takes into its
    FIFO and gives out on ``o_valid``/``o_data``. ``done`` is a register, high for
    the one cycle after the handshake of the n-th output beat, when the unit
    leaves its emit phase; the pipeline is then empty and the address counter is
    re-armed at 0, so the next run starts on the cycle ``run`` rises, as an
    explicit start would.
    """
    issue = Signal(bool(1))
    go, room, take = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    ocnt = Signal(intbv(0, min=0, max=n))
    # ridx == n - 1 and ocnt == n - 1 as registers, set a step ahead: the read counter's
    # compare before ``take`` into the issue register's enable was four LUT levels
    # (RMSNorm at n = 64 between registered ports, 196.85 MHz)
    rlast, olast = Signal(bool(n == 1)), Signal(bool(n == 1))
    before = max(n - 2, 0)      # unused when n == 1: then every index is the last
    ctrl = elastic_output(clk, rst, go, room, o_valid, o_ready, o_data, data, depth)

    @always_comb
    def status():
        go.next = run and issue
        take.next = run and issue and room

    @always(clk.posedge)
    def count():
        done.next = o_valid and o_ready and olast and not rst
        if rst or done:
            issue.next = 1
            ridx.next = 0
            rlast.next = n == 1
        elif take:
            if rlast:
                issue.next = 0
            else:
                ridx.next = ridx + 1
                rlast.next = ridx == before
        if rst:
            ocnt.next = 0
            olast.next = n == 1
        elif o_valid and o_ready:
            if olast:
                ocnt.next = 0
                olast.next = n == 1
            else:
                ocnt.next = ocnt + 1
                olast.next = ocnt == before

    return ctrl, status, count
