"""Read model and schedule YAMLs safely and apply ``--set KEY=VALUE`` overrides.

YAML is parsed by PyYAML's safe loader with caps at the boundary, because a
few bytes of YAML can demand unbounded work: nesting (``[[[[...`` recurses in
the composer), aliases that repeat a node exponentially often (an "alias
bomb", cheap to load but endless to print or walk) and tags whose values the
constructor cannot convert (``!!int ''``, ``2024-13-45``). Each becomes a
one-line :class:`ConfigError` naming the file and line. Numbers follow YAML 1.2:
PyYAML resolves YAML 1.1, where ``1e-6`` (no dot) is a string, so a user's
``eps: 1e-6`` would be refused as "not a number".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from cosim.config.model import ModelConfig
from cosim.config.neuromorphic import NeuromorphicSchedule
from cosim.config.schedule import ScheduleConfig
from cosim.config.schema import build, closest, fail, show
from cosim.errors import ConfigError
from cosim.files import read_limited

SECTIONS = {"model": ModelConfig, "schedule": ScheduleConfig}
#: schedule classes by the ``target`` key (absent: an FPGA schedule)
TARGETS = {"fpga": ScheduleConfig, "neuromorphic": NeuromorphicSchedule}
#: A model or schedule is a few kilobytes; these caps leave room for a hundred times more.
MAX_YAML_BYTES = 1 << 20
MAX_DEPTH = 32
#: Values in a document once every alias is expanded.
MAX_VALUES = 100_000


class _SyntaxError(ConfigError):
    """Text that is not YAML at all (``--set`` then takes it as a string)."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing deep nesting and conversion failures by line."""

    def __init__(self, text: str, where: str):
        super().__init__(text)
        self.where = where
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise ConfigError(f"{self.where} line {line}: nested deeper than "
                                  f"{MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            _Expansion(self.where).measure(node, 1)
        return node

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError,
                OverflowError) as exc:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            value = show(node.value) if isinstance(node, yaml.ScalarNode) else "this node"
            # a ValueError says why (month must be in 1..12); the others are PyYAML's internals
            why = f" ({str(exc).split(':')[0][:80]})" if isinstance(exc, ValueError) else ""
            raise ConfigError(f"{self.where} line {node.start_mark.line + 1}: cannot "
                              f"read {value} as {tag}{why}") from None


# YAML 1.2's floats with an exponent that 1.1 leaves as text: no dot (1e-6) or no sign
# after the e (1.5e3, .5e1)
_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"))


class _Expansion:
    """Size and depth of a composed document with its aliases expanded."""

    def __init__(self, where: str):
        self.where = where
        self.measured: dict[int, tuple[int, int]] = {}   # id -> (values, height)
        self.open: set[int] = set()

    def measure(self, node: Any, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in self.open:
            self._fail(node, "an alias refers to a node that contains it")
        values, height = self.measured.get(key, (0, 0))
        if not values:
            if depth > MAX_DEPTH:
                self._fail(node, f"nested deeper than {MAX_DEPTH} levels once aliases "
                                 "are expanded")
            self.open.add(key)
            values, height = 1, 1
            children = (node.value if isinstance(node, yaml.SequenceNode) else
                        [n for pair in node.value for n in pair]
                        if isinstance(node, yaml.MappingNode) else [])
            for child in children:
                size, tall = self.measure(child, depth + 1)
                values, height = values + size, max(height, tall + 1)
                if values > MAX_VALUES:
                    self._fail(node, f"expands to more than {MAX_VALUES:,} values "
                                     "(aliases repeat nodes); a config needs far fewer")
            self.open.discard(key)
            self.measured[key] = values, height
        if depth - 1 + height > MAX_DEPTH:
            self._fail(node, f"nested deeper than {MAX_DEPTH} levels once aliases are "
                             "expanded")
        return values, height

    def _fail(self, node: Any, why: str) -> None:
        raise ConfigError(f"{self.where} line {node.start_mark.line + 1}: {why}")


def parse_yaml(text: str, where: str) -> Any:
    """The value of YAML ``text``, within the caps; ``where`` names it in errors."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{where} holds {len(text):,} characters, more than the "
                          f"{MAX_YAML_BYTES:,} a config may have")
    loader = None
    try:
        loader = _BoundedLoader(text, where)
        return loader.get_single_data()
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to read") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _SyntaxError(f"{where}{line}: not valid YAML ({problem})") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml(path: Path) -> dict:
    """The mapping in a YAML file, or a ConfigError saying why not."""
    raw = read_limited(path, MAX_YAML_BYTES, "config YAML", ConfigError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})") from None
    data = parse_yaml(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys to values, "
                          f"not a {type(data).__name__}")
    return data


def parse_assignments(items: Iterable[str], option: str = "--set") -> dict[str, Any]:
    """Nested mappings from dotted ``a.b.c=value`` strings; values parse as YAML.

    ``true``, ``3``, ``1e-6`` and ``[1, 2]`` keep their types; text that is not
    YAML stays a string. Shared by every command line that takes overrides;
    ``option`` names the flag in errors.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"{option} takes KEY=VALUE with a dotted KEY, not {show(item)}")
        try:
            value = parse_yaml(raw, f"{option} {key}")
        except _SyntaxError:
            value = raw
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{option} {key}: {part} is set to a value "
                                  "and also used as a section")
        if isinstance(node.get(parts[-1]), dict):
            raise ConfigError(f"{option} {key}: {parts[-1]} is used as a section "
                              "and also set to a value")
        node[parts[-1]] = value
    return out


def parse_overrides(items: Iterable[str]) -> dict[str, dict]:
    """``--set section.a.b=value`` strings as nested mappings per config section."""
    items = list(items)
    for item in items:
        key, sep, _ = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ConfigError(f"--set takes SECTION.KEY=VALUE (e.g. "
                              f"model.hidden_size=128), not {show(item)}")
        if parts[0] not in SECTIONS:
            raise ConfigError(f"--set {key}: the first part must be one of "
                              f"{', '.join(SECTIONS)}, not {show(parts[0])}"
                              f"{closest(parts[0], SECTIONS)}")
    return {name: {} for name in SECTIONS} | parse_assignments(items)


def merge(data: dict, override: dict) -> dict:
    """``data`` with ``override`` laid over it, section by section (neither is changed)."""
    merged = dict(data)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _load(section: str, path: Path | None, overrides: dict | None,
          beneath: dict | None = None) -> Any:
    data = read_yaml(path) if path is not None else {}
    base = Path(path).resolve().parent if path is not None else Path.cwd()
    data = merge(merge(data, beneath or {}), (overrides or {}).get(section, {}))
    cls = SECTIONS[section]
    if section == "schedule":
        target = data.get("target", "fpga")
        if target not in TARGETS:
            fail("schedule.target", "one of " + ", ".join(map(repr, TARGETS)), target)
        cls = TARGETS[target]
        if cls is ScheduleConfig:
            data.pop("target", None)
    return build(cls, data, section, base)


def load_model(path: Path, overrides: dict | None = None,
               checkpoint_fields: dict | None = None) -> ModelConfig:
    """The validated model of a YAML file.

    Precedence, lowest first: the YAML, a checkpoint's ``config.json`` values
    (``checkpoint_fields``), then ``model.`` overrides from ``--set``.
    """
    return _load("model", path, overrides, checkpoint_fields)


def load_schedule(path: Path | None, overrides: dict | None = None
                  ) -> ScheduleConfig | NeuromorphicSchedule:
    """The validated schedule of a YAML file (defaults when ``path`` is None).

    Its ``target`` key picks the kind: absent or ``fpga`` for an FPGA schedule,
    ``neuromorphic`` for a many-core spiking chip.
    """
    return _load("schedule", path, overrides)
