"""The exported accelerator in SimPy: the lane program timed with the units' measured timings.

The RTL top (``rtl.accel.top``) runs one instruction at a time: the sequencer
fetches and decodes it, a feeder issues its operand beats one per cycle (a
mat-vec beat also needs a weight word from the memory), the unit answers
after its latency, and the instruction retires the cycle after its last result
is written. This model runs the same program with the same structure as SimPy
processes (sequencer, feeder, memory, unit), driven by a timing dict measured
from the units (``rtl.accel.timing.measure``: the data, never the ``rtl``
package), so its cycles per token are a prediction to hold against the RTL's
measured count. Lanes run in lock step and do not change the count.
"""

from __future__ import annotations

import simpy

from cosim.program import Program


def _latency(ins, timings: dict) -> int:
    """Cycles from an instruction's last beat to its last result (results leave at
    the rate beats arrive: one per element, one per row of a mat-vec)."""
    if ins.op == "matvec":
        return timings["matvec"] + timings["dequant"]
    return timings[ins.unit]


class _Run:
    """One token of the program on one SimPy environment."""

    def __init__(self, program: Program, timings: dict, words_per_cycle: float):
        self.env = simpy.Environment()
        self.program, self.t = program, timings
        self.seq = timings["sequencer"]
        self.weights = simpy.Container(self.env, init=0)
        self.words_per_cycle = words_per_cycle

    def memory(self, words: int):
        """The weight stream: ``words`` words at ``words_per_cycle``."""
        sent = 0.0
        while sent < words:
            yield self.env.timeout(1)
            step = min(self.words_per_cycle, words - sent)
            sent += step
            yield self.weights.put(step)

    def feeder(self, ins, beats: int, done: simpy.Event):
        """Issue ``beats`` operand beats, one per cycle at most; mat-vec beats wait for
        their weight word. ``done`` fires with the cycle the last beat reaches the unit."""
        yield self.env.timeout(self.seq["read"])
        if ins.op == "matvec" and self.words_per_cycle < 1:
            for _ in range(beats):
                yield self.weights.get(1)
        else:
            yield self.env.timeout(beats - 1)
        done.succeed(self.env.now)

    def unit(self, ins, fed: simpy.Event, finished: simpy.Event):
        """Results leave one per cycle (one per row for a mat-vec) after the latency."""
        last_in = yield fed
        last_out = last_in + _latency(ins, self.t)
        yield self.env.timeout(last_out - self.env.now + 1)
        finished.succeed()

    def instruction(self, ins):
        yield self.env.timeout(self.seq["fetch"])
        if ins.op == "in":
            yield self.env.timeout(ins.n)
        elif ins.op == "out":
            yield self.env.timeout(self.seq["read"] + ins.n)
        else:
            beats = ins.rows * (ins.cols // self.program.tp) if ins.op == "matvec" else ins.n
            if ins.op == "matvec" and self.words_per_cycle < 1:
                self.env.process(self.memory(beats))
            fed, finished = self.env.event(), self.env.event()
            self.env.process(self.feeder(ins, beats, fed))
            self.env.process(self.unit(ins, fed, finished))
            yield finished
        yield self.env.timeout(self.seq["retire"])

    def token(self):
        for ins in self.program.instrs:
            yield self.env.process(self.instruction(ins))


def predict(program: Program, timings: dict, words_per_cycle: float = 1.0) -> float:
    """Cycles per token of ``program`` on the exported design.

    ``words_per_cycle`` is the weight stream's rate in words (beats) per cycle;
    1 or more means the stream never stalls the feeder (the on-chip ROM, or a
    memory as fast as the bench's).
    """
    run = _Run(program, timings, words_per_cycle)
    run.env.process(run.token())
    run.env.run()
    return float(run.env.now)
