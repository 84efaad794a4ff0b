"""``python -m cosim.run MODEL.yaml``: what a MatMul-free model costs and computes.

Loads the model (and its checkpoint) and the schedule, builds the dataflow
graph, simulates decode and prefill on the schedule's platform (SimPy) and
reports throughput, power, energy, the bottleneck and, with ``--numerics
full``, the fidelity of the fixed-point values the simulation carried against
the float reference. Exit 0 on success, 2 with a one-line message on bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

import numpy as np

from cosim.budget import check_work
from cosim.config import load_model, load_schedule, parse_overrides
from cosim.config.model import ModelConfig
from cosim.config.schema import as_dict, show
from cosim.errors import ArgumentParser, CosimError, one_line
from cosim.files import read_limited
from cosim.graph import build_graph, export, totals
from cosim.numerics.engines import ENGINES, FixedEngine, FloatEngine
from cosim.numerics.fidelity import compare, quality
from cosim.sim import simulate
from cosim.weights import PreparedWeights, RandomWeights

log = logging.getLogger("cosim")

#: --numerics defaults to full for models smaller than this many parameters
FULL_NUMERICS_BELOW = 10_000_000
#: tokens the co-simulation carries when --numerics full is given without --tokens
DEFAULT_PROMPT = 16


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``cosim.run``."""
    p = ArgumentParser(
        prog="python -m cosim.run",
        description="Co-simulate a MatMul-free language model: graph, numerics, cost.")
    p.add_argument("model", type=Path, help="model YAML (models/*.yaml)")
    p.add_argument("--schedule", type=Path, help="schedule YAML (default: the model's)")
    p.add_argument("--checkpoint", type=Path,
                   help="Hugging Face checkpoint folder (hgrn_bit, safetensors)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by dotted path, e.g. model.hidden_size=128")
    p.add_argument("--tokens", help="comma-separated token ids to run through the numerics")
    p.add_argument("--text", type=Path, metavar="FILE",
                   help="run a text's bytes through the numerics (byte-level models) "
                        "and report bits per byte of the float and fixed-point engines")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    p.add_argument("--out", type=Path, metavar="DIR", help="write all reports into DIR")
    p.add_argument("--graph", type=Path, metavar="FILE",
                   help="export the dataflow graph (.graphml or .dot)")
    p.add_argument("--dump-logits", type=Path, metavar="FILE.npy",
                   help="write the logits of every position, float32 [tokens, vocab]")
    p.add_argument("--engine", choices=sorted(ENGINES), default="float",
                   help="engine of --dump-logits (default: float)")
    p.add_argument("--generate", type=int, metavar="N", default=0,
                   help="greedy-decode N tokens after the --tokens or --text prompt "
                        "with both engines")
    p.add_argument("--numerics", choices=("full", "off"),
                   help="full: fixed-point values travel with the simulated events "
                        "(fidelity, counted activity); off: timing only, expected "
                        f"densities (default: full below {FULL_NUMERICS_BELOW:,} parameters)")
    p.add_argument("--trace", type=Path, metavar="FILE",
                   help="write a Chrome/Perfetto trace of the simulated decode step")
    p.add_argument("--rtl", choices=("icarus", "verilator"),
                   help="also run the exported accelerator (rtl.export) on the tokens in this "
                        "simulator and add an 'rtl' section (bit-exactness, RTL and SimPy "
                        "cycles per token); its folder goes to OUT/rtl with --out")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return p


def parse_tokens(text: str | None, vocab: int) -> list[int]:
    """Token ids from '1,2,3', each checked against the vocabulary."""
    if text is None:
        return []
    try:
        tokens = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise CosimError(f"--tokens must be comma-separated integers, not {show(text)}") \
            from None
    if not tokens:
        raise CosimError("--tokens must name at least one token id")
    bad = [t for t in tokens if not 0 <= t < vocab]
    if bad:
        raise CosimError(f"--tokens: {bad[0]} is outside the vocabulary [0, {vocab})")
    return tokens


#: bytes a --text file may hold; every byte is a token through both engines
MAX_TEXT_BYTES = 1 << 20


def read_text(path: Path | None, vocab: int) -> list[int]:
    """The bytes of a text file as token ids of a byte-level model."""
    if path is None:
        return []
    if vocab != 256:
        raise CosimError(f"--text needs a byte-level model (vocab_size 256), not "
                         f"vocab_size {vocab}")
    data = read_limited(path, MAX_TEXT_BYTES, "--text file")
    if len(data) < 2:
        raise CosimError(f"--text {path} must hold at least 2 bytes, not {len(data)}")
    return list(data)


def load(args: argparse.Namespace) -> tuple[ModelConfig, object, dict, object]:
    """Model, schedule, where each architecture value came from, and the weights source."""
    overrides = parse_overrides(args.set)
    cfg = load_model(args.model, overrides)
    check_work(cfg)
    sources = {k: "model YAML" for k in ("hidden_size", "num_hidden_layers",
                                        "intermediate_size", "vocab_size",
                                        "rms_norm_eps", "variant")}
    folder = args.checkpoint or cfg.checkpoint
    weights: object = None
    if folder is not None:
        from cosim.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(folder)
        fields = checkpoint.model_fields()
        cfg = load_model(args.model, overrides, fields)
        check_work(cfg)
        checkpoint.check(cfg)
        sources.update({k: "checkpoint config.json" for k in fields if k in sources})
        weights = checkpoint
    sources.update({k: "--set" for k in overrides["model"] if k in sources})
    schedule = load_schedule(args.schedule or cfg.schedule, overrides)
    return cfg, schedule, sources, weights or RandomWeights(cfg)


def run(args: argparse.Namespace) -> dict:
    """Do the work of one invocation and return the report."""
    for flag in ("json", "out", "graph", "dump_logits", "trace"):
        path = getattr(args, flag)
        if path is not None and "\0" in str(path):
            raise CosimError(f"cannot write {path}: a path cannot hold a NUL character "
                             f"(--{flag.replace('_', '-')})")
    cfg, schedule, sources, source = load(args)
    if args.tokens and args.text:
        raise CosimError("give --tokens or --text, not both")
    tokens = parse_tokens(args.tokens, cfg.vocab_size) or read_text(args.text, cfg.vocab_size)
    if args.generate < 0:
        raise CosimError(f"--generate must be a positive count of tokens, not {args.generate}")
    carried = max(len(tokens), DEFAULT_PROMPT if args.numerics != "off" else 0)
    neuromorphic = getattr(schedule, "target", "fpga") == "neuromorphic"
    check_work(cfg, schedule, 2 * (carried + args.generate))   # float and fixed engines
    numerics = schedule.numerics
    graph = build_graph(cfg, numerics)
    if args.graph:
        try:
            export(graph, args.graph)
        except (OSError, ValueError) as exc:
            raise CosimError(f"cannot write {args.graph}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
    report = {
        "model": {"name": cfg.name, "variant": cfg.variant,
                  "hidden_size": cfg.hidden_size, "layers": cfg.num_hidden_layers,
                  "intermediate_size": cfg.intermediate, "vocab_size": cfg.vocab_size,
                  "sources": sources, **totals(graph)},
        "schedule": {"name": schedule.name, "numerics": as_dict(numerics)},
    }
    for flag, wanted in (("--dump-logits", args.dump_logits), ("--generate", args.generate)):
        if wanted and not tokens:
            raise CosimError(f"{flag} needs --tokens or --text")
    mode = args.numerics or ("full" if report["model"]["parameters"] < FULL_NUMERICS_BELOW
                             else "off")
    report["sim"] = {"numerics": mode, "numerics_rule":
                     "explicit --numerics" if args.numerics else
                     f"default: full below {FULL_NUMERICS_BELOW:,} parameters"}
    if mode == "full" and not tokens:
        tokens = [(7 * i + 1) % cfg.vocab_size for i in range(DEFAULT_PROMPT)]
    golden = reference = None
    if tokens:
        log.info("preparing weights")
        weights = PreparedWeights(cfg, source)
        reference = FloatEngine(graph, cfg, weights)
        golden = FixedEngine(graph, cfg, weights, numerics)
    if neuromorphic:
        if args.trace or args.out:
            raise CosimError("--trace and --out are for FPGA schedules; a neuromorphic "
                             "schedule writes its report with --json")
        from cosim.neuro import simulate as simulate_neuro

        outcome = simulate_neuro(graph, cfg, schedule,
                                 engine=golden if mode == "full" else None, tokens=tokens,
                                 progress=lambda t: _progress(t, "co-sim"))
        report.update(outcome.report)
        report["schedule"]["target"] = "neuromorphic"
        check = {"skipped": "needs --numerics full: SANA-FE replays the counted spikes"}
        if mode == "full":
            from cosim.neuro.sanafe_check import cross_check

            golden.reset()
            check = cross_check(graph, cfg, schedule, golden, tokens)
            golden.reset()
        report["neuromorphic"]["sanafe"] = check
    else:
        outcome = simulate(graph, cfg, schedule, engine=golden if mode == "full" else None,
                           tokens=tokens, trace=bool(args.trace or args.out),
                           progress=lambda t: _progress(t, "co-sim"))
        report.update(outcome.report)
        report["schedule"].update(_platform(schedule))
    if tokens:
        ref_logits = reference.run(_progress(tokens, "float"))
        gold_logits = (outcome.logits if outcome.logits is not None
                       else golden.run(_progress(tokens, "fixed")))
        report["numerics"] = compare(gold_logits, ref_logits, golden.overflow_count)
        report["numerics"]["overflows_by_op"] = dict(golden.fx.overflows)
        report["numerics"]["tokens_source"] = (
            "--tokens" if args.tokens else f"--text {args.text}" if args.text
            else f"default prompt of {DEFAULT_PROMPT} tokens")
        if args.text:
            report["quality"] = quality(gold_logits, ref_logits, tokens)
        if args.dump_logits:
            logits = gold_logits if args.engine == "fixed" else ref_logits
            _write(args.dump_logits, lambda f: np.save(f, logits.astype(np.float32)))
        if args.generate:
            report["generated"] = {"prompt": tokens, "bytes": cfg.vocab_size == 256}
            for name, engine in (("float", reference), ("fixed", golden)):
                engine.reset()
                report["generated"][name] = engine.generate(tokens, args.generate)
    if args.rtl:
        import tempfile

        from rtl.export import write_folder

        if not tokens:
            raise CosimError("--rtl needs --tokens")
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.out / "rtl" if args.out else Path(tmp) / "rtl"
            report["rtl"] = write_folder(cfg, schedule, source, tokens, folder,
                                         simulator=args.rtl)
    _check_finite(report)
    if args.trace:
        from cosim.sim.report import chrome_trace

        text = chrome_trace(outcome.trace, schedule.clock_mhz)
        _write(args.trace, lambda f: f.write(text.encode()))
    if args.out:
        from cosim.sim.report import write_outputs

        write_outputs(args.out, report, outcome, schedule, _write)
    return report


def _check_finite(value, key: str = "report") -> None:
    """Refuse a report holding NaN or infinity (JSON has neither), naming the key."""
    if isinstance(value, dict):
        for name, item in value.items():
            _check_finite(item, f"{key}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_finite(item, f"{key}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise CosimError(f"{key} came out {value}: the inputs lie outside what the "
                         "simulator can represent")


def _platform(schedule) -> dict:
    """The platform keys a reader needs beside the numerics."""
    return {"clock_mhz": schedule.clock_mhz, "compute_units": schedule.compute_units,
            "lanes": schedule.total_lanes, "lanes_per_compute_unit": list(schedule.lanes_per_cu),
            "tp": schedule.units.matvec.tp,
            "host": list(schedule.host), "weights": schedule.onchip.weights,
            "overlap": as_dict(schedule.overlap)}


def _progress(tokens: list[int], label: str):
    """Tokens wrapped in a progress bar that appears once the loop has run 2 s."""
    if not sys.stderr.isatty():
        return tokens
    from tqdm import tqdm

    return tqdm(tokens, desc=label, unit="tok", leave=False, delay=2.0)


def _write(path: Path, writer) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            writer(f)
    except (OSError, ValueError) as exc:     # ValueError: a NUL in the path
        raise CosimError(f"cannot write {path}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None


def summary(report: dict) -> str:
    """A few lines for a person."""
    m = report["model"]
    lines = [
        f"{m['name']} ({m['variant']} MLGRU): H={m['hidden_size']} L={m['layers']} "
        f"I={m['intermediate_size']} V={m['vocab_size']}",
        f"  parameters {m['parameters']:,}; per token: " + _work(report),
    ]
    from_ckpt = sorted(k for k, v in m["sources"].items() if v != "model YAML")
    if from_ckpt:
        lines.append("  from checkpoint/--set: " + ", ".join(
            f"{k} ({m['sources'][k]})" for k in from_ckpt))
    if "neuromorphic" in report:
        from cosim.neuro.core import summary_lines

        lines += summary_lines(report)
    elif "decode" in report:
        lines += _sim_lines(report)
    if "numerics" in report:
        n = report["numerics"]
        lines.append(
            f"  fixed-point vs float over {n['tokens']} tokens: top-1 agreement "
            f"{n['top1_agreement']:.3f}, min cosine {n['cosine_min']:.5f}, max |err| "
            f"{n['max_abs_err']:.3g}, overflows {n['overflow_count']}")
    if "quality" in report:
        q = report["quality"]
        lines.append(
            f"  bits per byte over {q['predicted_bytes']} bytes: float "
            f"{q['float_bits_per_byte']:.4f}, fixed {q['fixed_bits_per_byte']:.4f} "
            f"(fixed - float {q['fixed_minus_float']:+.4f})")
    if "rtl" in report:
        r = report["rtl"]
        lines.append(f"  RTL ({r['simulator']}, {r['lanes']} lanes): "
                     f"{'bit-exact' if r['bit_exact'] else 'NOT bit-exact'} over "
                     f"{r['tokens']} tokens; {r['cycles_per_token']:,.0f} cycles/token "
                     f"(SimPy {r['simpy_cycles_per_token']:,.0f})")
    if "generated" in report:
        g = report["generated"]
        show = _text if g["bytes"] else (lambda ids: ",".join(map(str, ids)))
        for name in ("float", "fixed"):
            lines.append(f"  greedy ({name}): {show(g['prompt'][-40:])} -> {show(g[name])}")
    return "\n".join(lines)


def _text(ids: list[int]) -> str:
    """Byte tokens as a quoted string, newlines and non-ASCII escaped."""
    return repr(bytes(ids).decode("latin-1"))


def _work(report: dict) -> str:
    """Weights and operations per token: the accelerator's apart from the host's."""
    parts = ((("accelerator", report["accelerator"]), ("host", report["host"]))
             if "accelerator" in report else (("all nodes", report["model"]),))
    return "; ".join(f"{where} {w['weight_bytes_per_token'] / 1e6:.3g} MB of weights, "
                     f"{w['ternary_adds_per_token']:,} ternary adds, "
                     f"{w['rowwise_ops_per_token']:,} row-wise ops" for where, w in parts)


def _sim_lines(report: dict) -> list[str]:
    d, p, e, w = report["decode"], report["prefill"], report["energy"], report["power"]
    s = report["schedule"]
    uncharacterized = [u for u, v in report["units"].items() if not v["characterized"]]
    act, m = report["activity"], report["memory"]
    layout = "+".join(map(str, s.get("lanes_per_compute_unit", [])))
    lines = [
        f"  schedule {s['name']}: {s['clock_mhz']:g} MHz, {s['compute_units']} compute "
        f"unit(s), {s['lanes']} lane(s){f' ({layout})' if '+' in layout else ''}, "
        f"TP={s['tp']}; on host: "
        f"{', '.join(s['host']) or 'nothing'}",
        f"  decode: {d['tokens_per_s']:,.2f} tokens/s ({d['tokens_per_s_per_lane']:,.2f} "
        f"per lane), {d['cycles_per_step']:,.0f} cycles per decode step of "
        f"{d['lanes']} lane(s), {d['latency_ms']:.3f} ms latency; prefill: "
        f"{p['tokens_per_s']:,.1f} tokens/s (batch {p['batch']})",
        f"  memory: {m['achieved_gb_per_s']:.3g} GB/s, {m['utilization']:.0%} of the "
        f"sustained bandwidth of {m['active_channels']} active channel(s) (all channels: "
        f"{m['sustained_gb_per_s']:.3g} sustained, {m['peak_gb_per_s']:.3g} peak); "
        "activation loads/stores "
        f"{m['activation_bytes_per_step'] / max(m['dram_bytes_per_step'], 1):.0%} of the bytes",
        f"  bottleneck: {report['bottleneck']}; roofline: "
        f"{report['roofline']['bound']}-bound, "
        f"{report['roofline']['fraction_of_roof']:.0%} of the roof",
        f"  power {w['total_w']:.2f} W (static {w['static_w']:.2f}, dynamic "
        f"{w['dynamic_w']:.2f}); {e['joules_per_token']:.4g} J/token, "
        f"{e['tokens_per_joule']:.4g} tokens/J; brain (20 W, ~4 tokens/s): "
        f"{report['brain']['design_over_brain_tokens_per_joule']:.3g}x its tokens/J",
        f"  numerics {report['sim']['numerics']} ({report['sim']['numerics_rule']}); "
        f"activity: {act['source']}",
    ]
    if uncharacterized:
        lines.append("  uncharacterized units (analytic stand-ins): "
                     + ", ".join(uncharacterized))
    fit = report["fit"]
    if fit["device"]:
        verdict = {True: "fits", False: "does NOT fit", None: "fit unknown"}[fit["fits"]]
        lines.append(f"  device {fit['device']}: {verdict}; " + ", ".join(
            f"{key} {r['utilization']:.0%}" for key, r in fit["resources"].items()
            if r["utilization"] is not None))
    return lines


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 on bad input (one line on stderr)."""
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(message)s")
        report = run(args)
        text = json.dumps(report, indent=2, sort_keys=True, allow_nan=False) + "\n"
        if args.json:
            _write(args.json, lambda f: f.write(text.encode()))
        if args.out:
            _write(args.out / "report.json", lambda f: f.write(text.encode()))
    except CosimError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    for warning in report.get("warnings", ()):
        print(f"warning: {one_line(warning)}", file=sys.stderr)
    print("\n".join(one_line(line) for line in summary(report).splitlines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
