"""The accelerator: a sequencer running the lane program over the units of ``rtl``.

``encode`` turns a :class:`cosim.program.Program` into the instruction word and
the memory images; ``top`` is the MyHDL top level; ``bench`` simulates its
Verilog in Icarus or Verilator against the golden model.
"""
