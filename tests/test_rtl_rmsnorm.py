"""RMSNorm's double buffer: the next vector loads while the last is normed and emitted.

tests/test_rtl_units.py proves the values; here the issue interval, which those
tests do not see (a single-buffered unit is just as correct, at 2n + 77 cycles
a vector).
"""

from rtl import characterize


def test_back_to_back_vectors_overlap():
    """At n = 24 a vector costs about n + 38 cycles back to back (measured 60), well
    under the 2n + 77 = 125 of loading only once the last vector has left."""
    n = 24
    timing = characterize.timing("rmsnorm", characterize.normalise("rmsnorm", {"n": n}), ops=6)
    assert timing["ii_cycles"] <= n + 40
