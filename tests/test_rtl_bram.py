"""The block RAM store (rtl/bram.py): its DP16KD instances, as Yosys synthesises them,
simulated in Icarus on a model of the primitive, in every data-width mode."""

import numpy as np
import pytest
from test_rtl_matvec import yosys_cell_models
from test_rtl_rowwise import mult18x18d_model

from rtl import bram, harness
from rtl.units import UNITS


def dp16kd_model(outreg: bool = True) -> str:
    """A Verilog model of the ECP5 DP16KD as rtl/bram.py uses it (Lattice TN1264: the
    word address of a DATA_WIDTH-bit mode on AD[13:s], s = 4, 3, 2, 1, 0 for 18, 9,
    4, 2, 1 bits; in 18-bit mode AD[1:0] enable the low and high 9 bits of a write;
    REGMODE "OUTREG" adds an output register after the read register). Yosys ships
    only a blackbox. ``outreg=False`` ignores the output register: a mutant."""
    ports = [f"{p}{s}{i}" for s in "AB" for p, n in (("DI", 18), ("AD", 14)) for i in range(n)]
    ports += [f"{p}{s}" for s in "AB" for p in ("CE", "OCE", "CLK", "WE", "RST")]
    ports += [f"CS{s}{i}" for s in "AB" for i in range(3)]
    outs = [f"DO{s}{i}" for s in "AB" for i in range(18)]

    def bus(name, n):
        return "{" + ", ".join(f"{name}{i}" for i in reversed(range(n))) + "}"

    return f"""
module DP16KD({", ".join(ports + outs)});
  input {", ".join(ports)};
  output {", ".join(outs)};
  parameter DATA_WIDTH_A = 18;
  parameter DATA_WIDTH_B = 18;
  parameter REGMODE_A = "NOREG";
  parameter REGMODE_B = "NOREG";
  localparam S = DATA_WIDTH_A == 18 ? 4 : DATA_WIDTH_A == 9 ? 3 : DATA_WIDTH_A == 4 ? 2 :
                 DATA_WIDTH_A == 2 ? 1 : 0;
  reg bits [0:18431];
  wire [17:0] dia = {bus("DIA", 18)};
  wire [13:0] ada = {bus("ADA", 14)};
  wire [13:0] adb = {bus("ADB", 14)};
  reg [17:0] q = 0, out = 0;
  wire [17:0] word;
  genvar i;
  generate for (i = 0; i < 18; i = i + 1) begin : rd
    assign word[i] = i < DATA_WIDTH_B ? bits[(adb >> S) * DATA_WIDTH_B + i] : 1'b0;
  end endgenerate
  integer k;
  always @(posedge CLKA) if (CEA && WEA)
    for (k = 0; k < DATA_WIDTH_A; k = k + 1)
      if (DATA_WIDTH_A != 18 || (k < 9 ? ADA0 : ADA1))
        bits[(ada >> S) * DATA_WIDTH_A + k] <= dia[k];
  always @(posedge CLKB) begin
    if (CEB) q <= word;
    if (OCEB) out <= q;
  end
  assign {bus("DOB", 18)} = ({int(outreg)} && REGMODE_B == "OUTREG") ? out : q;
  assign {bus("DOA", 18)} = 18'b0;
endmodule
"""


#: (unit, n): a store in each of the DP16KD's modes (18, 9, 4, 2 and 1 bits a block);
#: both units keep two banks of n rounded up to a power of two
MODES = [("quantize", 5), ("rmsnorm", 4), ("quantize", 600), ("rmsnorm", 1500),
         ("quantize", 2100), ("quantize", 4100)]


@pytest.mark.parametrize("unit, n", MODES, ids=[f"{u}-{n}" for u, n in MODES])
def test_block_ram_instances_in_icarus(unit, n, tmp_path):
    """The `SYNTHESIS` branch (DP16KD instances, output registers inside; the
    quantiser's divider on Yosys' CCU2C cells) equals the golden model in Icarus, at a
    depth of each data-width mode."""
    spec = UNITS[unit]
    params = spec.with_defaults({"n": n})
    stim = (spec.random_stimulus(params, np.random.default_rng(n), 2)
            + spec.edge_stimulus(params)[:2 * n])
    text = harness.verilog(spec, params)
    depth = 2 * max(2, 1 << (n - 1).bit_length())
    assert text.count("DP16KD ") == bram.blocks(depth, 24) * (2 if unit == "rmsnorm" else 1)
    text = "`define SYNTHESIS\n" + text + dp16kd_model() + mult18x18d_model()
    if unit == "quantize":
        text += yosys_cell_models()
    out = harness.run_icarus(spec, params, stim, tmp_path, backpressure=3, text=text)
    assert out == spec.golden(params, stim)


def test_block_ram_bench_fails_without_the_output_register(tmp_path):
    """With the model's output register ignored, the read arrives a cycle early: the
    bench sees it."""
    spec = UNITS["quantize"]
    params = spec.with_defaults({"n": 5})
    stim = spec.random_stimulus(params, np.random.default_rng(1), 3)
    text = "`define SYNTHESIS\n" + harness.verilog(spec, params) + dp16kd_model(outreg=False)
    text += mult18x18d_model() + yosys_cell_models()
    out = harness.run_icarus(spec, params, stim, tmp_path, backpressure=3, text=text)
    assert out != spec.golden(params, stim)


def test_modes_take_the_widest_block_that_holds_the_depth():
    assert [bram.mode(d) for d in (1, 1024, 1025, 4096, 8192, 16384)] == \
        [(18, 4), (18, 4), (9, 3), (4, 2), (2, 1), (1, 0)]
    assert [bram.blocks(d, 24) for d in (128, 2048, 4096, 8192)] == [2, 3, 6, 12]
    with pytest.raises(ValueError, match="16384"):
        bram.mode(16385)
