"""What a hardware unit is to the tools: its builder, layouts, golden model, stimuli."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cosim.config.schedule import Numerics
from cosim.config.schema import build as build_section
from cosim.numerics.fixed import FixedPoint
from rtl.stream import Layout


def numerics_of(params: dict) -> Numerics:
    """The validated Numerics of a unit's params: defaults overridden by params['numerics']."""
    return build_section(Numerics, params.get("numerics"), "numerics", Path("."))


def fixed_of(params: dict) -> FixedPoint:
    """A fresh golden model for the params' numerics."""
    return FixedPoint(numerics_of(params))


@dataclass(frozen=True)
class UnitSpec:
    """Everything the test suite, the harness and the characteriser need of one unit.

    ``params`` everywhere is a plain dict; ``build(params)`` returns the MyHDL block
    function with those parameters bound, taking the eight contract ports.
    ``random_stimulus(params, rng, operations)`` takes a ``numpy.random.Generator``.
    ``golden`` maps input beats to output beats; trailing beats of an incomplete
    operation produce nothing. ``param_names`` are the keys ``params`` may hold.
    """

    name: str
    build: Callable[[dict], Callable]
    in_layout: Callable[[dict], Layout]
    out_layout: Callable[[dict], Layout]
    golden: Callable[[dict, list], list]
    random_stimulus: Callable[..., list]
    edge_stimulus: Callable[[dict], list]
    param_names: tuple = ("numerics",)
    default_params: dict = field(default_factory=dict)
    test_params: tuple = ()

    def with_defaults(self, params: dict | None) -> dict:
        """``default_params`` overridden by ``params``."""
        return {**self.default_params, **(params or {})}
