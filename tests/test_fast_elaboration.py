"""The frame walk MyHDL elaborates with gives the records it reads from ``inspect.stack()``."""

import inspect

import myhdl._block
import myhdl._instance

from rtl import fast_elaboration


def _both():
    return fast_elaboration.stack(), inspect.stack()


def test_records_match_inspect_stack_in_frame_name_file_and_line():
    fast, slow = _both()
    assert len(fast) == len(slow)
    assert [r[:3] + (r[3],) for r in fast[1:]] == [tuple(r)[:4] for r in slow[1:]]
    assert fast[0][0] is slow[0][0] and fast[0][3] == slow[0][3] == "_both"


def test_myhdl_sees_the_walk_and_the_rest_of_inspect():
    for module in (myhdl._block, myhdl._instance):
        assert module.inspect.stack is fast_elaboration.stack
        assert module.inspect.getsourcefile is inspect.getsourcefile
