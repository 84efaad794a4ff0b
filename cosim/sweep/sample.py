"""Samplers: which points of the product of models and axes are evaluated, in what batches.

A sampler is a generator: it yields a batch of points, receives the finished
rows of that batch (keyed by point key) and yields the next batch. Grid and
random sampling need one batch; NSGA-II (Optuna's ``NSGAIISampler``, through
its ask-and-tell interface) yields one generation at a time and learns from the
results. Every choice is seeded, and results are told in the order points were
asked, so a resumed NSGA-II run asks for the same points and finds them stored.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
from typing import Generator

from cosim.sweep.spec import Plan, Point

Batches = Generator[list[Point], dict[str, dict], None]


def sampler(plan: Plan) -> Batches:
    """The batch generator of the plan's sampler kind."""
    return {"grid": _grid, "random": _random, "nsga2": _nsga2}[plan.sampler.kind](plan)


def _space(plan: Plan) -> list[tuple]:
    return [tuple(plan.models)] + [values for _, values in plan.axes]


def _at(plan: Plan, index: int) -> Point:
    """The point at ``index`` of the product, in grid order (last axis fastest)."""
    digits = []
    for values in reversed(_space(plan)):
        index, r = divmod(index, len(values))
        digits.append(values[r])
    model, *values = reversed(digits)
    return plan.point(model, tuple(values))


def _grid(plan: Plan) -> Batches:
    yield [plan.point(m, tuple(v)) for m, *v in itertools.product(*_space(plan))]


def _random(plan: Plan) -> Batches:
    n = min(plan.sampler.count, plan.size)
    picks = random.Random(plan.sampler.seed).sample(range(plan.size), n)
    yield [_at(plan, i) for i in picks]


def _nsga2(plan: Plan) -> Batches:
    import optuna

    logging.getLogger("optuna").setLevel(logging.WARNING)
    s = plan.sampler
    names = list(plan.objectives)
    study = optuna.create_study(
        directions=["minimize" if plan.objectives[m] == "min" else "maximize" for m in names],
        sampler=optuna.samplers.NSGAIISampler(population_size=s.population, seed=s.seed))
    choices = [("model", tuple(plan.models))] + list(plan.axes)
    for generation in range(math.ceil(s.count / s.population)):
        size = min(s.population, s.count - generation * s.population)
        trials = [study.ask() for _ in range(size)]
        points = []
        for trial in trials:
            # indices, since Optuna's categorical choices must be scalars
            picked = [v[trial.suggest_categorical(k, list(range(len(v))))] for k, v in choices]
            points.append(plan.point(picked[0], tuple(picked[1:])))
        rows = yield points
        for trial, point in zip(trials, points):
            row = rows[point.key]
            values = [row["metrics"].get(m) for m in names]
            if any(v is None or not math.isfinite(v) for v in values):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            trial.set_constraint("infeasible", 0.0 if row["feasible"] else 1.0)
            study.tell(trial, values)
