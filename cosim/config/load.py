"""Read model and schedule YAMLs safely and apply ``--set KEY=VALUE`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

from cosim.config.model import ModelConfig
from cosim.config.schedule import ScheduleConfig
from cosim.config.schema import build, closest
from cosim.errors import ConfigError

SECTIONS = {"model": ModelConfig, "schedule": ScheduleConfig}


def read_yaml(path: Path) -> dict:
    """The mapping in a YAML file, or a ConfigError saying why not."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc.__class__.__name__}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML "
                          f"({getattr(exc, 'problem', None) or exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys to values, "
                          f"not a {type(data).__name__}")
    return data


def parse_overrides(items: Iterable[str]) -> dict[str, dict]:
    """Turn ``section.a.b=value`` strings into nested mappings per section.

    Values are parsed as YAML, so ``true``, ``3``, ``1e-6`` and ``[1, 2]`` keep
    their types.
    """
    out: dict[str, dict] = {name: {} for name in SECTIONS}
    for item in items:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ConfigError(f"--set takes SECTION.KEY=VALUE (e.g. "
                              f"model.hidden_size=128), not {item!r}")
        if parts[0] not in SECTIONS:
            raise ConfigError(f"--set {key}: the first part must be one of "
                              f"{', '.join(SECTIONS)}, not {parts[0]!r}"
                              f"{closest(parts[0], SECTIONS)}")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = out[parts[0]]
        for part in parts[1:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part} is set to a value "
                                  "and also used as a section")
        node[parts[-1]] = value
    return out


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
    return build(SECTIONS[section], data, section, base)


def load_model(path: Path, overrides: dict | None = None,
               checkpoint_fields: dict | None = None) -> ModelConfig:
    """The validated model of a YAML file.

    Precedence, lowest first: the YAML, a checkpoint's ``config.json`` values
    (``checkpoint_fields``), then ``model.`` overrides from ``--set``.
    """
    return _load("model", path, overrides, checkpoint_fields)


def load_schedule(path: Path | None, overrides: dict | None = None) -> ScheduleConfig:
    """The validated schedule of a YAML file (defaults when ``path`` is None)."""
    return _load("schedule", path, overrides)
