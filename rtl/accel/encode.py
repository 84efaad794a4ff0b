"""The lane program as hardware sees it: instruction words, memory sizes, images.

The instruction word is an :class:`rtl.stream.Layout`, so the encoder, the
sequencer's field slices and the export's README all read one description.
Memories are sized to powers of two so that every address the sequencer forms
wraps inside its memory (an unused operand's address is don't-care, never out
of range).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.config.model import ModelConfig
from cosim.config.schedule import ScheduleConfig
from cosim.errors import ConfigError
from cosim.numerics.engines import FixedEngine
from cosim.program import Program, const_image
from rtl.matvec import ENCODE
from rtl.rowwise import (
    ADD,
    LOWER_BOUND,
    MUL,
    ONE_MINUS,
    RECUR_PAPER,
    RECUR_RELEASED,
    SIGMOID,
    SILU,
)
from rtl.stream import Field, Layout

#: instruction opcodes
OPCODES = {"in": 0, "rmsnorm": 1, "quantize": 2, "matvec": 3, "row": 4, "out": 5}
ROW_CODES = {"add": ADD, "mul": MUL, "one_minus": ONE_MINUS, "sigmoid": SIGMOID,
             "silu": SILU, "lower_bound": LOWER_BOUND}
SHIFT_BITS = 6


def pow2(n: int) -> int:
    """The smallest power of two >= max(n, 2)."""
    return 1 << max(1, (max(n, 1) - 1).bit_length())


def bits_for(n: int) -> int:
    """Address bits of a power-of-two depth ``n``."""
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True)
class Design:
    """Everything the top level is built from: program, sizes, formats, lanes."""

    program: Program
    cfg: ModelConfig
    schedule: ScheduleConfig
    lanes: int
    resident: bool

    @property
    def numerics(self):
        return self.schedule.numerics

    @property
    def tp(self) -> int:
        return self.program.tp

    @property
    def vdepth(self) -> int:
        return pow2(self.program.vreg_words)

    @property
    def sdepth(self) -> int:
        return pow2(self.program.state_words)

    @property
    def cdepth(self) -> int:
        return pow2(self.program.const_words)

    @property
    def wdepth(self) -> int:
        return pow2(self.program.weight_words)

    @property
    def qdepth(self) -> int:
        return pow2(max(i.cols for i in self.program.instrs) // self.tp)

    @property
    def max_cols(self) -> int:
        return max(i.cols for i in self.program.instrs)

    @property
    def rms_sizes(self) -> tuple[int, ...]:
        return self.program.sizes("rmsnorm")

    @property
    def quant_sizes(self) -> tuple[int, ...]:
        return self.program.sizes("quantize")

    def layout(self) -> Layout:
        """The instruction word."""
        p = self.program
        beats = max(_beats(i, self.tp) for i in p.instrs)
        n = max(i.n for i in p.instrs)
        units = max(len(self.rms_sizes), len(self.quant_sizes), 1)
        return Layout(
            Field("op", 3), Field("unit", bits_for(pow2(units))), Field("kind", 3),
            Field("bconst", 1),
            Field("a", bits_for(self.vdepth)),
            Field("b", bits_for(max(self.vdepth, self.cdepth))),
            Field("dst", bits_for(self.vdepth)), Field("state", bits_for(self.sdepth)),
            Field("n", (n + 1).bit_length()), Field("total", (beats + 1).bit_length()),
            Field("bpr", (self.qdepth + 1).bit_length()),
            Field("wbase", bits_for(self.wdepth)),
            Field("mant", self.numerics.scale_bits), Field("shm1", SHIFT_BITS))

    def name(self) -> str:
        """Module name with the design's parameters in it."""
        c = self.cfg
        mode = "res" if self.resident else "str"
        return (f"accel_{c.name}_{c.variant}_h{c.hidden_size}_l{c.num_hidden_layers}"
                f"_tp{self.tp}_lanes{self.lanes}_{mode}").replace("-", "_").replace(".", "_")


def _beats(ins, tp: int) -> int:
    return ins.rows * (ins.cols // tp) if ins.op == "matvec" else ins.n


def design(program: Program, cfg: ModelConfig, schedule: ScheduleConfig,
           lanes: int | None = None) -> Design:
    """The design of ``program`` on ``schedule``: all its lanes on one weight stream
    (``lanes`` overrides the schedule's total)."""
    return Design(program, cfg, schedule, lanes or schedule.total_lanes,
                  schedule.onchip.weights == "onchip")


def instruction_words(d: Design, engine: FixedEngine) -> list[int]:
    """The instruction ROM image."""
    layout = d.layout()
    words = []
    for ins in d.program.instrs:
        beat = {"op": OPCODES[ins.op], "bconst": int(ins.b_const), "a": ins.a, "b": ins.b,
                "dst": ins.dst, "state": ins.state, "n": ins.n, "total": _beats(ins, d.tp)}
        if ins.op == "rmsnorm":
            beat["unit"] = d.rms_sizes.index(ins.n)
        elif ins.op == "quantize":
            beat["unit"] = d.quant_sizes.index(ins.n)
        elif ins.op == "matvec":
            scale = engine.scales[ins.param]
            if not 1 <= scale.shift <= (1 << SHIFT_BITS):
                raise ConfigError(f"weight scale of {ins.param}: shift {scale.shift} is "
                                  f"outside [1, {1 << SHIFT_BITS}]")
            beat.update(bpr=ins.cols // d.tp, wbase=ins.wbase, mant=scale.mantissa,
                        shm1=scale.shift - 1)
        elif ins.op == "row":
            if ins.kind == "recurrence":
                beat["kind"] = RECUR_PAPER if d.cfg.variant == "paper" else RECUR_RELEASED
            else:
                beat["kind"] = ROW_CODES[ins.kind]
        words.append(layout.pack(beat))
    return words


def weight_words(d: Design, engine: FixedEngine) -> list[int]:
    """The weight memory: per mat-vec, row by row, tp 2-bit codes per word (code k
    of a word is column k of its beat, in bits 2k+1:2k)."""
    words: list[int] = []
    for ins in d.program.instrs:
        if ins.op != "matvec":
            continue
        matrix = engine.weights.ternary[ins.param].matrix.astype(np.int64)
        codes = np.vectorize(ENCODE.get)(matrix).reshape(ins.rows, ins.cols // d.tp, d.tp)
        shifts = (2 * np.arange(d.tp)).astype(object)
        for row in codes.astype(object):
            words.extend(int(np.sum(beat << shifts)) for beat in row)
    return words


def constants(d: Design, engine: FixedEngine) -> list[int]:
    """The constant memory: norm weights and lower bounds."""
    return [int(v) for v in const_image(d.program, engine)]
