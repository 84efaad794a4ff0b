"""One accelerator design, from model and schedule to Verilog text, images and vectors.

:func:`make` compiles the program, builds the golden model, converts the MyHDL
top to Verilog (text, with no path or date in it) and produces every memory
image and the bench's stimulus and expected outputs, as strings keyed by file
name; the caller writes them (rtl.export), so two builds of one design give
byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cosim.config.model import ModelConfig
from cosim.config.schedule import ScheduleConfig
from cosim.graph import build_graph
from cosim.numerics.engines import FixedEngine
from cosim.program import Program, compile_program
from cosim.sim.program_timing import predict
from rtl.accel import bench
from rtl.accel.encode import Design, constants, design, instruction_words, weight_words
from rtl.accel.memory import hex_image
from rtl.accel.modules import Module, hide_unit_insides, modules_of
from rtl.accel.timing import measure
from rtl.accel.top import FILES, build
from rtl.harness import elaborate, verilog_text, waive_widths

#: the bench gives up after this many times the predicted cycles (random back-pressure
#: stalls each port at most a quarter of the time)
BENCH_SLACK = 4
#: denominator of the weight memory's rate in words per cycle
RATE_DEN = 1024
#: tokens of lane k are the --tokens shifted by this stride (mod vocab), so lanes differ
LANE_STRIDE = 37


@dataclass
class Build:
    """A design and the text of every file that describes and checks it."""

    design: Design
    engine: FixedEngine
    lane_tokens: list[list[int]]
    expected: np.ndarray                     # [lanes, tokens, out] raw fixed-point
    timings: dict                            # measured unit timings (rtl.accel.timing)
    predicted: float                         # SimPy cycles per token
    files: dict[str, str] = field(default_factory=dict)
    units: dict[str, Module] = field(default_factory=dict)   # unit modules the top uses

    @property
    def sources(self) -> list[str]:
        """The Verilog files of the design, dependencies first (``files.f``)."""
        return [f"{m}.v" for m in self.units] + [f"{self.top}.v"]

    @property
    def top(self) -> str:
        return self.design.name()

    @property
    def program(self) -> Program:
        return self.design.program


def lane_tokens(tokens: list[int], lanes: int, vocab: int) -> list[list[int]]:
    """Lane 0 decodes ``tokens``; lane k the same shifted by k * LANE_STRIDE."""
    return [[(t + k * LANE_STRIDE) % vocab for t in tokens] for k in range(lanes)]


def golden_outputs(engine: FixedEngine, node: str, tokens: list[list[int]]) -> np.ndarray:
    """The golden model's value of ``node`` per lane and token, state carried per lane."""
    out = []
    for seq in tokens:
        engine.reset()
        seen: dict = {}
        rows = []
        for t in seq:
            engine.step(t, observe=lambda n, d, v: seen.__setitem__(n, v) if n == node else None)
            rows.append(np.asarray(seen[node], np.int64))
        out.append(rows)
    engine.reset()
    return np.array(out, dtype=np.int64)


def pack_lanes(values: np.ndarray, bits: int) -> list[int]:
    """[lanes, beats] of signed values -> one word per beat, lane 0 in the low bits."""
    mask = (1 << bits) - 1
    words = []
    for beat in values.T:
        w = 0
        for k, v in enumerate(beat):
            w |= (int(v) & mask) << (k * bits)
        words.append(w)
    return words


def unpack_lanes(words: list[int], lanes: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_lanes`: [lanes, beats] of signed values."""
    mask, top = (1 << bits) - 1, 1 << (bits - 1)
    out = np.zeros((lanes, len(words)), np.int64)
    for j, w in enumerate(words):
        for k in range(lanes):
            v = (w >> (k * bits)) & mask
            out[k, j] = v - (top << 1) if v >= top else v
    return out


def weight_rate(d: Design) -> tuple[int, int]:
    """Weight words a cycle the schedule's memory sustains, as a fraction (n, RATE_DEN),
    at most one: what the bench's memory model delivers (the ROM: always one)."""
    if d.resident:
        return (RATE_DEN, RATE_DEN)
    mem = d.schedule.memory
    words = mem.channels * mem.bytes_per_cycle(d.schedule.clock_mhz) / (2 * d.tp / 8)
    return (max(1, min(RATE_DEN, round(words * RATE_DEN))), RATE_DEN)


def make(cfg: ModelConfig, schedule: ScheduleConfig, weights, tokens: list[int],
         lanes: int | None = None, *, seed: int = 0xACE1, verilog: bool = True) -> Build:
    """Everything of one design: program, golden vectors, images, Verilog and bench."""
    graph = build_graph(cfg, schedule.numerics)
    program = compile_program(graph, cfg, schedule)
    engine = FixedEngine(graph, cfg, weights, schedule.numerics)
    d = design(program, cfg, schedule, lanes)
    bits = schedule.numerics.rowwise.bits
    seqs = lane_tokens(tokens, d.lanes, cfg.vocab_size)
    expected = golden_outputs(engine, program.out_node, seqs)
    stim = np.array([[v for t in seq for v in engine.fx.to_fixed(engine.embeddings[t], "embed")]
                     for seq in seqs], np.int64)
    timings = measure(d)
    rate = weight_rate(d)
    b = Build(d, engine, seqs, expected, timings, predict(program, timings, rate))
    top, ports = build(d, engine)
    dw = d.lanes * bits
    layout = d.layout()
    instr = instruction_words(d, engine)
    b.files[FILES["instr"]] = hex_image(instr, layout.width, len(instr))
    b.files[FILES["const"]] = hex_image(constants(d, engine), bits, d.cdepth)
    b.files[FILES["weights"]] = hex_image(weight_words(d, engine), 2 * d.tp, d.wdepth)
    b.files["stimulus.hex"] = hex_image(pack_lanes(stim, bits), dw, stim.shape[1])
    flat = expected.reshape(d.lanes, -1)
    b.files["expected.hex"] = hex_image(pack_lanes(flat, bits), dw, flat.shape[1])
    if verilog:
        inst = elaborate(lambda: top(**ports))
        hide_unit_insides(inst)
        text = verilog_text(inst, b.top)
        b.units = modules_of(inst)
        b.files.update({f"{m.name}.v": m.text for m in b.units.values()})
        b.files[f"{b.top}.v"] = waive_widths(text, {m.name: m.text for m in b.units.values()})
    n_tok = len(tokens)
    b.files[f"{bench.BENCH_NAME}.v"] = bench.bench_text(
        b.top, lanes=d.lanes, bits=bits, in_beats=program.in_size,
        out_beats=program.out_size, tokens=n_tok,
        limit=int(BENCH_SLACK * b.predicted) * n_tok + 1000,
        streamed=not d.resident, wwidth=2 * d.tp, waddr=(d.wdepth - 1).bit_length(),
        wdepth=d.wdepth, rate=rate, seed=seed)
    return b
