"""Model and schedule YAMLs: validation messages, overrides, paths, fuzzing."""

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from cosim.config import load_model, load_schedule, parse_assignments, parse_overrides
from cosim.errors import ConfigError

MODELS = sorted(Path("models").glob("*.yaml"))


def write(tmp_path, data, name="m.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


BASE = {"name": "t", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 100}


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_shipped_models_load(path):
    cfg = load_model(path)
    assert cfg.schedule is not None and cfg.schedule.exists()


@pytest.mark.parametrize("name, h, layers, inter", [
    ("mmfree-370m", 1024, 24, 2816), ("mmfree-1.3b", 2048, 24, 5632),
    ("mmfree-2.7b", 2560, 32, 6912)])
def test_released_sizes(name, h, layers, inter):
    cfg = load_model(f"models/{name}.yaml")
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate) == (h, layers, inter)
    assert cfg.replace(intermediate_size=None).intermediate == inter  # the released formula


@pytest.mark.parametrize("change, message", [
    ({"hidden_size": 1001},
     "model.hidden_size must be a positive multiple of 8 <= 16,777,216, not 1001"),
    ({"hidden_size": -8},
     "model.hidden_size must be a positive multiple of 8 <= 16,777,216, not -8"),
    ({"hidden_size": "64"},
     "model.hidden_size must be a positive multiple of 8 <= 16,777,216, not '64'"),
    ({"hiden_size": 64}, "model.hiden_size is not a valid key (did you mean 'hidden_size'?)"),
    ({"variant": "gru"}, "model.variant must be one of 'released', 'paper', not 'gru'"),
    ({"use_lower_bound": 1}, "model.use_lower_bound must be true or false, not 1"),
    ({"rms_norm_eps": 0}, "model.rms_norm_eps must be a number between 1e-12 and 1, not 0"),
    ({"variant": "paper"}, "model.use_lower_bound must be false for variant 'paper'"),
    ({"num_hidden_layers": None}, "model.num_hidden_layers must be a positive integer"),
])
def test_model_errors_name_key_expectation_and_value(tmp_path, change, message):
    with pytest.raises(ConfigError) as err:
        load_model(write(tmp_path, {**BASE, **change}))
    assert message in str(err.value)


def test_missing_required_key(tmp_path):
    data = dict(BASE)
    del data["vocab_size"]
    with pytest.raises(ConfigError, match="model.vocab_size is required"):
        load_model(write(tmp_path, data))


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "must hold a mapping"),
    ("name: [unclosed", "not valid YAML"),
    ("!!python/object:os.system {}", "not valid YAML"),
])
def test_bad_yaml_files(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_model(write(tmp_path, text))


def test_paths_resolve_relative_to_the_yaml(tmp_path):
    sub = tmp_path / "deep"
    sub.mkdir()
    cfg = load_model(write(sub, {**BASE, "schedule": "../s.yaml", "checkpoint": "ck"}))
    assert cfg.schedule == (tmp_path / "s.yaml").resolve()
    assert cfg.checkpoint == (sub / "ck").resolve()


def test_overrides_by_dotted_path():
    sets = parse_overrides(["model.hidden_size=128", "schedule.numerics.rowwise.frac=14",
                            "schedule.numerics.sigmoid.method=lut"])
    cfg = load_model("models/tiny.yaml", sets)
    sched = load_schedule(cfg.schedule, sets)
    assert cfg.hidden_size == 128
    assert sched.numerics.rowwise.frac == 14 and sched.numerics.sigmoid.method == "lut"


@pytest.mark.parametrize("item, message", [
    ("hidden_size=3", "SECTION.KEY=VALUE"),
    ("modle.hidden_size=3", "did you mean 'model'"),
    ("model.hidden_size", "SECTION.KEY=VALUE"),
    ("schedule.numerics.rowwise.bitz=3", "schedule.numerics.rowwise.bitz is not a valid key"),
    ("schedule.numerics.rowwise.frac=23", "schedule.numerics.rowwise.frac must be"),
    ("schedule.numerics.sigmoid.lut_entries=100", "must be a power of two"),
    ("schedule.numerics.accumulator_bits=40", "schedule.numerics.accumulator_bits must be at most"),
])
def test_override_errors(item, message):
    with pytest.raises(ConfigError, match=message):
        sets = parse_overrides([item])
        load_model("models/tiny.yaml", sets)
        load_schedule("schedules/default.yaml", sets)


def test_assignments_nest_dotted_keys_with_yaml_values():
    """The one KEY=VALUE parser: any command line's overrides, nested, typed by YAML."""
    got = parse_assignments(["tp=48", "numerics.accumulator_bits=10", "numerics.sigmoid.method=lut",
                             "cols=[1, 2]", "name=[open", "flag=true", "eps=1.0e-6"], "--param")
    assert got == {"tp": 48, "numerics": {"accumulator_bits": 10, "sigmoid": {"method": "lut"}},
                   "cols": [1, 2], "name": "[open", "flag": True, "eps": 1e-6}


@pytest.mark.parametrize("text, value", [
    ("1e-6", 1e-6), ("-2E5", -2e5), ("1.5e3", 1500.0), (".5e1", 5.0), ("1.0e-6", 1e-6),
    ("1_000", 1000), ("0x1e3", 0x1e3), ("1e", "1e"), ("12e3x", "12e3x"), ("1.2.3e4", "1.2.3e4"),
])
def test_numbers_with_an_exponent_read_as_yaml_1_2(tmp_path, text, value):
    """PyYAML's YAML 1.1 reads 1e-6 as text; a config that says eps: 1e-6 means a number."""
    assert parse_assignments([f"x={text}"]) == {"x": value}
    if isinstance(value, float) and 1e-12 <= value <= 1:
        path = write(tmp_path, yaml.safe_dump(BASE) + f"rms_norm_eps: {text}\n")
        assert load_model(path).rms_norm_eps == value


@pytest.mark.parametrize("items, message", [
    (["tp"], "--param takes KEY=VALUE with a dotted KEY, not 'tp'"),
    (["a..b=1"], "--param takes KEY=VALUE"),
    (["a=1", "a.b=2"], "--param a.b: a is set to a value and also used as a section"),
    (["a.b=2", "a=1"], "--param a: a is used as a section and also set to a value"),
    (["tp=!!int ''"], "--param tp line 1: cannot read '' as !!int"),
    (["tp=" + "[" * 50], "--param tp line 1: nested deeper than 32 levels"),
])
def test_assignment_errors_name_the_option(items, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_assignments(items, "--param")


def test_null_is_refused_where_a_union_has_no_none():
    """Regression: ``lanes: null`` (int or list, not optional) became None and crashed."""
    with pytest.raises(ConfigError, match=r"schedule\.lanes must be a positive integer .*not null"):
        load_schedule(None, parse_overrides(["schedule.lanes=null"]))


def test_configs_are_frozen():
    cfg = load_model("models/tiny.yaml")
    with pytest.raises(AttributeError):
        cfg.hidden_size = 3


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)
MODEL_KEYS = list(BASE) + ["intermediate_size", "variant", "use_lower_bound", "rms_norm_eps",
                           "seed", "init_std", "hidden_ratio", "checkpoint", "schedule"]
SCHEDULE_KEYS = ["name", "numerics"]
NUMERIC_KEYS = ["activation_bits", "accumulator_bits", "rowwise", "sigmoid", "rsqrt",
                "scale_bits"]


@given(st.dictionaries(st.sampled_from(MODEL_KEYS) | st.text(max_size=10), yaml_values,
                       max_size=8))
def test_fuzz_model_yaml_only_clean_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "m.yaml"
    path.write_text(yaml.safe_dump({**BASE, **data}))
    try:
        load_model(path)
    except ConfigError:
        pass


@given(st.dictionaries(st.sampled_from(NUMERIC_KEYS) | st.text(max_size=6),
                       yaml_values | st.dictionaries(
                           st.sampled_from(["bits", "frac", "method", "segments",
                                            "lut_entries", "input_range", "lut_bits",
                                            "newton_steps"]), yaml_values, max_size=3),
                       max_size=6),
       st.sampled_from(SCHEDULE_KEYS))
def test_fuzz_schedule_only_clean_errors(numerics, key):
    sets = {"schedule": {key: numerics}}
    try:
        load_schedule(None, sets)
    except ConfigError:
        pass


@given(st.binary(max_size=200))
def test_fuzz_raw_bytes(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("raw") / "m.yaml"
    path.write_bytes(raw)
    try:
        load_model(path)
    except ConfigError:
        pass
