"""``python -m rtl.export MODEL.yaml --out DIR``: the accelerator as a self-contained FPGA project.

The folder holds one Verilog file per module (the top level and each unit
module it instantiates, see :mod:`rtl.accel.modules`; every name carries its
parameters), ``files.f``, a
FuseSoC CAPI2 core with ``sim`` (Icarus), ``lint`` (Verilator) and ``synth``
(Yosys, ECP5) targets, the ``$readmemh`` images of the instruction ROM,
constants, weights and the bench's stimulus and golden outputs, the
self-checking bench, a Makefile and a README. Nothing in it names a path or a
date, so two exports of one design are byte-identical. The folder is written
under a temporary name and renamed when complete. ``--simulate`` runs the
bench and writes ``sim/result.json`` and the dequantised outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from cosim.errors import CosimError
from cosim.graph import build_graph, totals
from cosim.run import load, parse_tokens
from cosim.sim.platform import validate
from cosim.weights import PreparedWeights
from rtl.accel import bench
from rtl.accel.build import Build, make, unpack_lanes
from rtl.accel.top import FILES

#: tokens exported when --tokens is not given
DEFAULT_TOKENS = "1,2,3,4"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``rtl.export``."""
    p = argparse.ArgumentParser(prog="python -m rtl.export",
                                description="Export the accelerator of a model as a "
                                            "self-contained, self-checking Verilog project.")
    p.add_argument("model", type=Path, help="model YAML (models/*.yaml)")
    p.add_argument("--schedule", type=Path, help="schedule YAML (default: the model's)")
    p.add_argument("--checkpoint", type=Path, help="Hugging Face checkpoint folder")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by dotted path, e.g. schedule.lanes=2")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--tokens", default=DEFAULT_TOKENS,
                   help=f"lane 0's token ids (default {DEFAULT_TOKENS}); lane k decodes "
                        "them shifted by 37k")
    p.add_argument("--simulate", choices=("icarus", "verilator"),
                   help="run the bench and write sim/result.json")
    p.add_argument("--backpressure", action="store_true",
                   help="with --simulate: random gaps on every port (cycles then include "
                        "stalls)")
    return p


def core_file(top: str, sources: list[str], streamed: bool) -> str:
    """The FuseSoC CAPI2 description of the folder (``sources``: the Verilog files,
    dependencies first)."""
    mems = [FILES["instr"], FILES["const"]] + ([] if streamed else [FILES["weights"]])
    vectors = ["stimulus.hex", "expected.hex"] + ([FILES["weights"]] if streamed else [])
    user = "\n".join(f"      - {m}: {{copyto: {m}}}" for m in mems)
    vec = "\n".join(f"      - {m}: {{copyto: {m}}}" for m in vectors)
    return f"""CAPI=2:
name: mmfree-cosim:accel:{top}:0
description: MatMul-free LM accelerator exported by python -m rtl.export

filesets:
  rtl:
    files: [{", ".join(sources)}]
    file_type: verilogSource
  images:
    files:
{user}
    file_type: user
  bench:
    files: [{bench.BENCH_NAME}.v]
    file_type: verilogSource
  vectors:
    files:
{vec}
    file_type: user

targets:
  default:
    filesets: [rtl, images]
    toplevel: {top}
  sim:
    default_tool: icarus
    filesets: [rtl, images, bench, vectors]
    toplevel: {bench.BENCH_NAME}
    tools:
      icarus:
        iverilog_options: [-g2012]
  lint:
    default_tool: verilator
    filesets: [rtl]
    toplevel: {top}
    tools:
      verilator:
        mode: lint-only
        verilator_options: [-Wall]
  synth:
    default_tool: yosys
    filesets: [rtl, images]
    toplevel: {top}
    tools:
      yosys:
        arch: ecp5
"""


def makefile(top: str) -> str:
    """Make targets running the bench and lint without FuseSoC."""
    b = bench.BENCH_NAME
    return f"""# Run the self-checking bench or the lint of {top}.
sim-icarus:
\tiverilog -g2012 -s {b} -o bench.vvp -f files.f {b}.v && vvp -n bench.vvp $(PLUSARGS)

sim-verilator:
\tverilator --binary -Wno-fatal -Wno-lint -Wno-style --top-module {b} -o bench -f files.f {b}.v
\t./obj_dir/bench $(PLUSARGS)

lint:
\tverilator --lint-only -Wall --top-module {top} -f files.f

.PHONY: sim-icarus sim-verilator lint
"""


def _table(header: tuple, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def readme(b: Build) -> str:
    """The folder's README: what it is, ports, memory map, how to run."""
    d, p = b.design, b.program
    bits = d.numerics.rowwise.bits
    layout = d.layout()
    fields = ", ".join(f"{f.name}[{layout.offsets[f.name] + f.width - 1}:"
                       f"{layout.offsets[f.name]}]" for f in layout.fields)
    dw = d.lanes * bits
    ports = [("`clk`, `rst`", "in", 1, "clock; synchronous active-high reset"),
             ("`i_valid`, `i_ready`, `i_data`", "in, out, in", f"1, 1, {dw}",
              f"input vector, one element of every lane per beat (lane k in bits "
              f"[{bits}k+{bits - 1}:{bits}k]), {p.in_size} beats per token"),
             ("`o_valid`, `o_ready`, `o_data`", "out, in, out", f"1, 1, {dw}",
              f"output vector, same packing, {p.out_size} beats per token")]
    if not d.resident:
        ports += [("`w_addr`", "out", (d.wdepth - 1).bit_length(),
                   "the weight word the sequencer wants"),
                  ("`w_valid`, `w_ready`, `w_data`", "in, out, in", f"1, 1, {2 * d.tp}",
                   "the weight stream: `w_data` is the word at `w_addr` while `w_valid`")]
    weights_where = "ROM" if d.resident else "bench memory behind w_*"
    memories = [
        ("instruction ROM (shared)", len(p.instrs), layout.width, f"`{FILES['instr']}`"),
        ("norm weights, lower bounds (shared)", d.cdepth, bits, f"`{FILES['const']}`"),
        (f"weights: {d.tp} 2-bit codes a word (00=0, 01=+1, 11=-1)", d.wdepth, 2 * d.tp,
         f"`{FILES['weights']}` ({weights_where})"),
        ("vector registers (two read copies)", d.vdepth, bits, ""),
        ("recurrent state", d.sdepth, bits, ""),
        ("quantised activations", d.qdepth, d.tp * d.numerics.activation_bits, "")]
    c = d.cfg
    modules = [(f"`{m.name}.v`", m.unit, " ".join(f"{k}={v}" for k, v, _ in m.fields),
                ", ".join(m.instances)) for m in b.units.values()]
    keys = sorted({(k, why) for m in b.units.values() for k, _, why in m.fields})
    legend = "; ".join(f"{k}: {why}" for k, why in keys)
    return f"""# {b.top}

The MatMul-free LM accelerator of model `{c.name}` ({c.variant} MLGRU,
H={c.hidden_size}, {c.num_hidden_layers} layers) on schedule `{d.schedule.name}`:
{d.lanes} lanes, TP={d.tp}, weights
{"on chip (ROM)" if d.resident else "streamed through the w_* port"}.
Exported by `python -m rtl.export`; every file here is generated.

The host computes the embedding row and sends it in; the accelerator runs the
lane program ({len(p.instrs)} instructions) and sends `{p.out_node}` out
({p.out_size} elements per token). Each lane keeps its own recurrent state
across tokens; a reset (`rst` high for a cycle) starts a new sequence, whose
first token reads the state as zero. All lanes run in lock step on one
weight stream.

## Ports

{_table(("port", "dir", "bits", "meaning"), ports)}

Values are signed {bits}-bit fixed point with {d.numerics.rowwise.frac} fractional bits.

## Modules

`{b.top}.v` is the top level: the sequencer, the lanes' memories and
muxes, and one instance per lane of each unit module below. Each unit module
is converted from its MyHDL unit on its own; its name is the unit followed
by the parameters its Verilog depends on, so equal parameters share one
module. `files.f` lists the files, dependencies first.

{_table(("file", "unit", "parameters in the name", "instances"), modules)}

Keys: {legend}.

## Memory map (per lane unless shared)

{_table(("memory", "words", "width", "file"), memories)}

Instruction word fields (LSB first): {fields}.

## Run

- `make sim-icarus` or `make sim-verilator`: the bench feeds `stimulus.hex`
  ({len(b.lane_tokens[0])} tokens per lane; lane tokens {b.lane_tokens}), compares
  every output beat with `expected.hex` (the fixed-point golden model), prints
  PASS or FAIL and exits non-zero on FAIL. Plusargs go in `PLUSARGS=...`:
  `+nobp` turns off the random back-pressure; `+restart` runs the stimulus
  again after a reset and expects the same outputs.
- `make lint`: `verilator --lint-only -Wall`; the only waivers are line-local
  WIDTH waivers, each after a `// width:` comment that gives its reason.
- FuseSoC: `fusesoc --cores-root . run --target sim|lint|synth
  mmfree-cosim:accel:{b.top}`.
"""


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in sorted(files.items()):
        (folder / name).write_text(text, encoding="utf-8")


def simulate(b: Build, folder: Path, simulator: str, backpressure: bool) -> dict:
    """Run the bench in ``folder``; write sim/ and return result.json's content."""
    with tempfile.TemporaryDirectory() as work:       # build products stay out of DIR
        _write(Path(work), b.files)
        run = bench.run(Path(work), [f"{bench.BENCH_NAME}.v", *b.sources], simulator,
                        backpressure=backpressure)
    d, p = b.design, b.program
    tokens = len(b.lane_tokens[0])
    bits = d.numerics.rowwise.bits
    got = unpack_lanes(run.outputs[:tokens * p.out_size], d.lanes, bits)
    seen = got.shape[1]       # the bench stops at its tenth mismatch
    complete = seen == tokens * p.out_size
    mismatches = int(np.count_nonzero(got != b.expected.reshape(d.lanes, -1)[:, :seen]))
    sim = folder / "sim"
    sim.mkdir()
    if complete:
        real = b.engine.fx.to_real(got.reshape(d.lanes, tokens, p.out_size)).astype(np.float32)
        np.save(sim / ("logits.npy" if p.out_node.startswith("lm_head") else "hidden.npy"),
                real)
    result = {
        "bit_exact": run.passed and complete and mismatches == 0,
        "tokens": tokens, "lanes": d.lanes, "simulator": simulator,
        "backpressure": backpressure,
        "cycles_per_token": run.cycles[-1] / tokens if run.cycles else None,
        "simpy_cycles_per_token": b.predicted,
        "mismatches": mismatches, "values_checked": seen * d.lanes,
        "build_s": run.build_s, "run_s": run.run_s, "run_s_per_token": run.run_s / tokens,
        "lane_tokens": b.lane_tokens, "output": p.out_node,
        "unit_timings": b.timings,
    }
    (sim / "result.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (sim / "bench.log").write_text(run.log)
    return result


def write_folder(cfg, schedule, source, tokens: list[int], out: Path, *,
                 simulator: str | None = None, backpressure: bool = False) -> dict | None:
    """Build the design and write its folder ``out``; result.json's content when
    ``simulator`` names one (also what ``cosim.run --rtl`` reports)."""
    graph = build_graph(cfg, schedule.numerics)
    validate(schedule, cfg, totals(graph)["weight_bytes_per_token"])
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise CosimError(f"cannot write --out {out}: {exc.strerror or exc}") from None
    try:
        b = make(cfg, schedule, PreparedWeights(cfg, source), tokens)
        b.files["files.f"] = "".join(f"{f}\n" for f in b.sources)
        b.files[f"{b.top}.core"] = core_file(b.top, b.sources, not b.design.resident)
        b.files["Makefile"] = makefile(b.top)
        b.files["README.md"] = readme(b)
        _write(tmp, b.files)
        result = simulate(b, tmp, simulator, backpressure) if simulator else None
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def export(args: argparse.Namespace) -> dict | None:
    """The folder of ``args``' design; result.json's content with --simulate."""
    cfg, schedule, _, source = load(args)
    tokens = parse_tokens(args.tokens, cfg.vocab_size)
    return write_folder(cfg, schedule, source, tokens, args.out, simulator=args.simulate,
                        backpressure=args.backpressure)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success (and a bit-exact simulation), 1 on a failed bench, 2 on
    bad input."""
    args = build_parser().parse_args(argv)
    try:
        result = export(args)
    except CosimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if result is None:
        print(f"exported {args.out}")
        return 0
    print(f"{'PASS' if result['bit_exact'] else 'FAIL'}: {result['tokens']} tokens x "
          f"{result['lanes']} lanes, {result['cycles_per_token']} cycles/token in "
          f"{result['simulator']} (SimPy {result['simpy_cycles_per_token']})")
    return 0 if result["bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
