"""Transaction-level SimPy simulation of decode and prefill steps.

One SimPy process per compute unit walks the lane program in schedule order
(or, with ``overlap.rowwise_with_matvec``, one process per operation starts it
when its inputs are ready and its unit is free). The lanes of a compute unit
run in lock step on one shared weight stream, so they are simulated as one
group: a unit replicated per lane costs one lane's time, a unit shared by the
compute unit costs it once per lane. DRAM channels are bandwidth servers
(``simpy.Resource``) that every compute unit mapped onto them contends for.

When an engine is given (``--numerics full``) the first lane carries the
fixed-point values: each operation's value is computed when its event
completes, in simulated-time order, and activity (zero activations, nonzero
weights met) is counted from those values.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import simpy

from cosim.config.schedule import ScheduleConfig
from cosim.sim.platform import UNITS, Op


@dataclass
class StepResult:
    """What one simulated step (all lanes, one token each) did and how long it took."""

    cycles: float
    lanes: int
    busy: dict[str, float]                  # unit -> busy cycles summed over compute units
    layer_cycles: dict[int, float]          # layer -> cycles (first compute unit)
    events: int
    trace: list[tuple[str, str, str, float, float]] = field(default_factory=list)
    dram_bytes: float = 0.0                 # bytes streamed, all compute units
    active_cus: int = 0
    activation_bytes: float = 0.0           # of dram_bytes: activation loads and stores
    activation_cycles: float = 0.0          # cycles spent on them, summed over compute units
    finish: dict[int, float] = field(default_factory=dict)     # cu -> cycles of its step
    cu_lanes: dict[int, int] = field(default_factory=dict)     # cu -> lanes
    cu_bytes: dict[int, float] = field(default_factory=dict)   # cu -> DRAM bytes of its step
    active_channels: int = 0                # channels of the compute units with lanes
    dram_stall: float = 0.0                 # cycles units waited on DRAM, summed over CUs

    @property
    def tokens_per_cycle(self) -> float:
        """Decode rate: compute units with fewer lanes finish their steps sooner."""
        return sum(self.cu_lanes[k] / c for k, c in self.finish.items() if c)

    @property
    def bytes_per_cycle(self) -> float:
        """DRAM bytes moved per cycle, each compute unit at the pace of its own steps."""
        return sum(self.cu_bytes.get(k, 0.0) / c for k, c in self.finish.items() if c)


class Simulator:
    """Simulates steps of a lane program on a schedule's platform."""

    def __init__(self, program: list[Op], schedule: ScheduleConfig, trace: bool = False):
        self.program = program
        self.schedule = schedule
        self.want_trace = trace
        self.index = {op.name: i for i, op in enumerate(program)}

    def lane_groups(self, lanes: Optional[int]) -> list[int]:
        """Lanes per compute unit: the schedule's, or ``lanes`` spread as evenly as possible."""
        if lanes is None:
            return list(self.schedule.lanes_per_cu)
        cus = self.schedule.compute_units
        return [lanes // cus + (1 if k < lanes % cus else 0) for k in range(cus)]

    def step(self, lanes: Optional[int] = None, scan: int = 1,
             carry: Optional["Carry"] = None) -> StepResult:
        """One token on every lane; ``scan`` > 1 serialises the recurrence (prefill)."""
        s = self.schedule
        env = simpy.Environment()
        groups = self.lane_groups(lanes)
        lanes = sum(groups)
        mem = s.memory
        channels = [simpy.Resource(env, capacity=1) for _ in range(mem.channels)]
        active = [k for k, n in enumerate(groups) if n]
        self._events = 0
        self._busy: dict[str, float] = defaultdict(float)
        self._last_end: dict[tuple[int, str], float] = {}
        self._bytes = 0.0
        self._stall = 0.0
        self._act_bytes = self._act_cycles = 0.0
        self._finish: dict[int, float] = {}
        self._cu_bytes: dict[int, float] = defaultdict(float)
        self._layers: dict[int, float] = defaultdict(float)
        self._trace: list = []
        mine = {k: [c for c in range(mem.channels) if c % s.compute_units == k
                    or (mem.channels < s.compute_units and c == k % mem.channels)]
                for k in active}
        used = {c for k in active for c in mine[k]}
        replicas = self._replicas(active, groups, mine, carry)
        for k, members in replicas.items():
            rate = len(mine[k]) * mem.bytes_per_cycle(s.clock_mhz)
            ctx = _Context(env, k, groups[k], channels[mine[k][0]], rate, scan,
                           carry if k == active[0] else None, members)
            if s.overlap.rowwise_with_matvec:
                self._start_dataflow(ctx)
            else:
                env.process(self._sequential(ctx))
        env.run()
        each = {m: k for k, members in replicas.items() for m in members}
        return StepResult(env.now, lanes, dict(self._busy),
                          dict(self._layers), self._events, self._trace, self._bytes,
                          len(active), self._act_bytes, self._act_cycles,
                          {m: self._finish[k] for m, k in sorted(each.items())},
                          {k: groups[k] for k in active},
                          {m: self._cu_bytes[k] for m, k in sorted(each.items())}, len(used),
                          self._stall)

    def _replicas(self, active, groups, mine, carry) -> dict[int, list[int]]:
        """Compute units to simulate, each with the units it stands for.

        Compute units that share a channel contend, so they form one subsystem;
        with private channels each unit is its own. Subsystems with the same
        lanes and channels per unit never meet and run the same program, so
        one of them is simulated and its counts are multiplied per unit (the
        unit that carries values is always its own).
        """
        subsystems: dict[tuple, list[int]] = {}
        for k in active:
            subsystems.setdefault(tuple(mine[k]), []).append(k)
        alike: dict[tuple, list[list[int]]] = {}
        for units in subsystems.values():
            alone = carry is not None and active[0] in units
            key = (tuple((groups[k], len(mine[k])) for k in units), tuple(units) if alone else ())
            alike.setdefault(key, []).append(units)
        return {k: [units[i] for units in same] for same in alike.values()
                for i, k in enumerate(same[0])}

    # -- one operation ------------------------------------------------------
    def _duration(self, op: Op, ctx: "_Context") -> tuple[float, float]:
        """Cycles of ``op`` for the lane group, and of those the tail after its unit is free.

        Lanes sharing the unit (``per: cu``) follow each other at the unit's issue
        interval; a prefill scan repeats the recurrence, each step waiting for the last.
        """
        per = getattr(self.schedule.units, op.unit).per
        cycles = op.cycles + (ctx.lanes - 1) * op.issue if per == "cu" else op.cycles
        if op.kind == "recurrence":
            cycles *= ctx.scan
        return cycles, op.tail

    def _execute(self, op: Op, ctx: "_Context", release=None):
        """Generator: run ``op`` for the lane group of ``ctx``.

        ``release`` (when the unit is a shared resource) is called once the unit
        accepts the next operation; the op's tail runs on after it.
        """
        start = ctx.env.now
        if op.unit is None:
            ctx.compute(op)
            return
        cycles, tail = self._duration(op, ctx)
        s = self.schedule
        if op.transfers:
            yield from self._transfer(op, ctx)
        begin = ctx.env.now
        if op.weight_bytes and s.onchip.weights == "dram":
            stream = op.weight_bytes / ctx.rate
            wait = 0 if s.overlap.prefetch_weights else s.memory.latency_cycles(s.clock_mhz)
            with ctx.channel.request() as req:
                yield req
                self._events += ctx.weight
                t0 = begin = ctx.env.now
                yield ctx.env.timeout(wait + max(stream, cycles - tail))
                self._events += ctx.weight
            self._bytes += op.weight_bytes * ctx.weight
            self._stall += (ctx.env.now - start - (cycles - tail)) * ctx.weight
            self._cu_bytes[ctx.k] += op.weight_bytes
            self._record(ctx, "dram", op.name, t0, stream + wait)
        else:
            yield ctx.env.timeout(cycles - tail)
            self._events += ctx.weight
        if release is not None:
            release()
        if tail:
            yield ctx.env.timeout(tail)
        self._busy_until(op.unit, ctx, ctx.env.now - cycles)
        if ctx.k == 0 or ctx.first:
            self._layers[op.layer] += ctx.env.now - start
        self._record(ctx, op.unit, op.name, ctx.env.now - cycles, cycles)
        ctx.compute(op)

    def _busy_until(self, unit: str, ctx: "_Context", start: float) -> None:
        """Count the unit busy from ``start`` to now, once where its operations overlap."""
        key = (ctx.k, unit)
        last = self._last_end.get(key, 0.0)
        now = ctx.env.now
        self._busy[unit] += max(0.0, now - max(start, last)) * ctx.weight
        self._last_end[key] = max(last, now)

    def _transfer(self, op: Op, ctx: "_Context"):
        """Generator: move ``op.transfers`` activation vectors of every lane over the channel.

        One load or store carries the vector of each lane of the compute unit, so its
        width grows with the lanes: it takes the longer of one vector-register pass
        and the bytes of all lanes at the channel's sustained rate, plus the latency.
        """
        s = self.schedule
        width = math.ceil(s.numerics.rowwise.bits / 8)
        nbytes = op.transfers * ctx.lanes * op.vector * width
        port = op.transfers * math.ceil(op.vector / s.units.rowwise.elements_per_cycle)
        stream = nbytes / ctx.rate
        busy = max(port, stream) + op.transfers * s.memory.latency_cycles(s.clock_mhz)
        start = ctx.env.now
        with ctx.channel.request() as req:
            yield req
            t0 = ctx.env.now
            yield ctx.env.timeout(busy)
            self._events += ctx.weight
        self._stall += (ctx.env.now - start) * ctx.weight   # waiting for its activations
        self._bytes += nbytes * ctx.weight
        self._cu_bytes[ctx.k] += nbytes
        self._act_bytes += nbytes * ctx.weight
        self._act_cycles += busy * ctx.weight
        self._record(ctx, "dram", f"{op.name} (activations)", t0, busy)

    def _record(self, ctx, track: str, name: str, start: float, dur: float) -> None:
        if self.want_trace:
            self._trace.extend((f"cu{k} ({ctx.lanes} lanes)", track, name, start, dur)
                               for k in ctx.members)

    # -- the two overlap policies ---------------------------------------------
    def _sequential(self, ctx: "_Context"):
        for op in self.program:
            yield from self._execute(op, ctx)
        self._finish[ctx.k] = ctx.env.now

    def _start_dataflow(self, ctx: "_Context") -> None:
        env = ctx.env
        done = {op.name: env.event() for op in self.program}
        units = {u: simpy.Resource(env, capacity=1) for u in UNITS}

        def node(op: Op):
            waits = [done[i] for i in op.inputs if i in done]
            if waits:
                yield env.all_of(waits)
                self._events += ctx.weight
            if op.unit is None:
                ctx.compute(op)
            else:
                req = units[op.unit].request()
                yield req
                yield from self._execute(op, ctx, lambda: units[op.unit].release(req))
            done[op.name].succeed()

        def finish():
            yield env.all_of(list(done.values()))
            self._finish[ctx.k] = env.now

        for op in self.program:
            env.process(node(op))
        env.process(finish())


class _Context:
    """Per compute unit state of one step; ``members``: the identical units it stands for."""

    def __init__(self, env, k, lanes, channel, rate, scan, carry, members):
        self.env, self.k, self.lanes, self.channel = env, k, lanes, channel
        self.rate, self.scan, self.carry = rate, scan, carry
        self.first = carry is not None
        self.members, self.weight = members, len(members)

    def compute(self, op: Op) -> None:
        if self.carry is not None:
            self.carry.compute(op)


class Carry:
    """Fixed-point values travelling with the events of one lane, and their activity.

    ``engine`` is a numeric engine (normally the fixed-point golden model); each
    operation's value is computed when the simulator completes its event.
    """

    def __init__(self, engine: Any, nonzero_per_column: dict[str, np.ndarray]):
        self.engine = engine
        self.nodes = dict(engine.order)
        self.nonzero_per_column = nonzero_per_column
        self.values: dict[str, Any] = {}
        self.last: Any = None
        self.counts: dict[str, float] = defaultdict(float)

    def begin(self, token: int) -> None:
        """Start a token: the engine's embedding reads it."""
        self.engine.token = token
        self.values = {}

    def compute(self, op: Op) -> None:
        node = self.nodes[op.name]
        value = self.engine.ops[node["kind"]](node, *(self.values[i] for i in node["inputs"]))
        self.values[op.name] = self.last = value
        if op.host:
            return
        if node["kind"] == "quantize":
            q = np.asarray(value[0])
            self.counts["activations"] += q.size
            self.counts["zero_activations"] += int(np.count_nonzero(q == 0))
        elif node["kind"] == "matvec":
            q = np.asarray(self.values[node["inputs"][0]][0])
            cols = self.nonzero_per_column[node["param"]]
            self.counts["dense_adds"] += node["ternary_adds"]
            self.counts["useful_adds"] += float(cols[q != 0].sum())
            self.counts["nonzero_weights"] += float(cols.sum())
