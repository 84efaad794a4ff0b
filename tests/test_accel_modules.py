"""Unit module names carry every parameter the unit's Verilog is built from."""

import pytest

from rtl.accel.modules import module_name, name_fields
from rtl.units import UNITS

#: the unit builders' keyword for each name key (rmsnorm's eps enters as its fixed-point
#: integer, checked below)
KEYWORDS = {"matvec": {"tp": "tp", "c": "cols", "st": "stages", "a": "abits",
                       "acc": "accbits"},
            "quantize": {"n": "n", "q": "bits", "a": "abits"},
            "rmsnorm": {"n": "n", "q": "bits", "f": "frac", "rs": "lut_bits", "nr": "newton",
                        "rf": "rf", "e": "eps"}}


@pytest.mark.parametrize("unit", sorted(KEYWORDS))
@pytest.mark.parametrize("case", range(3))
def test_names_carry_every_parameter_the_builder_binds(unit, case):
    params = UNITS[unit].with_defaults(UNITS[unit].test_params[case])
    bound = UNITS[unit].build(params).keywords
    fields = {k: v for k, v, _ in name_fields(unit, params)}
    assert set(KEYWORDS[unit].values()) == set(bound)
    frac = bound.get("frac", 0)
    for key, keyword in KEYWORDS[unit].items():
        value = bound[keyword]
        if keyword == "eps":
            value = int(value * 4.0 ** frac + 0.5)
        assert fields[key] == value, (key, keyword)
    assert module_name(unit, params) == "_".join(
        [unit] + [f"{k}{v}" for k, v, _ in name_fields(unit, params)])


@pytest.mark.parametrize("unit, numerics", [
    ("rowwise", {"sigmoid": {"method": "lut"}}),
    ("rowwise", {"sigmoid": {"segments": 3}}),
    ("rowwise", {"sigmoid": {"input_range": 4}}),
    ("rowwise", {"rowwise": {"bits": 16, "frac": 8}}),
    ("dequant", {"scale_bits": 12}),
    ("dequant", {"accumulator_bits": 20}),
    ("dequant", {"rowwise": {"bits": 16, "frac": 8}}),
])
def test_units_of_whole_numerics_are_renamed_by_what_they_read(unit, numerics):
    """The row-wise unit and the dequantiser take the numerics whole: a change of a
    format they read changes their name."""
    assert module_name(unit, {}) != module_name(unit, {"numerics": numerics})
