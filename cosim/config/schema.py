"""Build frozen, typed config sections from YAML mappings.

A section is a frozen dataclass whose fields are declared with :func:`spec`.
:func:`build` checks every key against the annotations and the field's bounds
and raises :class:`ConfigError` naming the dotted key, what it must be and what
it was; unknown keys are refused with the closest valid name. Cross-field rules
live in a section's ``check(self, key)`` method, called after its fields are
built. Paths resolve relative to the YAML file that names them.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import reprlib
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from cosim.errors import ConfigError

_MISSING = dataclasses.MISSING
#: Longest text a config string may hold (labels, sources of energy figures).
MAX_TEXT = 1000


def spec(default: Any = _MISSING, *, doc: str, gt: float | None = None,
         ge: float | None = None, le: float | None = None,
         multiple_of: int | None = None, power_of_two: bool = False,
         default_factory: Any = _MISSING) -> Any:
    """Declare a config field with its documentation and numeric bounds."""
    meta = {"doc": doc, "gt": gt, "ge": ge, "le": le,
            "multiple_of": multiple_of, "power_of_two": power_of_two}
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata=meta)


def fail(key: str, must: str, found: Any) -> typing.NoReturn:
    """Raise the one error shape every config problem uses."""
    raise ConfigError(f"{key} must be {must}, not {show(found)}")


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxstring = 3, 4, 6, 50


def show(value: Any) -> str:
    """A value as a message shows it: YAML words, at most 60 characters, quickly.

    Containers are abbreviated before they are rendered (an expanded alias
    can hold 100,000 values) and integers too long for ``str`` are described.
    """
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int) and value.bit_length() > 192:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, (int, float)):
        text = str(value)
    elif isinstance(value, (str, list, tuple, dict)):
        text = _REPR.repr(value)
    else:
        text = _REPR.repr(str(value))
    return text if len(text) <= 60 else text[:57] + "..."


def closest(name: str, valid: typing.Iterable[str]) -> str:
    """A hint naming the valid key closest to a misspelt one, or ''."""
    match = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def build(cls: type, data: Any, key: str, base: Path) -> Any:
    """Build section ``cls`` from mapping ``data`` found at dotted ``key``.

    ``base`` is the folder of the YAML file, against which paths resolve.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        fail(key, "a mapping of keys to values", data)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for name in data:
        if name not in names:
            plain = isinstance(name, str) and len(name) <= 60
            raise ConfigError(f"{key}.{name if plain else show(name)} is not a valid key"
                              f"{closest(name, names) if plain else ''}; valid keys: "
                              f"{', '.join(names)}")
    values = {}
    for f in dataclasses.fields(cls):
        sub = f"{key}.{f.name}"
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name], sub, base,
                                      f.metadata)
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ConfigError(f"{sub} is required: {f.metadata.get('doc', '')}")
    section = cls(**values)
    if hasattr(section, "check"):
        section.check(key)
    return section


def _convert(tp: Any, value: Any, key: str, base: Path, meta: Any) -> Any:
    if tp is Any:           # raw YAML data, checked by the section's own check()
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):     # Optional
            return None
        listed = [a for a in args if typing.get_origin(a) is tuple]
        if isinstance(value, list) and listed:      # e.g. lanes: 4 or [2, 2]
            return _convert(listed[0], value, key, base, meta)
        return _convert(args[0], value, key, base, meta)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            fail(key, "one of " + ", ".join(repr(c) for c in choices), value)
        return value
    if origin is dict:
        if not isinstance(value, dict):
            fail(key, "a mapping", value)
        _, vtype = typing.get_args(tp)
        return types.MappingProxyType({
            str(k): _convert(vtype, v, f"{key}.{k}", base, {})
            for k, v in value.items()})
    if origin is tuple:
        if not isinstance(value, list):
            fail(key, "a list", value)
        item = typing.get_args(tp)[0]
        return tuple(_convert(item, v, f"{key}[{i}]", base, meta)
                     for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key, base)
    if tp is bool:
        if not isinstance(value, bool):
            fail(key, "true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(key, _describe("an integer", meta), value)
        _bounds(value, key, meta, "an integer")
        return value
    if tp is float:
        number = _finite(value)
        if number is None:
            fail(key, _describe("a finite number", meta), value)
        _bounds(number, key, meta, "a number")
        return number
    if tp is str:
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT \
                or not value.isprintable():
            fail(key, f"a non-empty line of at most {MAX_TEXT} printable characters",
                 value)
        return value
    if tp is Path:
        if not isinstance(value, str) or not value or "\0" in value:
            fail(key, "a path (a string without NUL characters)", value)
        return (base / value).resolve()
    raise TypeError(f"config field {key} has unsupported type {tp}")


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (booleans, text, inf, NaN, huge integers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _bounds(value: float, key: str, meta: Any, noun: str) -> None:
    ok = ((meta.get("gt") is None or value > meta["gt"])
          and (meta.get("ge") is None or value >= meta["ge"])
          and (meta.get("le") is None or value <= meta["le"])
          and (not meta.get("multiple_of") or value % meta["multiple_of"] == 0)
          and (not meta.get("power_of_two")
               or (value > 0 and int(value) & (int(value) - 1) == 0)))
    if not ok:
        fail(key, _describe(noun, meta), value)


def _describe(noun: str, meta: Any) -> str:
    """Phrase bounds as a reader would: 'a positive multiple of 8', 'an integer >= 1'."""
    gt, ge, le = meta.get("gt"), meta.get("ge"), meta.get("le")
    positive = gt == 0
    if meta.get("power_of_two"):
        text = "a power of two"
    elif meta.get("multiple_of"):
        text = f"a {'positive ' if positive else ''}multiple of {meta['multiple_of']}"
        gt = None if positive else gt
    elif positive:
        text, gt = f"a positive {noun.split(' ', 1)[1]}", None
    else:
        text = noun
    conditions = []
    if gt is not None:
        conditions.append(f"> {_number(gt)}")
    if ge is not None and le is not None:
        conditions.append(f"between {_number(ge)} and {_number(le)}")
    elif ge is not None:
        conditions.append(f">= {_number(ge)}")
    elif le is not None:
        conditions.append(f"<= {_number(le)}")
    return " ".join([text, " and ".join(conditions)]).strip()


def _number(bound: float) -> str:
    """A bound as a reader writes it: 16,777,216 or 0.001."""
    if isinstance(bound, int) or (bound.is_integer() and abs(bound) < 1e15):
        return f"{int(bound):,}"
    return f"{bound:g}"


def as_dict(section: Any) -> Any:
    """Plain-data view of a section (for reports and hashing)."""
    if dataclasses.is_dataclass(section):
        return {f.name: as_dict(getattr(section, f.name))
                for f in dataclasses.fields(section)}
    if isinstance(section, (dict, types.MappingProxyType)):
        return {k: as_dict(v) for k, v in section.items()}
    if isinstance(section, tuple):
        return [as_dict(v) for v in section]
    if isinstance(section, Path):
        return str(section)
    return section
