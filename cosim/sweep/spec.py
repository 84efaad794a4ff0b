"""The sweep file: models, a base schedule, axes of ``--set`` keys, a sampler, objectives.

A sweep file is one more frozen config section built by ``cosim.config.schema``
(same error shape, same did-you-mean). Its axes are dotted ``--set`` keys; each
value of each axis is checked by loading the model and schedule with that
override through ``cosim.config`` (the parser and schema ``cosim.run`` uses),
so a bad key or value stops the sweep before any point is evaluated. Rules that
only a whole point can break (TP against the hidden size, lanes against on-chip
memory) make that point infeasible instead.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Optional

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.config.load import parse_assignments, read_yaml
from cosim.config.schema import build, closest, fail, spec
from cosim.errors import ConfigError

#: a range or log range may not expand to more values than this
MAX_AXIS_VALUES = 10_000


class Metric(NamedTuple):
    """A number read from the simulation report, and what must run to have it."""

    path: str                 # dotted path into the cosim.run report
    needs: Optional[str]      # None, "prefill" or "fidelity"
    doc: str


#: what objectives and limits may name (explicit, so a typo is caught before work)
METRICS: dict[str, Metric] = {
    "tokens_per_s": Metric("decode.tokens_per_s", None, "decoded tokens/s, all lanes"),
    "latency_ms": Metric("decode.latency_ms", None, "time of one decode step"),
    "joules_per_token": Metric("energy.joules_per_token", None, "J per decoded token"),
    "tokens_per_joule": Metric("energy.tokens_per_joule", None, "decoded tokens per J"),
    "power_w": Metric("power.total_w", None, "static + dynamic power"),
    "static_w": Metric("power.static_w", None, "static power"),
    "dynamic_joules_per_token": Metric("energy.dynamic_joules_per_token", None,
                                       "dynamic J per decoded token"),
    "lanes": Metric("decode.lanes", None, "sequences decoded together (the batch)"),
    "fits": Metric("fit.fits", None, "1 if the design fits the device, 0 if not, empty "
                                     "if unknown"),
    "luts": Metric("fit.resources.lut.used", None, "LUTs of the units and control"),
    "ffs": Metric("fit.resources.ff.used", None, "flip-flops of the units and control"),
    "dsps": Metric("fit.resources.dsp.used", None, "DSP blocks"),
    "brams": Metric("fit.resources.bram.used", None, "block RAMs"),
    "lut_utilization": Metric("fit.resources.lut.utilization", None,
                              "share of the device's LUTs"),
    "memory_utilization": Metric("memory.utilization", None, "DRAM channel time busy"),
    "prefill_tokens_per_s": Metric("prefill.tokens_per_s", "prefill", "prompt tokens/s"),
    "prompt_ms": Metric("prefill.prompt_ms", "prefill", "time to read the prompt"),
    "top1_agreement": Metric("numerics.top1_agreement", "fidelity",
                             "fixed-point vs float top-1 agreement"),
    "cosine_min": Metric("numerics.cosine_min", "fidelity", "worst logit cosine"),
    "max_abs_err": Metric("numerics.max_abs_err", "fidelity", "worst logit error"),
}
#: always recorded, whatever the objectives
BASE_METRICS = ("tokens_per_s", "joules_per_token", "power_w", "latency_ms", "lanes",
                "static_w", "dynamic_joules_per_token", "fits", "luts", "lut_utilization")


@dataclass(frozen=True)
class Sampler:
    """Which points of the axes' product are evaluated."""

    kind: Literal["grid", "random", "nsga2"] = spec(
        "grid", doc="'grid': every combination; 'random': count distinct combinations; "
                    "'nsga2': Optuna's NSGA-II multi-objective search over count trials")
    count: int = spec(100, doc="points drawn (random) or trials (nsga2)", gt=0)
    seed: int = spec(0, doc="seed of the random choices", ge=0)
    population: int = spec(24, doc="NSGA-II population of each generation", ge=2)


@dataclass(frozen=True)
class Bound:
    """Limits on one metric; a point outside them is infeasible."""

    min: Optional[float] = spec(None, doc="smallest allowed value")
    max: Optional[float] = spec(None, doc="largest allowed value")


@dataclass(frozen=True)
class Constraints:
    """What makes a point infeasible (it is still recorded, with the reason)."""

    fit: bool = spec(True, doc="the design must fit the device (the report's fit section)")
    limits: dict[str, Bound] = spec(
        default_factory=dict, doc="metric -> {min, max}, e.g. power_w: {max: 225}")


@dataclass(frozen=True)
class SweepConfig:
    """A design-space sweep: what to vary, how to pick points, what is best."""

    name: str = spec(doc="a label; also names the default output folder")
    models: tuple[Path, ...] = spec(doc="model YAMLs (paths relative to this file)")
    objectives: dict[str, Literal["min", "max"]] = spec(
        doc="metric -> min or max, e.g. {tokens_per_s: max, joules_per_token: min}")
    schedule: Optional[Path] = spec(None, doc="base schedule YAML; null: each model's own")
    set: tuple[str, ...] = spec((), doc="KEY=VALUE overrides applied to every point")
    axes: dict[str, Any] = spec(
        default_factory=dict, doc="--set key -> a list of values, {range: [start, stop, "
                                  "step]} or {log: [start, stop, count]}")
    sampler: Sampler = field(default_factory=Sampler, metadata={"doc": "point choice"})
    constraints: Constraints = field(default_factory=Constraints,
                                     metadata={"doc": "feasibility"})
    fidelity_tokens: int = spec(16, doc="tokens of the fixed prompt fidelity is measured on",
                                ge=1, le=4096)

    def check(self, key: str) -> None:
        """Metric names and axis shapes; axis values are checked by :func:`plan`."""
        if not self.models:
            fail(f"{key}.models", "a list of at least one model YAML", [])
        if not self.objectives:
            fail(f"{key}.objectives", "a mapping of at least one metric to min or max", {})
        for where, names in ((f"{key}.objectives", self.objectives),
                             (f"{key}.constraints.limits", self.constraints.limits)):
            for name in names:
                if name not in METRICS:
                    raise ConfigError(f"{where}.{name} is not a metric{closest(name, METRICS)};"
                                      f" metrics: {', '.join(METRICS)}")
        for name, bound in self.constraints.limits.items():
            if bound.min is None and bound.max is None:
                fail(f"{key}.constraints.limits.{name}", "a mapping with min and/or max",
                     {})
        for name, values in self.axes.items():
            axis_values(values, f"{key}.axes.{name}")


def axis_values(raw: Any, key: str) -> list:
    """The values of one axis: a list, ``{range: [a, b(, step)]}`` or ``{log: [a, b, n]}``."""
    if isinstance(raw, list):
        if not raw:
            fail(key, "a non-empty list, {range: [start, stop, step]} or "
                      "{log: [start, stop, count]}", raw)
        return list(raw)
    if not (isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) in ("range", "log")):
        fail(key, "a list, {range: [start, stop, step]} or {log: [start, stop, count]}", raw)
    kind, args = next(iter(raw.items()))
    shape = "[start, stop] or [start, stop, step]" if kind == "range" else \
        "[start, stop, count]"
    if not (isinstance(args, list) and len(args) in ((2, 3) if kind == "range" else (3,))
            and all(isinstance(a, (int, float)) and not isinstance(a, bool)
                    and math.isfinite(a) for a in args)):
        fail(f"{key}.{kind}", f"a list of numbers {shape}", args)
    if kind == "range":
        start, stop, step = (*args, 1) if len(args) == 2 else args
        if step <= 0 or stop < start:
            fail(f"{key}.range", "[start, stop, step] with start <= stop and step > 0", args)
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        values = [start + i * step for i in range(min(count, MAX_AXIS_VALUES + 1))]
    else:
        start, stop, count = args
        if not (0 < start < stop and isinstance(count, int) and count >= 2):
            fail(f"{key}.log", "[start, stop, count] with 0 < start < stop and count >= 2",
                 args)
        ratio = (stop / start) ** (1 / (count - 1))
        values = [start * ratio ** i for i in range(min(count, MAX_AXIS_VALUES + 1))]
    if len(values) > MAX_AXIS_VALUES:
        fail(key, f"at most {MAX_AXIS_VALUES} values", raw)
    integral = all(isinstance(a, int) for a in args)
    values = [round(v) if integral else float(f"{v:.12g}") for v in values]
    return list(dict.fromkeys(values))     # a log range of integers can repeat


def render(value: Any, key: str) -> str:
    """``value`` as the text after ``KEY=`` that ``--set`` parses back to ``value``."""
    def parsed(text: str) -> Any:
        return parse_assignments([f"x={text}"])["x"]

    text = value if isinstance(value, str) and parsed(value) == value else json.dumps(value)
    if parsed(text) != value:
        fail(key, "a value that --set can express", value)
    return text


@dataclass(frozen=True)
class Point:
    """One design: a model and a value per axis, and the hash that keys it in the store."""

    model: str                       # model YAML, absolute path
    values: tuple[tuple[str, Any], ...]
    key: str

    def sets(self, plan: "Plan") -> list[str]:
        """The ``--set`` items of this point, after the sweep's own."""
        return list(plan.base_set) + [f"{k}={render(v, k)}" for k, v in self.values]


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs to evaluate points; picklable, built once per sweep."""

    name: str
    schedules: dict[str, Optional[str]]      # model path -> --schedule path (None: its own)
    texts: dict[str, str]                    # model path -> model + schedule YAML text
    base_set: tuple[str, ...]
    axes: tuple[tuple[str, tuple], ...]      # (key, values); "model" is not an axis
    models: tuple[str, ...]
    metrics: tuple[str, ...]
    objectives: dict[str, str]
    limits: dict[str, tuple[Optional[float], Optional[float]]]
    fit: bool
    prefill: bool
    tokens: dict[str, Optional[tuple[int, ...]]]   # model path -> fidelity prompt or None
    sampler: Sampler

    def point(self, model: str, values: tuple) -> Point:
        """The point of ``model`` with one value per axis, in axis order."""
        pairs = tuple((k, v) for (k, _), v in zip(self.axes, values))
        blob = json.dumps({"texts": self.texts[model],
                           "set": list(self.base_set), "point": pairs,
                           "prefill": self.prefill, "tokens": self.tokens[model]},
                          sort_keys=True, default=str)
        return Point(model, pairs, hashlib.sha256(blob.encode()).hexdigest()[:24])

    def command(self, point: Point, cwd: Path | None = None) -> str:
        """The ``cosim.run`` line that reproduces ``point``."""
        args = ["python", "-m", "cosim.run", _rel(point.model, cwd)]
        if self.schedules[point.model]:
            args += ["--schedule", _rel(self.schedules[point.model], cwd)]
        for item in point.sets(self):
            args += ["--set", item]
        tokens = self.tokens[point.model]
        args += ["--numerics", "full" if tokens else "off"]
        if tokens:
            args += ["--tokens", ",".join(map(str, tokens))]
        return shlex.join(args)

    @property
    def size(self) -> int:
        """Points in the full product of models and axes."""
        return len(self.models) * math.prod(len(v) for _, v in self.axes)


def _rel(path: str, cwd: Path | None) -> str:
    try:
        return str(Path(path).relative_to((cwd or Path.cwd()).resolve()))
    except ValueError:
        return path


def load_sweep(path: Path) -> SweepConfig:
    """The validated sweep file (shape only; :func:`plan` checks axis values)."""
    return build(SweepConfig, read_yaml(path), "sweep", Path(path).resolve().parent)


def plan(path: Path) -> Plan:
    """Read a sweep file and check every axis value against every model, before any work.

    A bad value gets a one-line ConfigError naming the sweep file, the axis and
    the value; loading the model and schedule with each single override is
    what ``cosim.run --set`` would do, so the two can never disagree.
    """
    sweep = load_sweep(path)
    base = list(sweep.set)
    axes = tuple((k, tuple(axis_values(v, f"axes.{k}"))) for k, v in sweep.axes.items())
    for key, _ in axes:
        parse_overrides([f"{key}=0"])                         # section and shape of the key
    needs = {METRICS[m].needs for m in (*sweep.objectives, *sweep.constraints.limits)}
    fidelity = "fidelity" in needs or any(k.startswith("schedule.numerics.") for k, _ in axes)
    schedules, texts, tokens = {}, {}, {}
    for model in sweep.models:
        m = str(model)
        if not model.is_file():
            raise ConfigError(f"{path}: models: {model} is not a file")
        try:
            cfg = load_model(model, parse_overrides(base))
            sched = sweep.schedule or cfg.schedule
            load_schedule(sched, parse_overrides(base))
        except ConfigError as exc:
            raise ConfigError(f"{path}: set with {model.name}: {exc}") from None
        for key, values in axes:
            for value in values:
                item = f"{key}={render(value, f'axes.{key}')}"
                try:
                    over = parse_overrides(base + [item])
                    load_model(model, over)
                    load_schedule(sched, over)
                except ConfigError as exc:
                    raise ConfigError(f"{path}: axes.{key} value {render(value, key)} "
                                      f"({model.name}): {exc}") from None
        schedules[m] = str(sweep.schedule) if sweep.schedule else None
        texts[m] = model.read_text() + "\n---\n" + Path(sched).read_text()
        tokens[m] = (tuple((7 * i + 1) % cfg.vocab_size for i in range(sweep.fidelity_tokens))
                     if fidelity else None)
    metrics = tuple(dict.fromkeys(
        [*BASE_METRICS, *sweep.objectives, *sweep.constraints.limits]
        + [m for m, d in METRICS.items() if d.needs == "fidelity" and fidelity]))
    return Plan(sweep.name, schedules, texts, tuple(base), axes,
                tuple(str(m) for m in sweep.models), metrics, dict(sweep.objectives),
                {k: (b.min, b.max) for k, b in sweep.constraints.limits.items()},
                sweep.constraints.fit, "prefill" in needs, tokens, sweep.sampler)
