"""``python -m cosim.train MODEL.yaml OUT_DIR``: train a byte-level model and export it.

Trains the model YAML's architecture and MLGRU variant from scratch on the
corpus of :mod:`cosim.train.corpus` and writes OUT_DIR as a released-layout
checkpoint (config.json + model.safetensors, float32) with provenance.json,
plus the held-out excerpt that ``cosim.run --text`` evaluates. Seeded: the same
command, seed and thread count give the same weights. Progress goes to stderr
as it goes; the checkpoint is written to a temporary folder and renamed, so a
killed run never leaves half a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from cosim.checkpoint.folder import CONFIG
from cosim.checkpoint.make import hf_config
from cosim.config import load_model
from cosim.errors import CosimError
from cosim.train import corpus

HELD_OUT_BYTES = 4096


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m cosim.train``."""
    p = argparse.ArgumentParser(
        prog="python -m cosim.train",
        description="Train a byte-level MatMul-free LM (ternary BitLinear with "
                    "straight-through estimators, MLGRU, GLU) and export it as an "
                    "hgrn_bit checkpoint. Needs: pip install -e '.[train]' and "
                    f"apt-get install {corpus.PACKAGE}.")
    p.add_argument("model", type=Path, help="model YAML: sizes and MLGRU variant")
    p.add_argument("out_dir", type=Path, help="checkpoint folder to write (must be new)")
    p.add_argument("--held-out", type=Path, metavar="FILE",
                   help=f"also write the first ~{HELD_OUT_BYTES} held-out bytes here")
    p.add_argument("--steps", type=int, default=600, help="optimiser steps")
    p.add_argument("--batch", type=int, default=16, help="sequences per step")
    p.add_argument("--seq", type=int, default=128, help="bytes per training sequence")
    p.add_argument("--lr", type=float, default=4e-3, help="peak AdamW learning rate")
    p.add_argument("--warmup", type=int, default=50, help="linear warm-up steps")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and batches")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: on a shared 2-core machine a "
                        "second thread spin-waits and slows training down)")
    return p


def _torch():
    try:
        import torch
    except ImportError:
        raise CosimError("training needs PyTorch, the optional 'train' extra: "
                         "pip install -e '.[train]'") from None
    return torch


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    done = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * done)))


def train(args: argparse.Namespace, log) -> None:
    """Train, evaluate on the held-out text, export."""
    for name in ("steps", "batch", "seq", "threads"):
        if getattr(args, name) <= 0:
            raise CosimError(f"--{name} must be a positive integer, not {getattr(args, name)}")
    if args.out_dir.exists():
        raise CosimError(f"{args.out_dir} exists; choose a new folder")
    cfg = load_model(args.model)
    if cfg.vocab_size != 256:
        raise CosimError(f"model.vocab_size must be 256 (bytes) to train on text, "
                         f"not {cfg.vocab_size}")
    torch = _torch()
    from safetensors.torch import save_file

    from cosim.train.model import HGRNBit

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    text = corpus.read_corpus()
    train_text, held_out = corpus.split(text)
    data = torch.frombuffer(bytearray(train_text), dtype=torch.uint8).long()
    model = HGRNBit(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95),
                            weight_decay=0.01)
    batches = torch.Generator().manual_seed(args.seed)
    start = time.time()
    log(f"training {cfg.name} ({cfg.variant}), "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, on "
        f"{len(train_text):,} bytes for {args.steps} steps of {args.batch}x{args.seq}")
    recent: list[float] = []
    for step in range(args.steps):
        at = torch.randint(0, len(data) - args.seq - 1, (args.batch,), generator=batches)
        window = torch.stack([data[a:a + args.seq + 1] for a in at.tolist()])
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args)
        logits = model(window[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size),
                                                 window[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        recent = (recent + [loss.item() / math.log(2)])[-50:]
        if (step + 1) % 50 == 0 or step + 1 == args.steps:
            log(f"step {step + 1}/{args.steps}: train {sum(recent) / len(recent):.3f} "
                f"bits/byte (mean of last {len(recent)}), {time.time() - start:.0f} s")
    excerpt = corpus.excerpt(held_out, HELD_OUT_BYTES)
    model.eval()
    with torch.no_grad():
        tokens = torch.frombuffer(bytearray(excerpt), dtype=torch.uint8).long()[None]
        held_bpb = torch.nn.functional.cross_entropy(
            model(tokens[:, :-1])[0], tokens[0, 1:]).item() / math.log(2)
    log(f"held-out excerpt ({len(excerpt)} bytes, one sequence): {held_bpb:.3f} bits/byte")
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    tmp = args.out_dir.with_name(args.out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    (tmp / CONFIG).write_text(json.dumps(hf_config(cfg, "float32"), indent=2,
                                         sort_keys=True) + "\n")
    provenance = {
        "corpus": {"name": "King James Bible", "package": f"Debian {corpus.PACKAGE} "
                   "(text in bible-kjv-text), read with `bible -f "
                   f"{corpus.EVERYTHING}`, verse references removed",
                   "licence": corpus.LICENCE, "bytes": len(text),
                   "sha256": corpus.sha256(text),
                   "held_out": f"the last {len(held_out):,} bytes "
                               f"({corpus.HELD_OUT_FRACTION:.0%}), never trained on",
                   "held_out_excerpt_sha256": corpus.sha256(excerpt)},
        "command": "python -m cosim.train " + " ".join(sys.argv[1:]),
        "model": {"yaml": str(args.model), "variant": cfg.variant},
        "steps": args.steps, "batch": args.batch, "seq": args.seq, "lr": args.lr,
        "warmup": args.warmup, "seed": args.seed, "threads": args.threads,
        "final_train_bits_per_byte": round(sum(recent) / len(recent), 4),
        "final_train_loss_nats": round(sum(recent) / len(recent) * math.log(2), 4),
        "held_out_excerpt_bits_per_byte_torch": round(held_bpb, 4),
        "seconds": round(time.time() - start),
        "torch": torch.__version__, "python": platform.python_version(),
    }
    (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    os.replace(tmp, args.out_dir)
    if args.held_out:
        args.held_out.parent.mkdir(parents=True, exist_ok=True)
        args.held_out.write_bytes(excerpt)
    log(f"wrote {args.out_dir}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 with a one-line ``error:`` on bad input."""
    args = build_parser().parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        train(args, log)
    except CosimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
