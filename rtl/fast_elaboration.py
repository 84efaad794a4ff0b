"""MyHDL elaborates a design several times faster with a frame walk in place of ``inspect.stack()``.

MyHDL 0.11 finds the function that defines each block and each ``@always`` process by
calling ``inspect.stack()`` (once per block, twice per process), and it elaborates twice
per conversion (``convert`` re-runs the top function). ``inspect.stack()`` builds a full
``FrameInfo`` for every frame of the stack: it resolves each frame's module by scanning
``sys.modules`` (cpython issue 92041) and reads its source lines. With NumPy, NetworkX
and pytest loaded, that was 85% of an accelerator export's time (cProfile: 189 of 219 s).
MyHDL reads only the frame and the function name of two or three records, so the walk
below returns records with those two fields filled from the frame itself (file and line
as well; no source context). No library offers this, and MyHDL has no option for it.

Importing ``rtl`` installs it; the walk replaces ``inspect`` only as MyHDL's
``_block`` and ``_instance`` modules see it.
"""

from __future__ import annotations

import inspect
import sys

import myhdl._block
import myhdl._instance


def stack() -> list[tuple]:
    """``inspect.stack()``'s records ``(frame, filename, lineno, function, None, None)``,
    innermost (the caller) first, without module lookup or source lines."""
    records = []
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        records.append((frame, code.co_filename, frame.f_lineno, code.co_name, None, None))
        frame = frame.f_back
    return records


class _Inspect:
    """``inspect`` with :func:`stack` in place of ``inspect.stack``."""

    stack = staticmethod(stack)

    def __getattr__(self, name):
        return getattr(inspect, name)


for _module in (myhdl._block, myhdl._instance):
    _module.inspect = _Inspect()
