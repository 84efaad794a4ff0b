"""MyHDL hardware units of MatMul-free LMs, their Verilog conversion and characterisation."""

from rtl import fast_elaboration  # noqa: F401  (MyHDL's call-site lookup, made fast)
