"""A self-checking Verilog bench of the accelerator, and running it in Icarus or Verilator.

The bench reads the stimulus (``stimulus.hex``: every token's input vector,
one beat per element, lanes packed as on ``i_data``) and the golden model's
outputs (``expected.hex``), offers the inputs with random idle gaps (garbage
on ``i_data`` while idle), drops ``o_ready`` at random, and, with streamed
weights, serves ``w_data`` from ``weights.hex`` with random ``w_valid`` gaps
(garbage while invalid). It compares every output beat, fails on a beat after
the last expected one, writes the beats it saw to ``outputs.hex`` and the
measured cycles to ``cycles.txt``, and ends with ``PASS`` (exit 0) or ``FAIL``
(``$fatal``, exit status non-zero), at the tenth mismatch at the latest (the
ones it prints: a broken design fails in a token, not after the whole run).
Back-pressure off (``+nobp``) gives the cycle count the SimPy model predicts.
``+restart`` runs the stimulus a second time after pulsing ``rst`` and expects
the same outputs: a reset starts a new sequence from zero state.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cosim.errors import CosimError

BENCH_NAME = "accel_bench"

_BENCH = """\
`timescale 1ns/10ps
// Self-checking bench of {top}: PASS/FAIL and exit status; see README.md.
module {bench};
  localparam integer LANES = {lanes};
  localparam integer DW = {dw};
  localparam integer IN_BEATS = {in_beats};
  localparam integer OUT_BEATS = {out_beats};
  localparam integer TOKENS = {tokens};
  localparam integer LIMIT = {limit};
  reg clk = 0;
  reg rst = 1;
  reg i_valid = 0;
  wire i_ready;
  reg [DW-1:0] i_data = 0;
  wire o_valid;
  reg o_ready = 0;
  wire [DW-1:0] o_data;
{wdecl}  reg [DW-1:0] stim [0:IN_BEATS*TOKENS-1];
  reg [DW-1:0] golden [0:OUT_BEATS*TOKENS-1];
  integer nin = 0;
  integer nout = 0;
  integer mism = 0;
  integer cycle = 0;
  integer last_out = 0;
  integer bp = 1;
  integer passes = 1;
  integer pass = 0;
  integer rst_until = 3;
  integer fo;
  integer fc;
  reg [31:0] lfsr = 32'h{seed:08x};
  {top} dut(.clk(clk), .rst(rst), .i_valid(i_valid), .i_ready(i_ready), .i_data(i_data),
            .o_valid(o_valid), .o_ready(o_ready), .o_data(o_data){wconn});
  always #5 clk = ~clk;
  initial begin
    $readmemh("stimulus.hex", stim);
    $readmemh("expected.hex", golden);
{wload}    if ($test$plusargs("nobp")) bp = 0;
    if ($test$plusargs("restart")) passes = 2;
    fo = $fopen("outputs.hex", "w");
    fc = $fopen("cycles.txt", "w");
  end
  always @(posedge clk) begin
    cycle <= cycle + 1;
    lfsr <= {{lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]}};
    if (cycle == rst_until) rst <= 0;
    if (!rst) begin
      if (i_valid && i_ready) nin = nin + 1;
      if (o_valid && o_ready) begin
        if (pass == 0) $fwrite(fo, "%h\\n", o_data);
        if (nout >= OUT_BEATS * TOKENS) begin
          $display("extra output beat %0d: %h", nout, o_data);
          mism = mism + 1;
        end else if (o_data !== golden[nout]) begin
          if (mism < 10) $display("mismatch at beat %0d (token %0d): got %h, expected %h",
                                  nout, nout / OUT_BEATS, o_data, golden[nout]);
          mism = mism + 1;
        end
        nout = nout + 1;
        last_out = cycle;
        if (nout % OUT_BEATS == 0 && pass == 0) $fwrite(fc, "%0d\\n", cycle - 3);
      end
      i_valid <= (nin < IN_BEATS * TOKENS) && !(bp && lfsr[4:2] == 3'b000);
      i_data <= (nin < IN_BEATS * TOKENS) ? stim[nin] : {{DW/2{{2'b10}}}};
      o_ready <= !(bp && lfsr[7:5] < 3'd2);
{wdrive}      if (pass + 1 < passes && nout == OUT_BEATS * TOKENS && cycle > last_out + 200) begin
        pass <= pass + 1;       // a new sequence: reset, then the same stimulus again
        nin = 0;
        nout = 0;
        i_valid <= 0;
        rst <= 1;
        rst_until <= cycle + 3;
      end else if ((nout >= OUT_BEATS * TOKENS && cycle > last_out + 200) ||
                   mism >= 10 || cycle > LIMIT * passes) begin
        $fclose(fo);
        $fclose(fc);
        if (mism == 0 && nout == OUT_BEATS * TOKENS) begin
          if (passes > 1)
            $display("PASS: %0d tokens x %0d lanes bit-exact, again after a reset", TOKENS,
                     LANES);
          else
            $display("PASS: %0d tokens x %0d lanes bit-exact, %0d cycles", TOKENS, LANES,
                     last_out - 3);
          $finish;
        end else begin
          $display("FAIL: %0d mismatches, %0d of %0d output beats", mism, nout,
                   OUT_BEATS * TOKENS);
          $fatal(1, "FAIL");
        end
      end
    end
  end
endmodule
"""

_WDECL = """\
  // the weight memory earns {num}/{den} of a word a cycle until it holds one word
  localparam integer NUM = {num};
  localparam integer DEN = {den};
  integer credit = DEN;
  reg w_gap = 0;
  wire w_valid = !w_gap && credit >= DEN;
  wire w_ready;
  wire [{ww}-1:0] w_data;
  wire [{aw}-1:0] w_addr;
  reg [{ww}-1:0] wmem [0:{wdepth}-1];
"""
_WCONN = ",\n            .w_valid(w_valid), .w_ready(w_ready), .w_data(w_data), .w_addr(w_addr)"
_WLOAD = '    $readmemh("weights.hex", wmem);\n'
_WDRIVE = """\
      if (w_valid && w_ready) credit <= credit - DEN + NUM;
      else if (credit < DEN) credit <= credit + NUM;
      w_gap <= bp && lfsr[10:8] == 3'b000;
"""
_WASSIGN = "  assign w_data = w_valid ? wmem[w_addr] : {{{ww}/2{{2'b10}}}};\n"


def bench_text(top: str, *, lanes: int, bits: int, in_beats: int, out_beats: int,
               tokens: int, limit: int, streamed: bool, wwidth: int = 0, waddr: int = 0,
               wdepth: int = 0, rate: tuple[int, int] = (1, 1), seed: int = 0xACE1) -> str:
    """The Verilog text of the bench for module ``top``."""
    text = _BENCH.format(
        top=top, bench=BENCH_NAME, lanes=lanes, dw=lanes * bits, in_beats=in_beats,
        out_beats=out_beats, tokens=tokens, limit=limit, seed=seed,
        wdecl=_WDECL.format(ww=wwidth, aw=waddr, wdepth=wdepth, num=rate[0], den=rate[1])
        if streamed else "",
        wconn=_WCONN if streamed else "", wload=_WLOAD if streamed else "",
        wdrive=_WDRIVE if streamed else "")
    if streamed:
        text = text.replace("  always #5", _WASSIGN.format(ww=wwidth) + "  always #5", 1)
    return text


@dataclass
class BenchRun:
    """What a bench run printed and measured."""

    passed: bool
    log: str
    cycles: list[int]         # cycle at which each token's last output beat left
    outputs: list[int]        # output beats, packed as o_data
    build_s: float            # wall time to compile the bench (0 when reused)
    run_s: float              # wall time of the simulation


def run(folder: Path, sources: list[str], simulator: str, *, backpressure: bool = True,
        restart: bool = False, timeout: float = 3600, build: bool = True) -> BenchRun:
    """Compile (unless ``build`` is false: reuse the last build) and run the bench in
    ``folder`` with Icarus or Verilator (``restart``: twice, with a reset between)."""
    folder = Path(folder)
    plus = ([] if backpressure else ["+nobp"]) + (["+restart"] if restart else [])
    if simulator == "icarus":
        compile_cmd = ["iverilog", "-g2012", "-o", "bench.vvp", "-s", BENCH_NAME, *sources]
        sim = ["vvp", "-n", "bench.vvp", *plus]
    elif simulator == "verilator":
        compile_cmd = ["verilator", "--binary", "-j", "1", "-Wno-fatal", "-Wno-lint",
                 "-Wno-style", "--top-module", BENCH_NAME, "-o", "bench", *sources]
        sim = [str(folder / "obj_dir" / "bench"), *plus]
    else:
        raise CosimError(f"--simulate must be icarus or verilator, not {simulator!r}")
    if shutil.which(compile_cmd[0]) is None:
        raise CosimError(f"{compile_cmd[0]} is not installed (apt-get install "
                         f"{compile_cmd[0]})")
    start = time.perf_counter()
    if build:
        proc = subprocess.run(compile_cmd, cwd=folder, capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode:
            raise CosimError(f"{simulator} could not build the bench: "
                             f"{(proc.stdout + proc.stderr).strip().splitlines()[-1]}")
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    proc = subprocess.run(sim, cwd=folder, capture_output=True, text=True, timeout=timeout)
    run_s = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    passed = proc.returncode == 0 and re.search(r"^PASS", log, re.M) is not None
    cycles = [int(x) for x in (folder / "cycles.txt").read_text().split()] \
        if (folder / "cycles.txt").exists() else []
    outputs = [int(x, 16) for x in (folder / "outputs.hex").read_text().split()
               if re.fullmatch(r"[0-9a-fA-F]+", x)] if (folder / "outputs.hex").exists() \
        else []
    return BenchRun(passed, log, cycles, outputs, build_s, run_s)
