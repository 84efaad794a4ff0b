"""The RTL infrastructure: beat layouts, the unit registry, spec helpers."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtl.spec import numerics_of
from rtl.stream import Field, Layout
from rtl.units import UNITS, register

LAYOUT = Layout(Field("a", 8, signed=True, count=3), Field("w", 2, count=3),
                Field("last", 1), Field("m", 5))


def test_layout_width_and_offsets():
    assert LAYOUT.width == 24 + 6 + 1 + 5
    assert LAYOUT.offsets == {"a": 0, "w": 24, "last": 30, "m": 31}


def test_field_zero_is_least_significant():
    assert LAYOUT.pack({"a": [1, 0, 0]}) == 1
    assert LAYOUT.pack({"a": [-1, 0, 0]}) == 0xFF
    assert LAYOUT.pack({"last": 1}) == 1 << 30


@given(a=st.lists(st.integers(-128, 127), min_size=3, max_size=3),
       w=st.lists(st.integers(0, 3), min_size=3, max_size=3),
       last=st.integers(0, 1), m=st.integers(0, 31))
def test_pack_unpack_round_trip(a, w, last, m):
    beat = {"a": a, "w": w, "last": last, "m": m}
    word = LAYOUT.pack(beat)
    assert 0 <= word < 1 << LAYOUT.width
    assert LAYOUT.unpack(word) == beat


def test_pack_refuses_out_of_range_and_unknown_fields():
    with pytest.raises(ValueError, match="outside"):
        LAYOUT.pack({"a": [128, 0, 0]})
    with pytest.raises(ValueError, match="expected 3"):
        LAYOUT.pack({"a": [1, 2]})
    with pytest.raises(KeyError):
        LAYOUT.pack({"b": 1})
    with pytest.raises(ValueError, match="unique"):
        Layout(Field("x", 1), Field("x", 2))


def test_registry_refuses_duplicates():
    assert {"matvec", "quantize", "rmsnorm"} <= set(UNITS)
    with pytest.raises(ValueError, match="already registered"):
        register(UNITS["matvec"])


def test_numerics_of_overrides_and_validates():
    assert numerics_of({}).activation_bits == 8
    num = numerics_of({"numerics": {"accumulator_bits": 10, "rowwise": {"bits": 16,
                                                                         "frac": 8}}})
    assert (num.accumulator_bits, num.rowwise.bits, num.rowwise.frac) == (10, 16, 8)
    with pytest.raises(Exception, match="accumulator_bit"):
        numerics_of({"numerics": {"accumulator_bit": 10}})


@pytest.mark.parametrize("name", sorted(UNITS))
def test_spec_layouts_fit_golden_beats(name):
    spec = UNITS[name]
    for params in spec.test_params:
        stim = spec.edge_stimulus(params)
        for beat in stim:
            spec.in_layout(params).pack(beat)
        for beat in spec.golden(params, stim):
            assert spec.out_layout(params).unpack(spec.out_layout(params).pack(beat)) == beat


def test_simulate_reports_cycles_and_writes_vcd_when_asked(tmp_path):
    import numpy as np

    from rtl import harness

    spec, params = UNITS["matvec"], {"tp": 2, "cols": 4}
    stim = spec.random_stimulus(params, np.random.default_rng(0), 3)
    result = harness.simulate(spec, params, stim, vcd_dir=tmp_path / "vcd")
    assert result.outputs == spec.golden(params, stim)
    assert result.in_cycles == [0, 1, 2, 3, 4, 5]
    assert result.latency == result.out_cycles[0] and len(result.out_cycles) == 3
    assert result.op_latencies(2, 1) == [result.latency] * 3
    assert list((tmp_path / "vcd").glob("*.vcd"))
    outputs = harness.run_icarus(spec, params, stim, tmp_path / "icarus", vcd=True)
    assert outputs == spec.golden(params, stim)
    assert list((tmp_path / "icarus").glob("*.vcd"))


def test_verilog_is_the_same_after_a_simulation_in_the_process():
    """Regression: MyHDL numbers block instances process-wide, so a unit converted after
    its simulation (as rtl.characterize does) had other names than converted alone, and
    its netlist placed differently (RMSNorm at 187.8 against 222.9 MHz)."""
    import numpy as np

    from rtl import harness

    spec, params = UNITS["quantize"], {"n": 4}
    alone = harness.verilog(spec, params)
    harness.simulate(spec, params, spec.random_stimulus(params, np.random.default_rng(0), 2))
    assert harness.verilog(spec, params) == alone
    assert "readback0" in alone


def test_lint_raises_with_the_log(tmp_path):
    from rtl import harness

    with pytest.raises(RuntimeError, match="UNUSED|Warning"):
        harness.lint("module bad(input a, output b);\nwire c;\nassign b = 1'b0;\nendmodule\n",
                     tmp_path)


def test_unit_modules_do_not_import_the_catalogue():
    """Regression: every unit imported rtl.units to register itself, and rtl.units
    imported every unit, so the order of UNITS followed the first import."""
    import subprocess
    import sys

    code = ("import sys, rtl.glu, rtl.matvec, rtl.mlgru, rtl.quantizer, rtl.rmsnorm, "
            "rtl.rowwise; print('rtl.units' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip() == "False"
    assert list(UNITS) == ["matvec", "quantize", "rmsnorm", "rowwise", "glu",
                           "mlgru_released", "mlgru_paper"]
