"""The accelerator: a sequencer running the lane program over the units of ``rtl``.

``encode`` turns a :class:`cosim.program.Program` into instruction words and
memory images; ``top`` is the MyHDL top level (with ``memory``'s ``$readmemh``
ROMs and ``dequant``); ``timing`` measures the units it instantiates for the
SimPy model; ``build`` produces the Verilog, images and golden vectors of one
design; ``bench`` is its self-checking Verilog bench, run in Icarus or Verilator.
"""
