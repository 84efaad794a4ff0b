"""The quantiser's reciprocal as a sub-block: floor(qmax * 2**k / m) by restoring division.

One quotient bit per cycle, most significant first: the dividend qmax << k has
``nb`` bits, all ones in its top bits and zeros below bit k, so each step shifts
the remainder left by one and brings in a 1 while ``step > k``. Kept apart from
:mod:`rtl.quantizer` so that its own vectors (tests/test_rtl_subblocks.py) check
it against the golden model's ``(qmax << recip_frac) // m`` directly.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, intbv


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
    # r2 - m: its sign is the quotient bit (a comparison of mixed widths is not)
    diff = Signal(intbv(0, min=-mmax - 1, max=2 * mmax + 2))
    step = Signal(intbv(0, min=0, max=nb + 1))
    busy, finished = Signal(bool(0)), Signal(bool(0))

    @always_comb
    def shift_in():
        if step > k:
            r2.next = (rem << 1) | 1
        else:
            r2.next = rem << 1

    @always_comb
    def compare():
        diff.next = r2 - m

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
        elif not busy and not finished:
            busy.next = 1
            recip.next = 0
        elif busy:
            if step == 0:
                busy.next = 0
                finished.next = 1
            elif diff >= 0:
                rem.next = diff
                recip.next = (recip << 1) | 1
                step.next = step - 1
            else:
                rem.next = r2
                recip.next = recip << 1
                step.next = step - 1

    return shift_in, compare, status, divide
