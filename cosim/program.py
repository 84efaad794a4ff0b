"""The lane program: the dataflow graph compiled into vector instructions.

One instruction per graph node that runs on the accelerator, in graph order,
each naming the unit that executes it and the vector-register addresses it
reads and writes. The RTL sequencer (``rtl.accel``) executes it from an
instruction ROM, the SimPy model (``cosim.sim.program_timing``) times it, and
:func:`execute` runs it on the golden operations of
:class:`cosim.numerics.fixed.FixedPoint`, so one description drives the three
levels. Nothing here knows about Verilog; unit opcodes and field widths are the
hardware's business.

Instructions (``op``):

- ``in``: the host's vector (the embedding row) into ``dst``;
- ``rmsnorm``: ``dst = rmsnorm(vreg[a], const[b])``;
- ``quantize``: the q buffer and absmax of ``vreg[a]``;
- ``matvec``: ``dst = dequantize(W @ q)``, ``rows`` x ``cols`` ternary weights
  read from weight word ``wbase`` (``cols / tp`` words per row), scaled by
  (``mantissa``, ``shift``) and the latest absmax;
- ``row``: element-wise ``kind`` (add, mul, one_minus, sigmoid, silu,
  lower_bound, recurrence) of ``vreg[a]``, ``vreg[b]`` (or ``const[b]`` when
  ``b_const``) and, for the recurrence, the lane's ``state[state]``, which it
  also updates;
- ``out``: ``vreg[a]`` to the host (the final hidden state, or logits when
  lm_head runs on chip).

Addresses are in elements. The split of the GLU's gate/up vector costs
nothing: its halves are address offsets of the gate_proj result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from cosim.config.model import ModelConfig
from cosim.config.schedule import ScheduleConfig
from cosim.errors import ConfigError
from cosim.graph import ordered
from cosim.numerics.engines import FixedEngine
from cosim.numerics.fixed import FixedPoint

ROW_KINDS = ("add", "mul", "one_minus", "sigmoid", "silu", "lower_bound", "recurrence")
OPS = ("in", "rmsnorm", "quantize", "matvec", "row", "out")


@dataclass(frozen=True)
class Instr:
    """One vector instruction; unused fields are 0."""

    op: str
    unit: str
    name: str
    n: int
    a: int = 0
    b: int = 0
    b_const: bool = False
    dst: int = 0
    kind: str = ""
    state: int = 0
    rows: int = 0
    cols: int = 0
    wbase: int = 0
    param: str = ""


@dataclass(frozen=True)
class Program:
    """A compiled lane program and the memories it addresses."""

    instrs: tuple[Instr, ...]
    tp: int
    vreg_words: int                 # vector-register elements per lane
    state_words: int                # recurrent-state elements per lane
    weight_words: int               # words of tp 2-bit codes
    const: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (base, n)
    const_words: int = 0
    in_size: int = 0
    out_size: int = 0
    out_node: str = ""

    @property
    def units(self) -> tuple[str, ...]:
        """Unit instances the program uses, in first-use order."""
        seen: dict[str, None] = {}
        for ins in self.instrs:
            seen.setdefault(ins.unit, None)
        return tuple(seen)

    def sizes(self, op: str) -> tuple[int, ...]:
        """Distinct vector lengths of instructions ``op`` (one unit instance each)."""
        return tuple(sorted({i.n for i in self.instrs if i.op == op}))


def _on_host(name: str, host: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in host)


class _Allocator:
    """First-fit allocation of vector registers, freed after a value's last use."""

    def __init__(self):
        self.free: list[tuple[int, int]] = []       # (base, size), sorted
        self.top = 0

    def take(self, size: int) -> int:
        for k, (base, room) in enumerate(self.free):
            if room >= size:
                if room == size:
                    del self.free[k]
                else:
                    self.free[k] = (base + size, room - size)
                return base
        base, self.top = self.top, self.top + size
        return base

    def give(self, base: int, size: int) -> None:
        self.free.append((base, size))
        self.free.sort()
        merged: list[tuple[int, int]] = []
        for b, s in self.free:
            if merged and merged[-1][0] + merged[-1][1] == b:
                merged[-1] = (merged[-1][0], merged[-1][1] + s)
            else:
                merged.append((b, s))
        self.free = merged


def compile_program(graph: nx.DiGraph, cfg: ModelConfig, schedule: ScheduleConfig
                    ) -> Program:
    """The lane program of ``graph`` on ``schedule`` (host nodes stay on the host)."""
    tp = schedule.units.matvec.tp
    host = tuple(schedule.host) + ("model.embeddings",)
    names = [n for n in ordered(graph) if not _on_host(n, host)
             and graph.nodes[n]["kind"] != "constant"]
    if not names:
        raise ConfigError("schedule.host leaves nothing for the accelerator to run")
    for n in names:
        d = graph.nodes[n]
        if d["kind"] == "matvec" and d["shape"][1] % tp:
            raise ConfigError(f"schedule.units.matvec.tp must divide every mat-vec's "
                              f"columns ({n} has {d['shape'][1]}), not {tp}")
    # consumers of each value inside the program (the split's halves count for their source)
    source = {n: (graph.nodes[n]["inputs"][0] if graph.nodes[n]["kind"] == "split" else n)
              for n in names}
    last_use: dict[str, int] = {}
    for k, n in enumerate(names):
        for i in graph.nodes[n]["inputs"]:
            last_use[source.get(i, i)] = k
    out_node = names[-1]
    first = graph.nodes[names[0]]["inputs"]
    in_node = first[0] if first else None
    const: dict[str, tuple[int, int]] = {}
    alloc = _Allocator()
    addr: dict[str, int] = {}
    instrs: list[Instr] = []
    state = {}
    wbase = 0
    if in_node is None or graph.nodes[in_node]["kind"] != "embed":
        raise ConfigError("the accelerator's program must start after the embedding "
                          "(schedule.host may name model.embeddings, model.norm, lm_head)")
    h = graph.nodes[in_node]["size"]
    addr[in_node] = alloc.take(h)
    instrs.append(Instr("in", "host", in_node, h, dst=addr[in_node]))

    def cbase(name: str, size: int) -> int:
        if name not in const:
            const[name] = (sum(s for _, s in const.values()), size)
        return const[name][0]

    for k, n in enumerate(names):
        d = graph.nodes[n]
        kind, size, ins = d["kind"], d["size"], d["inputs"]
        if kind == "split":
            addr[n] = addr[ins[0]] + d["part"] * size
            continue
        if kind == "quantize":
            instrs.append(Instr("quantize", f"quantize{size}", n, size, a=addr[ins[0]]))
        elif kind == "matvec":
            continue        # fused with its dequantize
        else:
            dst = alloc.take(size)
            addr[n] = dst
            if kind == "rmsnorm":
                instrs.append(Instr("rmsnorm", f"rmsnorm{size}", n, size, a=addr[ins[0]],
                                    b=cbase(d["param"], size), b_const=True, dst=dst))
            elif kind == "dequantize":
                mv = graph.nodes[ins[0]]
                rows, cols = mv["shape"]
                instrs.append(Instr("matvec", "matvec", n, rows, dst=dst, rows=rows, cols=cols,
                                    wbase=wbase, param=d["param"]))
                wbase += rows * cols // tp
            elif kind == "lower_bound":
                lb = cbase(f"model.lower_bounds.{d['layer']}", size)
                instrs.append(Instr("row", "rowwise", n, size, a=addr[ins[1]], b=lb,
                                    b_const=True, dst=dst, kind=kind))
            elif kind in ROW_KINDS:
                a = addr[ins[0]]
                b = addr[ins[1]] if len(ins) > 1 else 0
                st = 0
                if kind == "recurrence":
                    st = state.setdefault(d["layer"], len(state) * size)
                instrs.append(Instr("row", "rowwise", n, size, a=a, b=b, dst=dst, kind=kind,
                                    state=st))
            else:
                raise ConfigError(f"graph node {n}: kind {kind!r} has no accelerator "
                                  "instruction")
        for i in set(ins):
            src = source.get(i, i)
            if last_use.get(src) == k and src in addr and src != out_node:
                alloc.give(addr[src], graph.nodes[src]["size"])
    out_size = graph.nodes[out_node]["size"]
    instrs.append(Instr("out", "host", out_node, out_size, a=addr[out_node]))
    return Program(tuple(instrs), tp, alloc.top, sum(1 for _ in state) * h, wbase, const,
                   sum(s for _, s in const.values()), h, out_size, out_node)


def const_image(program: Program, engine: FixedEngine) -> np.ndarray:
    """The constant memory: norm weights and lower bounds in the row-wise format."""
    image = np.zeros(program.const_words, dtype=np.int64)
    for name, (base, size) in program.const.items():
        if name.startswith("model.lower_bounds."):
            value = engine.lb[int(name.rsplit(".", 1)[1])]
        else:
            value = engine.vectors[name]
        image[base:base + size] = value
    return image


@dataclass
class LaneState:
    """What one lane keeps between instructions and tokens."""

    vreg: np.ndarray
    state: np.ndarray
    q: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    absmax: int = 1


def execute(program: Program, engine: FixedEngine, lane: LaneState, x: np.ndarray,
            fx: FixedPoint | None = None) -> np.ndarray:
    """Run one token of ``program`` on the golden operations; the ``out`` vector.

    ``x`` is the host's input vector (the fixed-point embedding row). ``engine``
    supplies the weights as the golden model holds them (fixed vectors, lower
    bounds, ternary matrices and their scales); its own state is not touched.
    """
    fx = fx or engine.fx
    cmem = const_image(program, engine)
    v, variant = lane.vreg, engine.cfg.variant
    out = None
    for ins in program.instrs:
        a = v[ins.a:ins.a + ins.n]
        if ins.op == "in":
            v[ins.dst:ins.dst + ins.n] = x
            continue
        if ins.op == "out":
            out = a.copy()
            continue
        src_b = cmem if ins.b_const else v
        b = src_b[ins.b:ins.b + ins.n]
        if ins.op == "rmsnorm":
            y = fx.rmsnorm(a, b, engine.cfg.rms_norm_eps)
        elif ins.op == "quantize":
            lane.q, lane.absmax = fx.quantize(a)
            continue
        elif ins.op == "matvec":
            acc = fx.matvec(lane.q, engine.weights.ternary[ins.param].matrix)
            y = fx.dequantize(acc, lane.absmax, engine.scales[ins.param])
        elif ins.kind == "recurrence":
            h = lane.state[ins.state:ins.state + ins.n]
            y = fx.recurrence(a, b, h, variant)
            lane.state[ins.state:ins.state + ins.n] = y
        elif ins.kind == "lower_bound":
            y = fx.lower_bound(a, b)
        elif ins.kind in ("one_minus", "sigmoid", "silu"):
            y = getattr(fx, ins.kind)(a)
        else:
            y = getattr(fx, ins.kind)(a, b)
        v[ins.dst:ins.dst + ins.n] = y
    return out


def new_lane(program: Program) -> LaneState:
    """A lane at the start of a sequence: zero registers and state."""
    return LaneState(np.zeros(program.vreg_words, np.int64),
                     np.zeros(program.state_words, np.int64))
