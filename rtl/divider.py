"""The quantiser's reciprocal as a sub-block: floor(qmax * 2**k / m) by non-restoring division.

One quotient bit per cycle, most significant first: the dividend qmax << k has
``nb`` bits, shifted out of a register one a step into the remainder (no compare
of the step count). For the clock the division is non-restoring: the remainder
may go negative, and the next step adds m back instead of subtracting it, chosen
by the registered sign; each quotient bit (the sign) is shifted into recip a
cycle later. The quotient bits equal the restoring division's.

A step is one carry chain of hand-placed CCU2C cells (:mod:`rtl.ccu2c`) straight
into the remainder register: the add-or-subtract choice goes into the chain's
LUTs (the sign on every cell's C pin) and the chain holds m - 1, so that its
carry-in is the sign itself (a - m = a + ~(m - 1), a + m = a + (m - 1) + 1).
Yosys made two chains and a LUT4 mux behind them (measured: 5.0 ns, the
quantiser's critical path on some seeds). Kept apart from :mod:`rtl.quantizer`
so that its own vectors (tests/test_rtl_subblocks.py) check it against the
golden model's ``(qmax << recip_frac) // m`` directly.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, intbv

from rtl.ccu2c import chain, lut_init

#: a step's half: A + B + carry (C = 1: the remainder is negative, add m) or
#: A + ~B + carry (C = 0: subtract) while D (busy) is high, A the shifted remainder,
#: B m - 1; A is the bit both operands share when nothing propagates
STEP_INIT = lut_init(lambda a, b, c, d: a ^ b ^ (not c), lambda a, b: a)


def quotient_bits(qmax: int, k: int) -> int:
    """Bits of qmax << k: the cycles one division takes, and the quotient's width."""
    return (qmax << k).bit_length()


@block
def reciprocal(clk, rst, go, m, done, recip, *, qmax, k):
    """recip = (qmax << k) // m for m >= 1 held while ``go`` is high.

    When ``go`` rises the division starts; ``done`` rises with recip valid after
    quotient_bits(qmax, k) + 2 cycles and stays high until ``go`` falls.
    """
    nb = quotient_bits(qmax, k)
    mmax = m.max - 1
    m_less = Signal(intbv(0, min=0, max=mmax))
    # the partial remainder, non-restoring: in [-m, m), its sign the last quotient bit
    rem = Signal(intbv(0, min=-mmax - 1, max=mmax + 1))
    width = len(rem)
    shifted = Signal(intbv(0)[width:])
    # every value of the chain's bits: between divisions (busy low) they are not a step
    nxt = Signal(intbv(0, min=-(1 << (width - 1)), max=1 << (width - 1)))
    neg = Signal(bool(0))
    dividend = Signal(intbv(qmax << k)[nb:])
    step = Signal(intbv(0, min=0, max=nb + 1))
    busy, finished, last = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    # 2 rem + the next dividend bit (its top bit dropped: the step's result fits
    # rem), then + m or - m by the sign
    add = chain(shifted, m_less, neg, busy, neg, nxt, init=STEP_INIT)

    @always_comb
    def operands():
        shifted.next = concat(rem[width - 1:], dividend[nb - 1])
        neg.next = rem < 0

    @always_comb
    def status():
        done.next = finished

    @always(clk.posedge)
    def divide():
        if rst or not go:
            busy.next = 0
            finished.next = 0
            rem.next = 0
            step.next = nb
            last.next = 0
            dividend.next = qmax << k
        elif not busy and not finished:
            busy.next = 1
            m_less.next = m - 1
        elif busy:
            # the quotient bit of the step before (the first one shifted in drops out)
            recip.next = concat(recip[nb - 1:], rem >= 0)
            if last:
                busy.next = 0
                finished.next = 1
            else:
                step.next = step - 1
                last.next = step == 1
                dividend.next = concat(dividend[nb - 1:], False)
                rem.next = nxt

    return add, operands, status, divide
