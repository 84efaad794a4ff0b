"""Validated, frozen configuration: model YAMLs, schedule YAMLs, ``--set`` overrides."""

from cosim.config.load import (
    load_model,
    load_schedule,
    parse_assignments,
    parse_overrides,
    parse_yaml,
)
from cosim.config.model import ModelConfig
from cosim.config.schedule import Numerics, ScheduleConfig

__all__ = ["ModelConfig", "Numerics", "ScheduleConfig", "load_model", "load_schedule",
           "parse_assignments", "parse_overrides", "parse_yaml"]
