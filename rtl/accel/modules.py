"""The accelerator's Verilog hierarchy: every unit kind converted once, on its own.

MyHDL flattens a design into one module. To export one module per unit, each
unit instance of the top level sits in a wrapper block with user-defined
Verilog code (MyHDL's documented mechanism, as :func:`rtl.accel.memory.rom`
uses it): the MyHDL simulation runs the real unit inside the wrapper, while
conversion emits only an instance of the unit's module, with the wrapper's
outputs marked ``driven`` and its inputs ``read``. The module itself is the
unit converted alone (:func:`modules_of` finds every wrapper in the elaborated
top and converts each module once, on copies of its first instance's ports),
so all logic is still MyHDL's output; what is written by hand here is the
instance template and the naming scheme.

A module's name is its unit followed by the parameters its Verilog depends on,
each a short key and its value (:func:`name_fields`), so equal parameters give
one shared module file and two exports of one design give the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from myhdl import Signal, block
from myhdl._block import _Block

from rtl.accel.dequant import dequant
from rtl.accel.memory import rom, rom_module, rom_name
from rtl.harness import elaborate, verilog_text, waive_widths
from rtl.matvec import default_stages
from rtl.spec import numerics_of
from rtl.units import UNITS


def name_fields(unit: str, params: dict) -> list[tuple[str, int, str]]:
    """(key, value, meaning) of every parameter in the module name of ``unit``."""
    num = numerics_of(params)
    q = ("q", num.rowwise.bits, "row-wise bits")
    f = ("f", num.rowwise.frac, "row-wise fractional bits")
    a = ("a", num.activation_bits, "activation bits")
    acc = ("acc", num.accumulator_bits, "accumulator bits")
    n = ("n", params.get("n"), "elements per vector")
    if unit == "matvec":
        stages = params.get("stages")
        return [("tp", params["tp"], "weights per beat"), ("c", params["cols"], "columns"),
                ("st", default_stages(params["tp"]) if stages is None else stages,
                 "registered adder-tree levels"), a, acc]
    if unit == "quantize":
        return [n, q, a]
    if unit == "rmsnorm":
        r = num.rsqrt
        eps = int(float(params.get("eps", 1e-6)) * 4.0 ** num.rowwise.frac + 0.5)
        return [n, q, f, ("rs", r.lut_bits, "rsqrt seed-table address bits"),
                ("nr", r.newton_steps, "Newton steps"), ("rf", r.frac, "rsqrt fractional bits"),
                ("e", eps, "eps in units of 2^-2f")]
    if unit == "rowwise":
        s = num.sigmoid
        shape = (("pwl", s.segments, "sigmoid segments") if s.method == "pwl"
                 else ("lut", s.lut_entries, "sigmoid table entries"))
        return [q, f, shape, ("r", s.input_range, "sigmoid input range")]
    if unit == "dequant":
        return [acc, q, ("s", num.scale_bits, "weight-scale mantissa bits")]
    raise ValueError(f"no module name for unit {unit!r}")


def module_name(unit: str, params: dict) -> str:
    """The Verilog module (and file) name of ``unit`` with ``params``."""
    return "_".join([unit] + [f"{k}{v}" for k, v, _ in name_fields(unit, params)])


@block
def stream_unit(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data, *, unit,
                params, label):
    """The registered ``unit`` with ``params`` in simulation; in Verilog an instance,
    named ``label``, of its module."""
    module = module_name(unit, params)  # noqa: F841 (read by verilog_code)
    inst = UNITS[unit].build(params)(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready,
                                     o_data)
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
                 params, label):
    """The dequantiser in simulation; in Verilog an instance, named ``label``, of its
    module."""
    module = module_name("dequant", params)  # noqa: F841 (read by verilog_code)
    inst = dequant(clk, rst, i_valid, i_ready, acc, gain, shm1, o_valid, o_ready, y)
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


@dataclass
class Module:
    """One module of an export below the top: its Verilog and the top's instances."""

    name: str
    unit: str
    fields: list
    text: str = ""
    instances: list[str] = field(default_factory=list)


def _wrappers(inst) -> list:
    """Every wrapper block under ``inst``, depth first in elaboration order."""
    found = []
    for sub in inst.subs:
        if isinstance(sub, _Block):
            if sub.func in (stream_unit.func, dequant_unit.func, rom.func):
                found.append(sub)
            else:
                found += _wrappers(sub)
    return found


def hide_unit_insides(top) -> None:
    """Unmark the signals inside every wrapped unit of ``top`` as driven or read.

    The top's Verilog holds only the units' instances, but MyHDL declares every
    marked signal of the hierarchy: a unit's own user-defined code (the MULT18X18D
    instances of :mod:`rtl.mult18`) marks its wires driven, and the top would declare
    them unused. The units' modules are converted from fresh instances, so this
    touches only the top's view.
    """
    for w in _wrappers(top):
        ports = {id(a) for a in w.args}
        blocks = [sub for sub in w.subs if isinstance(sub, _Block)]
        while blocks:
            b = blocks.pop()
            for sig in b.sigdict.values():
                if id(sig) not in ports:
                    sig._driven, sig._read = False, False
            blocks += [sub for sub in b.subs if isinstance(sub, _Block)]


def _unit_text(unit: str, params: dict, ports: tuple, name: str) -> str:
    """The unit converted alone, on fresh copies of one instance's ports."""
    fn = dequant if unit == "dequant" else UNITS[unit].build(params)
    copies = [Signal(s._init) for s in ports]
    return waive_widths(verilog_text(elaborate(lambda: fn(*copies)), name))


def modules_of(top) -> dict[str, Module]:
    """Every module the elaborated ``top`` instantiates, in order of first use, each
    made once: units converted by MyHDL, ROMs from :func:`rtl.accel.memory.rom_module`."""
    found: dict[str, Module] = {}
    for w in _wrappers(top):
        kw = w.kwargs
        if w.func is rom.func:
            fields = [("w", kw["width"], "bits a word"), ("d", kw["depth"], "words")]
            name, unit, label = rom_name(kw["width"], kw["depth"]), "rom", kw["tag"]
        else:
            unit, label = kw.get("unit", "dequant"), kw["label"]
            name, fields = module_name(unit, kw["params"]), name_fields(unit, kw["params"])
        if name not in found:
            text = (rom_module(kw["width"], kw["depth"]) if unit == "rom"
                    else _unit_text(unit, kw["params"], w.args, name))
            found[name] = Module(name, unit, fields, text)
        found[name].instances.append(label)
    return found
