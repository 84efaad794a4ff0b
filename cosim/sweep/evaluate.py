"""Evaluate one design point: timing, energy, device fit and, for numerics axes, fidelity.

An :class:`Evaluator` lives in one worker process and keeps what does not depend
on the point: the parsed schedule YAML, each model's config and weights, the
dataflow graph per (model, numerics) and the float reference's logits on the
fidelity prompt. A point then costs one validated schedule build and one decode
step in SimPy (plus prefill or the fixed-point co-simulation only when the sweep
asks for them), exactly as ``cosim.run`` would compute them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Optional

from cosim.budget import check_work
from cosim.config import load_schedule, parse_overrides
from cosim.config.load import merge, read_yaml
from cosim.config.schema import as_dict
from cosim.errors import CosimError
from cosim.graph import build_graph
from cosim.numerics.engines import FixedEngine, FloatEngine
from cosim.numerics.fidelity import compare
from cosim.sim import simulate
from cosim.sim.records import Records
from cosim.sweep.spec import METRICS, Plan, Point
from cosim.weights import PreparedWeights


class Evaluator:
    """Evaluates points of one plan, reusing everything that does not depend on the point."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self._yaml: dict[str, dict] = {}
        self._models: dict[tuple, tuple] = {}
        self._graphs: dict[tuple, Any] = {}
        self._prepared: dict[tuple, tuple] = {}
        self._records: dict[Optional[Path], Records] = {}

    def evaluate(self, point: Point) -> dict:
        """The store row of ``point``: metrics, feasibility with its reason, the report."""
        start = time.perf_counter()
        try:
            report = self.report(point)
        except CosimError as exc:
            report, reasons = None, [f"invalid: {exc}"]
        else:
            reasons = self.violations(report)
        metrics = {m: _get(report, METRICS[m].path) for m in self.plan.metrics} \
            if report else {}
        return {"key": point.key, "model": point.model, "values": dict(point.values),
                "feasible": not reasons, "reason": "; ".join(reasons), "metrics": metrics,
                "report": json.dumps(report, sort_keys=True) if report else None,
                "seconds": time.perf_counter() - start}

    def report(self, point: Point) -> dict:
        """The simulation report of ``point`` (CosimError when ``cosim.run`` would refuse it)."""
        sets = point.sets(self.plan)
        overrides = parse_overrides(sets)
        model_sets = tuple(s for s in sets if s.startswith("model."))
        cfg, source, sched_path = self._model(point.model, model_sets)
        schedule = load_schedule(None, {"schedule": merge(self._schedule_yaml(sched_path),
                                                          overrides["schedule"])})
        tokens = self.plan.tokens[point.model]
        check_work(cfg, schedule, 2 * len(tokens or ()))
        numerics_key = json.dumps(as_dict(schedule.numerics), sort_keys=True)
        gkey = (point.model, model_sets, numerics_key)
        if gkey not in self._graphs:
            self._graphs[gkey] = build_graph(cfg, schedule.numerics)
        graph = self._graphs[gkey]
        golden = None
        if tokens:
            weights, reference = self._reference(gkey[:2], cfg, source, graph, tokens)
            golden = FixedEngine(graph, cfg, weights, schedule.numerics)
        if schedule.characterization not in self._records:
            self._records[schedule.characterization] = Records.load(schedule.characterization)
        outcome = simulate(graph, cfg, schedule, engine=golden, tokens=list(tokens or []),
                           records=self._records[schedule.characterization],
                           prefill=self.plan.prefill)
        report = outcome.report
        if tokens:
            report["numerics"] = compare(outcome.logits, reference, golden.overflow_count)
        return report

    def violations(self, report: dict) -> list[str]:
        """Why a simulated point is infeasible: device fit and clock, then metric limits.

        A fit the report cannot judge (no device, or no record for a unit) is
        not a violation; the ``fits`` column shows it as empty.
        """
        reasons = []
        fit = report["fit"]
        if self.plan.fit and fit["fits"] is False:
            over = [f"{name} {r['used']:,.0f} > {r['available']:,.0f}"
                    for name, r in fit["resources"].items() if r["used"] > r["available"]]
            reasons.append("does not fit: " + ", ".join(over))
        clock = fit.get("clock", {})
        if self.plan.fit and clock.get("fmax_mhz") and clock["clock_mhz"] > clock["fmax_mhz"]:
            reasons.append(f"clock above Fmax: {clock['clock_mhz']:g} > {clock['fmax_mhz']:g} "
                           f"MHz ({clock['limited_by']})")
        for name, (low, high) in self.plan.limits.items():
            value = _get(report, METRICS[name].path)
            if value is None:
                reasons.append(f"{name} not measured")
            elif low is not None and value < low:
                reasons.append(f"{name} {value:.4g} < min {low:g}")
            elif high is not None and value > high:
                reasons.append(f"{name} {value:.4g} > max {high:g}")
        return reasons

    # -- caches ----------------------------------------------------------------
    def _schedule_yaml(self, path: str) -> dict:
        if path not in self._yaml:
            self._yaml[path] = read_yaml(Path(path))
        return self._yaml[path]

    def _model(self, model: str, sets: tuple[str, ...]) -> tuple:
        """(config, weight source, schedule path) of a model with its ``model.`` overrides.

        ``cosim.run``'s own loader, so a checkpoint named by the model is read as it would.
        """
        from cosim.run import load

        key = (model, sets)
        if key not in self._models:
            args = argparse.Namespace(model=Path(model), set=list(sets), checkpoint=None,
                                      schedule=self.plan.schedules[model])
            cfg, _, _, source = load(args)
            self._models[key] = (cfg, source, str(self.plan.schedules[model] or cfg.schedule))
        return self._models[key]

    def _reference(self, key: tuple, cfg, source, graph, tokens) -> tuple:
        """Prepared weights and float-reference logits on the prompt, once per model.

        The float reference keeps the model's own int8 quantiser whatever the
        schedule's numerics, so its logits are the same for every point.
        """
        if key not in self._prepared:
            weights = PreparedWeights(cfg, source)
            self._prepared[key] = (weights, FloatEngine(graph, cfg, weights).run(tokens))
        return self._prepared[key]


def _get(report: Optional[dict], path: str) -> Optional[float]:
    node: Any = report
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, (int, float)) else None
