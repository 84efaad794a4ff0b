"""Run a unit: MyHDL simulation, Verilog conversion, Icarus simulation, Verilator lint.

The same stimulus and the same handshake discipline drive every level, so a
unit's MyHDL model, its Verilog and the golden model can be compared beat for beat.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import myhdl._block
import myhdl._simulator
from myhdl import (
    ResetSignal,
    Signal,
    StopSimulation,
    ToVerilogWarning,
    always,
    block,
    delay,
    instance,
    intbv,
)

from rtl.spec import UnitSpec

#: cycles rst is held high; the first beat is offered (and must not be taken) during them
RESET_CYCLES = 3
#: cycles a bench keeps running after the expected output beats, to catch extra ones
DRAIN_CYCLES = 100


@dataclass
class SimResult:
    """Output beats with the cycle each input and output beat transferred on.

    Cycles count rising clock edges from the first edge after reset.
    """

    outputs: list
    cycles: int
    in_cycles: list = field(default_factory=list)
    out_cycles: list = field(default_factory=list)

    @property
    def first_out_cycle(self) -> int | None:
        """Cycle of the first output beat, or None."""
        return self.out_cycles[0] if self.out_cycles else None

    @property
    def latency(self) -> int | None:
        """Cycles from the first input beat to the first output beat."""
        if not self.out_cycles or not self.in_cycles:
            return None
        return self.out_cycles[0] - self.in_cycles[0]

    def op_latencies(self, in_per_op: int, out_per_op: int) -> list:
        """Per operation: cycles from its first input beat to its first output beat."""
        starts = self.in_cycles[::in_per_op]
        firsts = self.out_cycles[::out_per_op]
        return [o - i for i, o in zip(starts, firsts)]


def _ports(spec: UnitSpec, params: dict):
    iw = spec.in_layout(params).width
    ow = spec.out_layout(params).width
    return dict(clk=Signal(bool(0)), rst=ResetSignal(1, active=1, isasync=False),
                i_valid=Signal(bool(0)), i_ready=Signal(bool(0)),
                i_data=Signal(intbv(0)[iw:]), o_valid=Signal(bool(0)),
                o_ready=Signal(bool(0)), o_data=Signal(intbv(0)[ow:]))


def _timeout(n_in: int, n_out: int) -> int:
    return 2000 + 200 * (n_in + n_out)


def simulate(spec: UnitSpec, params: dict, stimulus: list, *, backpressure: int | None = None,
             vcd_dir: str | os.PathLike | None = None, expected: int | None = None,
             max_cycles: int | None = None) -> SimResult:
    """Simulate the MyHDL unit on ``stimulus``; return every output beat.

    The run goes on for DRAIN_CYCLES after ``expected`` output beats arrived (the
    golden model's count by default), so extra beats show. While i_valid is low,
    i_data carries random garbage. With a ``backpressure`` seed, input beats come
    with random idle gaps and o_ready drops at random.
    MyHDL keeps global simulator state, so this runs one simulation and quits it.
    """
    in_layout, out_layout = spec.in_layout(params), spec.out_layout(params)
    words = [in_layout.pack(b) for b in stimulus]
    if expected is None:
        expected = len(spec.golden(params, stimulus))
    limit = max_cycles or _timeout(len(words), expected)
    rng = random.Random(0 if backpressure is None else backpressure)
    result = SimResult(outputs=[], cycles=0)
    p = _ports(spec, params)
    unit_fn = spec.build(params)

    @block
    def bench():
        dut = unit_fn(p["clk"], p["rst"], p["i_valid"], p["i_ready"], p["i_data"],
                      p["o_valid"], p["o_ready"], p["o_data"])

        @instance
        def clock():
            while True:
                yield delay(5)
                p["clk"].next = not p["clk"]

        state = {"idx": 0, "cycle": -RESET_CYCLES, "drain": None}

        @always(p["clk"].posedge)
        def drive():
            # A handshake counts on every edge, reset included: a unit that takes
            # a beat while in reset loses it, and the outputs show it.
            cycle = state["cycle"]
            state["cycle"] = cycle + 1
            if cycle >= 0 and p["o_valid"] and p["o_ready"]:
                result.outputs.append(out_layout.unpack(int(p["o_data"])))
                result.out_cycles.append(cycle)
            idx = state["idx"]
            if p["i_valid"] and p["i_ready"]:
                result.in_cycles.append(cycle)
                idx += 1
                state["idx"] = idx
            p["rst"].next = cycle < -1
            _offer(idx)
            if cycle < 0:
                return
            result.cycles = cycle + 1
            if len(result.outputs) >= expected and state["drain"] is None:
                state["drain"] = cycle + DRAIN_CYCLES
            if state["drain"] is not None and cycle >= state["drain"]:
                raise StopSimulation
            if cycle >= limit:
                raise StopSimulation

        def _offer(idx):
            gap = backpressure is not None and rng.random() < 0.2
            if idx < len(words) and not gap:
                p["i_valid"].next = 1
                p["i_data"].next = words[idx]
            else:
                p["i_valid"].next = 0
                p["i_data"].next = rng.getrandbits(in_layout.width)
            p["o_ready"].next = backpressure is None or rng.random() < 0.7

        return dut, clock, drive

    tb = bench()
    vcd_dir = vcd_dir or os.environ.get("COSIM_VCD")
    if vcd_dir:
        Path(vcd_dir).mkdir(parents=True, exist_ok=True)
        tb.config_sim(trace=True, directory=str(vcd_dir), name=f"{spec.name}_myhdl")
    try:
        tb.run_sim(quiet=1)
    finally:
        tb.quit_sim()
    return result


def _fresh_names() -> None:
    """Forget the block names MyHDL handed out earlier in this process.

    MyHDL numbers instances by process-wide counters (``core0`` for the first
    build, ``core0_0`` for the second), so a second conversion in one process would
    differ from the first; reset, the names depend on the design alone. A netlist's
    names move its placement: one RMSNorm, simulated before its conversion (as
    ``rtl.characterize`` does) and not, routed at 187.8 and 222.9 MHz.
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
    converter's path and date lines, the same in every process."""
    with tempfile.TemporaryDirectory() as tmp:
        with warnings.catch_warnings():
            # MyHDL warns about signals it keeps as wires or drops as unused
            # (constant table signals, unread shadow slices, unused unit outputs);
            # verilator -Wall in lint() is the real check on the emitted text.
            warnings.simplefilter("ignore", ToVerilogWarning)
            # initial values as in the MyHDL simulation: registers and the recurrent
            # state start at zero (FPGA registers and block RAM are initialised
            # by the bitstream)
            inst.convert(hdl="Verilog", path=tmp, name=name, testbench=False,
                         trace=False, initial_values=True)
        text = (Path(tmp) / f"{name}.v").read_text()
    text = re.sub(r"^// (File|Generated by|Date):.*\n", "", text, flags=re.M)
    return sorted_sensitivity(text).lstrip("\n")


def verilog(spec: UnitSpec, params: dict) -> str:
    """The unit converted to Verilog, as text; module name = ``spec.name``. The same
    text in every process, and the module an export of a design with this unit holds."""
    p = _ports(spec, params)
    unit_fn = spec.build(params)
    inst = elaborate(lambda: unit_fn(p["clk"], p["rst"], p["i_valid"], p["i_ready"],
                                     p["i_data"], p["o_valid"], p["o_ready"], p["o_data"]))
    return waive_widths(verilog_text(inst, spec.name))


#: a combinational block's sensitivity list, which MyHDL writes in the order of a set of
#: names: that order follows the process's string hash seed (PYTHONHASHSEED)
_SENSITIVITY = re.compile(r"^(always @\()([^)]*)(\) begin)", re.M)


def sorted_sensitivity(text: str) -> str:
    """``text`` with every sensitivity list sorted, so that the Verilog of a design is the
    same in every process (the order of a sensitivity list has no meaning)."""
    return _SENSITIVITY.sub(lambda m: m[1] + ", ".join(sorted(m[2].split(", "))) + m[3], text)


_TIMESCALE = re.compile(r"^`timescale.*\n", re.M)
_WIDTH = re.compile(r"%Warning-WIDTH: ([^:]+):(\d+):\d+: Operator (\w+) expects (\d+)(?: or \d+)? "
                    r"bits on the (?:LHS|RHS|Assign RHS), "
                    r"but .* generates (\d+)(?: or \d+)? bits")
#: operators whose operands Verilog sizes by context; a comparison is not among them,
#: since mixing widths there is how a signed compare silently turns unsigned
_ARITHMETIC = {"ADD", "SUB", "MUL", "MULS", "NEGATE", "SHIFTL", "SHIFTR", "SHIFTRS", "OR",
               "AND", "XOR", "NOT", "COND", "CONCAT"}
_REASONS = {
    "narrows": "MyHDL sizes this expression by its context; the target's intbv range, "
               "checked in every MyHDL simulation, holds the value, so only copies of the "
               "sign bit are dropped",
    "widens": "extended to the width of its context by the operand's own signedness, "
              "which MyHDL declares ($signed or unsigned)",
}


def _kind(op: str, expects: int, generates: int) -> str | None:
    """Why a WIDTH warning of MyHDL's output is benign, or None when it is not."""
    if op.startswith("ASSIGN"):
        return "narrows" if generates > expects else "widens"
    if op in _ARITHMETIC and generates < expects:
        return "widens"
    return None


def waive_widths(text: str, modules: dict[str, str] | None = None) -> str:
    """Waive, line by line and each with its reason, the WIDTH warnings MyHDL's
    context-sized expressions cause; leave every other warning for :func:`lint`.

    The kinds waived are listed in _REASONS; a width mismatch in a comparison, where
    Verilog's sizing can silently turn a signed compare unsigned, or any warning of
    another kind stays visible. ``modules`` ({name: text}) are the modules ``text``
    instantiates; only warnings in ``text`` itself are waived here.
    """
    text = "`timescale 1ns/10ps\n" + _TIMESCALE.sub("", text)
    top = re.search(r"^module\s+(\w+)", text, re.M).group(1)
    with tempfile.TemporaryDirectory() as tmp:
        files = {**(modules or {}), top: text}
        for name, body in files.items():
            (Path(tmp) / f"{name}.v").write_text(body)
        proc = subprocess.run(["verilator", "--lint-only", "-Wall", "-Wno-fatal",
                               "--top-module", top, *(f"{n}.v" for n in files)], cwd=tmp,
                              capture_output=True, text=True)
    kinds: dict[int, set] = {}
    for line in (proc.stdout + proc.stderr).splitlines():
        match = _WIDTH.match(line)
        if match:
            path, number, op, expects, generates = match.groups()
            if path == f"{top}.v":
                kinds.setdefault(int(number), set()).add(
                    _kind(op, int(expects), int(generates)))
        elif line.startswith(f"%Warning-WIDTH: {top}.v:"):
            kinds.setdefault(int(line.split(":")[2]), set()).add(None)
    lines = text.split("\n")
    for number in sorted(kinds, reverse=True):
        if None in kinds[number]:
            continue
        why = "; ".join(_REASONS[k] for k in sorted(kinds[number]))
        lines[number - 1:number] = [f"// width: {why}", "/* verilator lint_off WIDTH */",
                                    lines[number - 1], "/* verilator lint_on WIDTH */"]
    return "\n".join(lines)


def lint(verilog_text: str, workdir: str | os.PathLike, top: str | None = None) -> None:
    """Run ``verilator --lint-only -Wall``; raise with the log on any warning."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    top = top or re.search(r"^module\s+(\w+)", verilog_text, re.M).group(1)
    path = workdir / f"{top}.v"
    path.write_text(verilog_text)
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", top,
                           path.name], cwd=workdir, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    if proc.returncode or "%Warning" in log or "%Error" in log:
        raise RuntimeError(f"verilator lint of {top} failed:\n{log}")


_BENCH = """\
`timescale 1ns/10ps
module bench;
  reg clk = 0;
  reg rst = 1;
  reg i_valid = 0;
  wire i_ready;
  reg [{iw}-1:0] i_data = 0;
  wire o_valid;
  reg o_ready = 0;
  wire [{ow}-1:0] o_data;
  reg [{iw}-1:0] mem [0:{nmem}-1];
  integer idx = 0;
  integer nxt;
  integer nout = 0;
  integer cycle = -{reset};
  integer stop = {limit};
  integer f;
  reg [31:0] lfsr = 32'h{seed:08x};
  {top} dut(.clk(clk), .rst(rst), .i_valid(i_valid), .i_ready(i_ready), .i_data(i_data),
            .o_valid(o_valid), .o_ready(o_ready), .o_data(o_data));
  always #5 clk = ~clk;
  initial begin
    $readmemh("in.hex", mem);
    f = $fopen("out.txt", "w");
    i_valid = ({nin} > 0);
    i_data = mem[0];
{dump}  end
  // A handshake counts on every edge, reset included (a beat taken in reset is
  // lost, and the outputs show it); i_data carries garbage while i_valid is low;
  // the bench runs {drain} cycles past the expected outputs to catch extra beats.
  always @(posedge clk) begin
    lfsr <= {{lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]}};
    if (cycle >= 0 && o_valid && o_ready) begin
      $fwrite(f, "%h %0d\\n", o_data, cycle);
      nout = nout + 1;
    end
    nxt = idx;
    if (i_valid && i_ready) nxt = idx + 1;
    idx = nxt;
    rst <= (cycle < -1);
    i_valid <= (nxt < {nin}) && !({bp} && lfsr[4:2] == 3'b000);
    if ((nxt < {nin}) && !({bp} && lfsr[4:2] == 3'b000))
      i_data <= mem[nxt];
    else
      i_data <= {{{words}{{lfsr ^ cycle}}}};
    o_ready <= (cycle >= -1) && !({bp} && lfsr[7:5] < 3'd2);
    if (nout >= {nexp} && stop > cycle + {drain}) stop = cycle + {drain};
    if (cycle >= stop) begin
      $fclose(f);
      $finish;
    end
    cycle = cycle + 1;
  end
endmodule
"""


def run_icarus(spec: UnitSpec, params: dict, stimulus: list, workdir: str | os.PathLike,
               backpressure: int | None = None, expected: int | None = None,
               vcd: bool | None = None, text: str | None = None) -> list:
    """Simulate the emitted Verilog in Icarus on ``stimulus``; return the output beats.

    A plain Verilog bench reads packed beats with $readmemh, offers them (with
    idle gaps and LFSR o_ready back-pressure when ``backpressure`` is a seed),
    drives garbage while idle, and writes every output beat, extra ones included,
    to a file this function unpacks. ``text`` replaces the unit's Verilog (the
    mutant tests use it to show the bench catches a fault).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    in_layout, out_layout = spec.in_layout(params), spec.out_layout(params)
    if expected is None:
        expected = len(spec.golden(params, stimulus))
    words = [in_layout.pack(b) for b in stimulus] or [0]
    digits = max(1, (in_layout.width + 3) // 4)
    (workdir / "in.hex").write_text("".join(f"{w:0{digits}x}\n" for w in words))
    (workdir / f"{spec.name}.v").write_text(verilog(spec, params) if text is None else text)
    vcd_dir = os.environ.get("COSIM_VCD") if vcd is None else (str(workdir) if vcd else None)
    dump = (f'    $dumpfile("{Path(vcd_dir).resolve() / (spec.name + "_icarus.vcd")}");\n'
            "    $dumpvars(0, bench);\n") if vcd_dir else ""
    if vcd_dir:
        Path(vcd_dir).mkdir(parents=True, exist_ok=True)
    seed = (backpressure or 0) * 2654435761 % (1 << 32) or 0xACE1
    (workdir / "bench.v").write_text(_BENCH.format(
        iw=in_layout.width, ow=out_layout.width, nmem=len(words), nin=len(stimulus),
        reset=RESET_CYCLES, seed=seed, top=spec.name, dump=dump,
        bp=int(backpressure is not None), nexp=expected, drain=DRAIN_CYCLES,
        words=-(-in_layout.width // 32), limit=_timeout(len(stimulus), expected)))
    proc = subprocess.run(["iverilog", "-g2005", "-o", "sim.vvp", "bench.v",
                           f"{spec.name}.v"], cwd=workdir, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"Icarus compile of {spec.name} failed:\n{proc.stdout}{proc.stderr}")
    proc = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=workdir, capture_output=True,
                          text=True)
    if proc.returncode:
        raise RuntimeError(f"Icarus run of {spec.name} failed:\n{proc.stdout}{proc.stderr}")
    outputs = []
    for line in (workdir / "out.txt").read_text().split("\n"):
        if line.strip():
            outputs.append(out_layout.unpack(int(line.split()[0], 16)))
    return outputs
