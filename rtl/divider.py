"""The quantiser's reciprocal as a sub-block: floor(qmax * 2**k / m) by non-restoring division.

One quotient bit per cycle, most significant first: the dividend qmax << k has
``nb`` bits, shifted out of a register one a step into the remainder (no compare
of the step count). For the clock the division is non-restoring: the remainder
may go negative, and the next step adds m back instead of subtracting it, chosen
by the registered sign, so a step is one carry chain (m registered at the start)
and a mux whose select is a register; each quotient bit (the sign) is shifted
into recip a cycle later. The quotient bits equal the restoring division's. Kept apart
from :mod:`rtl.quantizer` so that its own vectors (tests/test_rtl_subblocks.py) check it
against the golden model's ``(qmax << recip_frac) // m`` directly.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, intbv


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
    m_r = Signal(intbv(1, min=0, max=mmax + 1))
    # the partial remainder, non-restoring: in [-m, m), its sign the last quotient bit
    rem = Signal(intbv(0, min=-mmax - 1, max=mmax + 1))
    nxt = Signal(intbv(0, min=rem.min, max=rem.max))
    dividend = Signal(intbv(qmax << k)[nb:])
    step = Signal(intbv(0, min=0, max=nb + 1))
    busy, finished, last = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))

    @always_comb
    def step_rem():
        """2 rem + the next dividend bit, then + or - m, in one expression: a signal
        between would let MyHDL see a sign and a remainder of different steps."""
        if rem < 0:
            nxt.next = concat(rem[len(rem):], dividend[nb - 1]).signed() + m_r
        else:
            nxt.next = concat(rem[len(rem):], dividend[nb - 1]).signed() - m_r

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
            m_r.next = m
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

    return step_rem, status, divide
