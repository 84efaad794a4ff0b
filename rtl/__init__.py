"""MyHDL hardware units of MatMul-free LMs, their Verilog conversion and characterisation."""
