"""Characterisation records of the RTL units, read as data and interpolated over size.

``rtl.characterize`` measures each unit (latency and II in MyHDL, resources in
Yosys, Fmax in nextpnr) at a few sizes and publishes the records as JSON. The
simulator needs those figures at the sizes a schedule instantiates, so this
module reads the file without importing ``rtl`` (which would load MyHDL and
every unit to read one JSON file) and interpolates along each unit's size
parameter. It is hand-written because no library knows the record format; the
interpolation itself is ``numpy.interp`` plus a straight-line extension.

Between two recorded sizes a figure is interpolated linearly; beyond the
recorded range it is extended along the nearest two points (resources and
timing) or held at the nearest point (Fmax, which does not extrapolate
linearly); with one recorded size it is that size's figure, and the basis says
so. Every estimate carries that basis as text for the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from cosim.config.schedule import Numerics
from cosim.config.schema import as_dict
from cosim.errors import ConfigError

#: the records a schedule reads when it names none: rtl/characterization.json of this package
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "rtl" / "characterization.json"
#: largest records file read (the published one is a few tens of kilobytes)
MAX_BYTES = 16 * 2**20
#: figures of a record the simulator reads (numbers, or null where not measured)
FIGURES = ("latency_cycles", "last_out_cycles", "ii_cycles", "in_beats_per_op",
           "out_beats_per_op", "lut4_total", "ff", "bram", "lutram", "dsp", "fmax_mhz")
#: the parameter each unit's cost grows with (units not listed have no size parameter)
AXES = {"matvec": "tp", "rmsnorm": "n", "quantize": "n"}
#: the part the records were placed and routed on unless a record names its own
#: (rtl/characterize.py runs nextpnr-ecp5 --85k --package CABGA381)
RECORD_DEVICE = "ECP5-85F"
Key = Union[str, Callable[[dict], float]]


@dataclass(frozen=True)
class Series:
    """The records of one unit at one set of numerics, ordered along its size axis."""

    unit: str
    axis: Optional[str]
    points: tuple[tuple[float, dict], ...]     # (size, record), sizes ascending

    @property
    def sizes(self) -> tuple[float, ...]:
        return tuple(x for x, _ in self.points)

    def at(self, x: Optional[float], key: Key, hold: bool = False) -> Optional[float]:
        """``key`` (a record key, or a function of a record) at size ``x``.

        ``hold``: beyond the recorded sizes take the nearest one's value instead
        of extending the line (for Fmax). None when a record lacks the key (a
        record made without place and route has no Fmax).
        """
        fn = key if callable(key) else (lambda r: r.get(key))
        ys = [fn(r) for _, r in self.points]
        if any(y is None for y in ys):
            return None
        xs = np.array(self.sizes, dtype=float)
        ys = np.array(ys, dtype=float)
        if len(xs) == 1 or x is None:
            return float(ys[0])
        if hold or xs[0] <= x <= xs[-1]:
            return float(np.interp(x, xs, ys))
        i = (0, 1) if x < xs[0] else (-2, -1)
        slope = (ys[i[1]] - ys[i[0]]) / (xs[i[1]] - xs[i[0]])
        return max(0.0, float(ys[i[0]] + slope * (x - xs[i[0]])))

    def fmax(self, x: Optional[float]) -> Optional[float]:
        """Routed Fmax at size ``x``: the lowest of the record's Fmax figures (out of
        context, and between registered ports where the record has it), held beyond
        the recorded sizes."""
        def lowest(r: dict) -> Optional[float]:
            found = [v for k, v in r.items() if k.startswith("fmax") and k.endswith("_mhz")
                     and isinstance(v, (int, float))]
            return min(found) if found else None
        return self.at(x, lowest, hold=True)

    def line(self, key: Key) -> Optional[tuple[float, float]]:
        """Least-squares ``key = slope * size + intercept`` over two or more sizes."""
        if len(self.points) < 2:
            return None
        fn = key if callable(key) else (lambda r: r[key])
        slope, intercept = np.polyfit(self.sizes, [fn(r) for _, r in self.points], 1)
        return float(slope), float(intercept)

    def basis(self, x: Optional[float]) -> str:
        """How a figure at size ``x`` was obtained from the records, in words."""
        if self.axis is None or x is None:
            return "measured (the unit has no size parameter)"
        shown = ", ".join(f"{self.axis}={s:g}" for s in self.sizes)
        if x in self.sizes:
            return f"measured at {self.axis}={x:g}"
        if len(self.points) == 1:
            return f"one size recorded ({shown}): its figures used at {self.axis}={x:g}"
        if self.sizes[0] < x < self.sizes[-1]:
            return f"interpolated at {self.axis}={x:g} between recorded {shown}"
        return f"extrapolated to {self.axis}={x:g} from recorded {shown} (Fmax held)"

    @property
    def device(self) -> str:
        """The part the records were measured on."""
        return self.points[0][1].get("device", RECORD_DEVICE)


class Records:
    """The published characterisation records of one file."""

    def __init__(self, records: list[dict], source: str):
        self.records = records
        self.source = source

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "Records":
        """The records in ``path``; with None, this package's (none when that file is absent).

        A path the schedule names must be a readable JSON file of at most
        ``MAX_BYTES``; anything else is a ConfigError naming the key.
        """
        if path is None:
            if not DEFAULT_PATH.exists():
                return cls([], f"{_shown(DEFAULT_PATH)} (absent)")
            path = DEFAULT_PATH
        path = Path(path)
        try:
            if not path.is_file():
                raise ConfigError(f"schedule.characterization must be a JSON file of "
                                  f"records, not {str(path)!r}")
            if path.stat().st_size > MAX_BYTES:
                raise ConfigError(f"schedule.characterization: {path} is larger than "
                                  f"{MAX_BYTES:,} bytes")
            data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ConfigError(f"schedule.characterization: cannot read {str(path)!r}: "
                              f"{exc.__class__.__name__}") from None
        if not isinstance(data, list) or not all(
                isinstance(r, dict) and isinstance(r.get("unit"), str)
                and isinstance(r.get("params"), dict) for r in data):
            raise ConfigError(f"schedule.characterization: {str(path)!r} must hold a list "
                              "of records with 'unit' and 'params'")
        for i, r in enumerate(data):
            bad = [k for k in FIGURES if not isinstance(r.get(k, 0), (int, float, type(None)))
                   or isinstance(r.get(k), bool)]
            if bad:
                raise ConfigError(f"schedule.characterization: record {i} ({r['unit']}) "
                                  f"has a {bad[0]} that is not a number")
        return cls(data, _shown(path))

    def series(self, unit: str, numerics: Numerics, prefer: Optional[dict] = None
               ) -> Optional[Series]:
        """Records of ``unit`` made at ``numerics``, one per size; None when there are none.

        A record without a ``numerics`` parameter was made at the default
        numerics. Where several records share a size (say, matvec at two
        ``cols``), the one agreeing with ``prefer`` on most parameters is kept.
        """
        want = as_dict(numerics)
        axis = AXES.get(unit)
        prefer = prefer or {}
        chosen: dict[float, tuple[int, dict]] = {}
        for r in self.records:
            params = r["params"]
            if r["unit"] != unit or _merged(as_dict(Numerics()),
                                            params.get("numerics", {})) != want:
                continue
            if axis and not isinstance(params.get(axis), (int, float)):
                continue
            x = float(params[axis]) if axis else 0.0
            score = sum(params.get(k) == v for k, v in prefer.items())
            if x not in chosen or score > chosen[x][0]:
                chosen[x] = (score, r)
        if not chosen:
            return None
        points = tuple((x, r) for x, (_, r) in sorted(chosen.items()))
        return Series(unit, axis, points)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a measurement")


def _shown(path: Path) -> str:
    """``path`` relative to the package root when inside it, as reports name it."""
    root = DEFAULT_PATH.parents[1]
    path = path.resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
            else v
    return out
