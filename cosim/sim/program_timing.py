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

    def __init__(self, program: Program, timings: dict, rate: tuple[int, int]):
        self.env = simpy.Environment()
        self.program, self.t = program, timings
        self.seq = timings["sequencer"]
        self.num, self.den = rate
        self.credit, self.clock = rate[1], 0     # the memory starts with a word ready

    def _accrue(self, until: int) -> None:
        """The memory earns num/den of a word a cycle until it holds a word."""
        while self.clock < until:
            if self.credit < self.den:
                self.credit += self.num
            self.clock += 1

    def feeder(self, ins, beats: int, done: simpy.Event):
        """Issue ``beats`` operand beats, one per cycle at most; a mat-vec beat also
        takes a word from the memory. ``done`` fires with the cycle the last beat
        reaches the unit."""
        if ins.op == "matvec" and self.num < self.den:
            self._accrue(self.env.now)
            cycle, taken = self.env.now, 0
            while taken < beats:         # the weight port, cycle by cycle
                if self.credit >= self.den:
                    self.credit += self.num - self.den
                    taken += 1
                elif self.credit < self.den:
                    self.credit += self.num
                cycle += 1
            self.clock = cycle       # the last word was taken on cycle - 1
            yield self.env.timeout(cycle - 1 + self.seq["read"] - self.env.now)
        else:
            yield self.env.timeout(self.seq["read"] + beats - 1)
        done.succeed(self.env.now)

    def unit(self, ins, fed: simpy.Event, finished: simpy.Event):
        """Results leave at the rate beats arrive, the last one ``latency`` after
        the last beat; it is written on the next edge."""
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
            fed, finished = self.env.event(), self.env.event()
            self.env.process(self.feeder(ins, beats, fed))
            self.env.process(self.unit(ins, fed, finished))
            yield finished
        yield self.env.timeout(self.seq["retire"])

    def token(self):
        for ins in self.program.instrs:
            yield self.env.process(self.instruction(ins))


def predict(program: Program, timings: dict, rate: tuple[int, int] = (1, 1)) -> float:
    """Cycles per token of ``program`` on the exported design.

    ``rate`` = (num, den): the weight memory delivers num/den words a cycle (it
    earns that much credit each cycle until it holds one word); num >= den means
    it never stalls the feeder (the on-chip ROM).
    """
    run = _Run(program, timings, rate)
    run.env.process(run.token())
    run.env.run()
    return float(run.env.now)
