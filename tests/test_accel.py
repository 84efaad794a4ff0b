"""The exported accelerator computes whole tokens bit-exactly, in Icarus (through FuseSoC)
and Verilator, on every lane, and its bench fails on a corrupted instruction or weight.

The full matrix (three checkpoints x both MLGRU variants x both simulators, 8 tokens,
random back-pressure) is ``benchmarks/accel_matrix.py``; here, one run of each
simulator and the mutants.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cosim.checkpoint import load_checkpoint
from cosim.checkpoint.make import main as make_checkpoint
from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.numerics.engines import FixedEngine
from cosim.program import compile_program
from cosim.sim.program_timing import predict
from cosim.weights import PreparedWeights
from rtl.accel import bench
from rtl.accel.build import lane_tokens, weight_rate
from rtl.accel.encode import OPCODES, design
from rtl.accel.timing import measure
from rtl.export import main as export
from rtl.harness import lint
from rtl.rowwise import ADD
from rtl.tools import command

SCHEDULE = "schedules/ecp5-85k.yaml"
#: 1 layer, 2 lanes, weights streamed from a memory slower than the mat-vec (0.25 GB/s at
#: 65 MHz is 0.58 words a cycle), so the stream stalls the design and SimPy must say how much
SLOW_MEMORY = ["schedule.lanes=2", "model.num_hidden_layers=1", "schedule.memory.gb_per_s=0.25"]
ONE_LAYER = [a for s in SLOW_MEMORY for a in ("--set", s)]


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """A 1-layer, 2-lane design with weights streamed from a slow memory, 2 tokens a lane."""
    out = tmp_path_factory.mktemp("accel") / "streamed"
    assert export(["models/tiny.yaml", "--schedule", SCHEDULE, *ONE_LAYER,
                   "--tokens", "5,8", "--out", str(out)]) == 0
    return out


def _top(folder):
    return next(folder.glob("*.core")).stem


def test_fusesoc_sim_and_lint(streamed, tmp_path):
    work = tmp_path / "f"
    shutil.copytree(streamed, work)
    for target, expect in (("sim", "PASS: 2 tokens x 2 lanes bit-exact"), ("lint", "")):
        proc = subprocess.run(command("fusesoc") + ["--cores-root", ".", "run", "--target",
                                                    target, f"mmfree-cosim:accel:{_top(work)}"],
                              cwd=work, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert expect in proc.stdout + proc.stderr
    log = (work / "build").rglob("*.log")
    assert not any("%Warning" in p.read_text() for p in log)


def test_one_file_per_module_named_by_its_parameters(streamed, tmp_path):
    """files.f lists one file per module, dependencies first, each named as its module;
    unit modules carry their parameters, are shared by the lanes, and lint clean alone."""
    sources = (streamed / "files.f").read_text().split()
    top = _top(streamed)
    assert sources[-1] == f"{top}.v"
    assert sorted(p.name for p in streamed.glob("*.v")) == sorted(
        sources + [f"{bench.BENCH_NAME}.v"])
    texts = {s[:-2]: (streamed / s).read_text() for s in sources}
    assert all(re.findall(r"^module\s+(\w+)", t, re.M) == [m] for m, t in texts.items())
    d = _one_layer_design()
    prefixes = [f"rom_w{d.layout().width}_d{len(d.program.instrs)}",
                f"rom_w{d.numerics.rowwise.bits}_d{d.cdepth}", "rowwise_",
                f"matvec_tp{d.tp}_c{d.max_cols}_"]
    prefixes += [f"rmsnorm_n{n}_" for n in d.rms_sizes]
    prefixes += [f"quantize_n{n}_" for n in d.quant_sizes] + ["dequant_"]
    units = sources[:-1]
    assert len(units) == len(prefixes) and all(u.startswith(p) for u, p in zip(units, prefixes))
    readme = (streamed / "README.md").read_text()
    for name in units:
        name = name[:-2]
        per_lane = len(re.findall(rf"^{name} u_lane\d+_", texts[top], re.M))
        assert per_lane == d.lanes or (name.startswith("rom_") and f"\n{name} #(" in texts[top])
        assert f"`{name}.v`" in readme
        lint(texts[name], tmp_path / name, top=name)


def _flip(path, line, bit):
    lines = path.read_text().split("\n")
    width = len(lines[line]) * 4
    lines[line] = f"{int(lines[line], 16) ^ (1 << bit):0{width // 4}x}"
    path.write_text("\n".join(lines))


def _one_layer_design():
    ov = parse_overrides(SLOW_MEMORY)
    cfg = load_model("models/tiny.yaml", ov)
    sch = load_schedule(SCHEDULE, ov)
    return design(compile_program(build_graph(cfg, sch.numerics), cfg, sch), cfg, sch)


def test_icarus_cycles_match_simpy_and_a_reset_starts_a_new_sequence(streamed, tmp_path):
    """Without back-pressure the bench passes in the cycles SimPy predicts, and run twice
    with a reset between, the outputs repeat (the state reads as zero again); with the
    reset's re-arming of ``fresh`` removed, the second run fails."""
    work = tmp_path / "r"
    shutil.copytree(streamed, work)
    sources = [f"{bench.BENCH_NAME}.v", *(work / "files.f").read_text().split()]
    run = bench.run(work, sources, "icarus", backpressure=False, restart=True)
    assert run.passed and "again after a reset" in run.log, run.log
    d = _one_layer_design()
    timing = measure(d)
    predicted = predict(d.program, timing, weight_rate(d))
    assert predicted > predict(d.program, timing) * 1.1      # the memory does stall
    assert abs(run.cycles[-1] / 2 - predicted) <= 0.01 * predicted     # the first run's
    top = work / f"{_top(work)}.v"
    mutant, count = re.subn(r"(\w+_fresh) <= 1;", r"\1 <= \1;", top.read_text())
    assert count == 1
    top.write_text(mutant)
    run = bench.run(work, sources, "icarus", backpressure=False, restart=True)
    assert not run.passed and "FAIL" in run.log, run.log


def test_icarus_bench_fails_on_a_flipped_instruction_or_weight(streamed, tmp_path):
    """One flipped bit of an instruction's operand field, or of one weight, fails the bench
    (in the first token: it stops at its tenth mismatch)."""
    work = tmp_path / "m"
    shutil.copytree(streamed, work)
    sources = [f"{bench.BENCH_NAME}.v", *(work / "files.f").read_text().split()]
    layout = _one_layer_design().layout()
    words = [layout.unpack(int(w, 16)) for w in (work / "instr.hex").read_text().split()]
    add = next(k for k, w in enumerate(words) if w["op"] == OPCODES["row"] and w["kind"] == ADD)
    for k, (path, line, bit) in enumerate(((work / "instr.hex", add, layout.offsets["b"]),
                                           (work / "weights.hex", 0, 0))):
        original = path.read_text()
        _flip(path, line, bit)
        run = bench.run(work, sources, "icarus", backpressure=False, build=k == 0)
        path.write_text(original)
        assert not run.passed and "FAIL" in run.log, run.log


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and "sim" not in p.parts}


def _in_a_process(module, args, seed):
    """``python -m module args`` in a new process with string hash seed ``seed``."""
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": str(seed)}, timeout=900)
    assert proc.returncode == 0, proc.stderr


def test_cosim_run_rtl_section_and_byte_identical_export(streamed, tmp_path):
    """cosim.run --rtl exports the same design byte for byte (no path, date, process
    history or hash seed inside) and reports the RTL beside the golden and SimPy models."""
    out = tmp_path / "run"
    design = ["models/tiny.yaml", "--schedule", SCHEDULE, *ONE_LAYER, "--tokens", "5,8"]
    _in_a_process("cosim.run", [*design, "--rtl", "icarus", "--out", str(out)], seed=1)
    _in_a_process("rtl.export", [*design, "--out", str(tmp_path / "again")], seed=2)
    report = json.loads((out / "report.json").read_text())
    rtl = report["rtl"]
    assert rtl["bit_exact"] and rtl["mismatches"] == 0 and rtl["tokens"] == 2
    assert set(rtl) >= {"cycles_per_token", "simpy_cycles_per_token", "lanes"}
    fa, fb = _files(streamed), _files(out / "rtl")
    assert fa == fb == _files(tmp_path / "again")
    text = fa[f"{_top(streamed)}.v"].decode()
    assert "/tmp" not in text and "Date" not in text
    lines = text.split("\n")              # waivers are line-local and give their reason
    offs = [k for k, line in enumerate(lines) if "lint_off" in line]
    assert offs and all(lines[k - 1].startswith("// width: ") and "lint_on" in lines[k + 2]
                        for k in offs)


def test_verilator_checkpoint_paper_resident_eight_tokens(tmp_path):
    """Tiny model (4 layers), random checkpoint, paper MLGRU, weights on chip, 8 tokens
    on 2 lanes with different tokens: bit-exact, and SimPy within 1% of the RTL cycles."""
    ckpt = tmp_path / "ckpt"
    sets = ["--set", "model.variant=paper", "--set", "model.use_lower_bound=false"]
    assert make_checkpoint(["models/tiny.yaml", str(ckpt), "--seed", "11", *sets]) == 0
    out = tmp_path / "out"
    tokens = [3, 250, 17, 17, 99, 0, 128, 64]
    assert export(["models/tiny.yaml", "--schedule", SCHEDULE, "--checkpoint", str(ckpt),
                   *sets, "--set", "schedule.lanes=2", "--set", "schedule.onchip.weights=onchip",
                   "--tokens", ",".join(map(str, tokens)), "--out", str(out),
                   "--simulate", "verilator"]) == 0
    result = json.loads((out / "sim" / "result.json").read_text())
    assert result["bit_exact"] and result["mismatches"] == 0
    assert result["lanes"] == 2 and result["tokens"] == 8
    rtl, simpy = result["cycles_per_token"], result["simpy_cycles_per_token"]
    assert abs(rtl - simpy) <= 0.01 * rtl
    # hidden.npy against the golden model run here, independently of the bench
    hidden = np.load(out / "sim" / "hidden.npy")
    ov = parse_overrides(["model.variant=paper", "model.use_lower_bound=false"])
    checkpoint = load_checkpoint(ckpt)
    cfg = load_model("models/tiny.yaml", ov, checkpoint.model_fields())
    sch = load_schedule(SCHEDULE, ov)
    graph = build_graph(cfg, sch.numerics)
    engine = FixedEngine(graph, cfg, PreparedWeights(cfg, checkpoint), sch.numerics)
    assert hidden.shape == (2, 8, cfg.hidden_size)
    for lane, seq in enumerate(lane_tokens(tokens, 2, cfg.vocab_size)):
        engine.reset()
        seen = {}
        for k, t in enumerate(seq):
            engine.step(t, observe=lambda n, d, v: seen.__setitem__(n, v))
            np.testing.assert_array_equal(hidden[lane, k],
                                          engine.fx.to_real(seen["model.norm"]).astype(
                                              np.float32))
