"""The quantiser's reciprocal as a sub-block: floor(qmax * 2**k / m) by restoring division.

One quotient bit per cycle, most significant first: the dividend qmax << k has
``nb`` bits, shifted out of a register one a step into the remainder (no compare
of the step count). For the clock, each step is one carry chain (r2 - m, m taken
into a register at the start) and a mux: the step count's end is a register too. Kept apart from
:mod:`rtl.quantizer` so that its own vectors (tests/test_rtl_subblocks.py) check
it against the golden model's ``(qmax << recip_frac) // m`` directly.
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
    quotient_bits(qmax, k) + 1 cycles and stays high until ``go`` falls.
    """
    nb = quotient_bits(qmax, k)
    mmax = m.max - 1
    rem = Signal(intbv(0, min=0, max=mmax + 1))
    r2 = Signal(intbv(0, min=0, max=2 * mmax + 2))
    m_r = Signal(intbv(1, min=0, max=mmax + 1))
    # r2 - m: its sign is the quotient bit (a comparison of mixed widths is not)
    diff = Signal(intbv(0, min=-mmax - 1, max=2 * mmax + 2))
    dividend = Signal(intbv(qmax << k)[nb:])
    step = Signal(intbv(0, min=0, max=nb + 1))
    busy, finished, last = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))

    @always_comb
    def shift_in():
        r2.next = (rem << 1) | dividend[nb - 1]

    @always_comb
    def compare():
        diff.next = r2 - m_r

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
            recip.next = 0
            m_r.next = m
        elif busy:
            if last:
                busy.next = 0
                finished.next = 1
            else:
                step.next = step - 1
                last.next = step == 1
                dividend.next = concat(dividend[nb - 1:], False)
                if diff >= 0:
                    rem.next = diff
                    recip.next = (recip << 1) | 1
                else:
                    rem.next = r2
                    recip.next = recip << 1

    return shift_in, compare, status, divide
