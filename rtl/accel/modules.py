"""The accelerator's Verilog hierarchy: every unit kind converted once, on its own.

MyHDL flattens a design into one module. To export one module per unit, each
unit instance of the top level sits in a wrapper block with user-defined
Verilog code (MyHDL's documented mechanism): the MyHDL simulation runs the real
unit inside the wrapper, while conversion emits only a module instance, with
the wrapper's outputs marked ``driven`` and its inputs ``read``. The module
itself is the unit converted alone (:func:`modules_of` finds every wrapper in
the elaborated top and converts each module name once), so Verilog is still
MyHDL's output; what is written by hand here is the instance line and the
naming scheme.

A module's name carries the parameters its Verilog depends on, in a short
fixed order (``matvec_tp4_c64_st2_a8_acc24``: TP, columns, registered tree
stages, activation and accumulator bits; ``q24f16``: the row-wise Q format),
so equal parameters give one shared module file and two exports of one design
give identical names.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path

import myhdl
import myhdl._block
import myhdl._simulator
from myhdl import Signal, ToVerilogWarning, block
from myhdl._block import _Block

from rtl.harness import waive_widths
from rtl.spec import numerics_of


def module_name(unit: str, params: dict) -> str:
    """The Verilog module (and file) name of ``unit`` with ``params``."""
    num = numerics_of(params)
    q = f"q{num.rowwise.bits}f{num.rowwise.frac}"
    if unit == "matvec":
        from rtl.matvec import _check
        tp, cols, stages = _check(params)
        return (f"matvec_tp{tp}_c{cols}_st{stages}_a{num.activation_bits}"
                f"_acc{num.accumulator_bits}")
    if unit == "quantize":
        return f"quantize_n{params['n']}_q{num.rowwise.bits}_a{num.activation_bits}"
    if unit == "rmsnorm":
        eps = int(float(params.get("eps", 1e-6)) * 4.0 ** num.rowwise.frac + 0.5)
        r = num.rsqrt
        return f"rmsnorm_n{params['n']}_{q}_r{r.lut_bits}n{r.newton_steps}f{r.frac}_e{eps}"
    if unit == "rowwise":
        s = num.sigmoid
        shape = f"pwl{s.segments}" if s.method == "pwl" else f"lut{s.lut_entries}"
        return f"rowwise_{q}_{shape}r{s.input_range}"
    if unit == "dequant":
        return f"dequant_acc{num.accumulator_bits}_{q}_s{num.scale_bits}"
    raise ValueError(f"no module name for unit {unit!r}")


@block
def stream_unit(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data, *, unit_fn,
                module, label):
    """``unit_fn`` (a block with the eight stream ports) in simulation, an instance of
    ``module`` named ``label`` in Verilog."""
    inst = unit_fn(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data)
    for s in (i_ready, o_valid, o_data):
        s.driven = "wire"
    for s in (clk, rst, i_valid, i_data, o_ready):
        s.read = True
    return inst


stream_unit.verilog_code = """\
$module $label (
  .clk($clk), .rst($rst), .i_valid($i_valid), .i_ready($i_ready), .i_data($i_data),
  .o_valid($o_valid), .o_ready($o_ready), .o_data($o_data)
);
"""


@block
def dequant_unit(clk, rst, i_valid, i_ready, acc, gain, shm1, o_valid, o_ready, y, *,
                 unit_fn, module, label):
    """The dequantiser ``unit_fn`` in simulation, an instance of ``module`` in Verilog."""
    inst = unit_fn(clk, rst, i_valid, i_ready, acc, gain, shm1, o_valid, o_ready, y)
    for s in (i_ready, o_valid, y):
        s.driven = "wire"
    for s in (clk, rst, i_valid, acc, gain, shm1, o_ready):
        s.read = True
    return inst


dequant_unit.verilog_code = """\
$module $label (
  .clk($clk), .rst($rst), .i_valid($i_valid), .i_ready($i_ready), .acc($acc),
  .gain($gain), .shm1($shm1), .o_valid($o_valid), .o_ready($o_ready), .y($y)
);
"""

WRAPPERS = (stream_unit, dequant_unit)


def _fresh_names() -> None:
    """Forget the block names MyHDL handed out earlier in this process.

    MyHDL numbers instances by process-wide counters (``core0`` for the first
    build, ``core0_0`` for the second), so a second export in one process would
    differ from the first; reset, the names depend on the design alone.
    """
    for deco in myhdl._simulator._blocks:
        deco.calls = 0
    myhdl._block._name_set.clear()
    myhdl._block._inst_name_set.clear()


def elaborate(make_block):
    """``make_block()``, with MyHDL's instance names depending on the design alone."""
    _fresh_names()
    return make_block()


def verilog_text(inst, name: str) -> str:
    """The elaborated block ``inst`` converted to Verilog module ``name``, without the
    converter's path and date lines."""
    with tempfile.TemporaryDirectory() as tmp:
        with warnings.catch_warnings():
            # undriven/unread notices about unused unit outputs; verilator -Wall is the check
            warnings.simplefilter("ignore", ToVerilogWarning)
            # initial values as in the MyHDL simulation: registers and the recurrent
            # state start at zero (FPGA registers and block RAM are initialised
            # by the bitstream)
            inst.convert(hdl="Verilog", path=tmp, name=name, testbench=False,
                         trace=False, initial_values=True)
        text = (Path(tmp) / f"{name}.v").read_text()
    text = re.sub(r"^// (File|Generated by|Date):.*\n", "", text, flags=re.M)
    return text.lstrip("\n")


def _wrappers(inst) -> list:
    """Every wrapper block under ``inst``, depth first in elaboration order."""
    found = []
    for sub in inst.subs:
        if isinstance(sub, _Block):
            if any(sub.func is w.func for w in WRAPPERS):
                found.append(sub)
            else:
                found += _wrappers(sub)
    return found


def modules_of(top) -> dict[str, str]:
    """{module name: waived Verilog text} of every unit module the elaborated ``top``
    instantiates, each converted once, on fresh copies of its first instance's ports."""
    texts: dict[str, str] = {}
    for w in _wrappers(top):
        name = w.kwargs["module"]
        if name in texts:
            continue
        unit_fn, ports = w.kwargs["unit_fn"], [Signal(s._init) for s in w.args]
        texts[name] = waive_widths(verilog_text(elaborate(lambda: unit_fn(*ports)), name))
    return texts
