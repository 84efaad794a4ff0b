"""Write a checkpoint folder in the exact released ``hgrn_bit`` layout.

Used to make synthetic checkpoints of seeded random weights, so that the
checkpoint path of the flow can be tested and timed without downloading one.
Large models are split into shards with a ``model.safetensors.index.json``, as
Hugging Face does; one shard is held in memory at a time. config.json is
written last, so an interrupted run leaves a folder that refuses to load
rather than one that loads half a model.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from cosim.budget import check_memory
from cosim.checkpoint.folder import CONFIG, INDEX, MODEL_TYPE
from cosim.checkpoint.shard import DTYPES as FILE_DTYPES
from cosim.checkpoint.shard import write_safetensors
from cosim.config import load_model, parse_overrides
from cosim.config.model import ModelConfig
from cosim.config.schema import show
from cosim.errors import ArgumentParser, CheckpointError, CosimError, one_line
from cosim.weights import RandomWeights, WeightSource, expected_tensors

try:
    from tqdm import tqdm
except ImportError:  # the bar is a convenience; writing works without it
    tqdm = None

#: --dtype choices: the safetensors dtype and config.json's torch_dtype.
DTYPES = {"bf16": ("BF16", "bfloat16"), "f32": ("F32", "float32")}
#: Hugging Face counts shard sizes in decimal megabytes.
MB = 10 ** 6
DEFAULT_SHARD_MB = 2000


def hf_config(cfg: ModelConfig, torch_dtype: str) -> dict[str, Any]:
    """The config.json of ``cfg``, with the keys the released checkpoints use."""
    return {
        "architectures": ["HGRNBitForCausalLM"],
        "model_type": MODEL_TYPE,
        "hidden_size": cfg.hidden_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "intermediate_size": cfg.intermediate_size,
        "hidden_ratio": cfg.hidden_ratio,
        "vocab_size": cfg.vocab_size,
        "rms_norm_eps": cfg.rms_norm_eps,
        "use_lower_bound": cfg.use_lower_bound,
        "tie_word_embeddings": False,
        "torch_dtype": torch_dtype,
    }


def plan_shards(shapes: Mapping[str, tuple[int, ...]], itemsize: int,
                shard_bytes: int) -> list[dict[str, tuple[int, ...]]]:
    """Split tensors, in order, into shards of at most ``shard_bytes``.

    A tensor larger than the limit gets a shard of its own, as in Hugging Face.
    """
    shards: list[dict[str, tuple[int, ...]]] = [{}]
    size = 0
    for name, shape in shapes.items():
        nbytes = math.prod(shape) * itemsize
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = shape
        size += nbytes
    return shards


def _write_json(path: Path, data: Any) -> None:
    try:
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n",
                        encoding="utf-8")
    except OSError as exc:
        raise CheckpointError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_checkpoint(cfg: ModelConfig, out_dir: str | os.PathLike, source: WeightSource,
                     dtype: str = "bf16", shard_bytes: int = DEFAULT_SHARD_MB * MB) -> Path:
    """Write ``source``'s tensors for ``cfg`` as a checkpoint folder; return it.

    ``out_dir`` must not exist or be empty, so stale shards never mix in.
    """
    if dtype not in DTYPES:
        raise CheckpointError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if shard_bytes <= 0:
        raise CheckpointError(f"shard size must be positive, not {shard_bytes} bytes")
    code, torch_dtype = DTYPES[dtype]
    itemsize = FILE_DTYPES[code].itemsize
    shapes = expected_tensors(cfg)
    shards = plan_shards(shapes, itemsize, shard_bytes)
    files = (["model.safetensors"] if len(shards) == 1 else
             [f"model-{k:05d}-of-{len(shards):05d}.safetensors"
              for k in range(1, len(shards) + 1)])
    total = sum(math.prod(s) for s in shapes.values()) * itemsize
    largest = max(math.prod(s) for s in shapes.values())
    shard_most = max(sum(math.prod(s) for s in shard.values()) for shard in shards)
    # one shard as written, and a float32 tensor drawn and converted beside it
    check_memory(shard_most * itemsize + 3 * 4 * largest,
                 f"the shards of {cfg.name} (largest {shard_most * itemsize:,} bytes)",
                 "write a smaller model")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CheckpointError(f"{out} exists and is not an empty folder; "
                              "choose a new one")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot create {out}: {exc.strerror or exc}") from None
    bar = (tqdm(total=total, unit="B", unit_scale=True, desc=f"writing {out.name}",
                disable=None) if tqdm is not None else None)
    try:
        for file, shard in zip(files, shards):
            tensors = {}
            for name in shard:
                tensors[name] = source.tensor(name).astype(FILE_DTYPES[code])
                if bar is not None:
                    bar.update(tensors[name].nbytes)
            write_safetensors(out / file, tensors, code, {"format": "pt"})
    finally:
        if bar is not None:
            bar.close()
    if len(shards) > 1:
        _write_json(out / INDEX, {
            "metadata": {"total_size": total},
            "weight_map": {n: f for f, s in zip(files, shards) for n in s}})
    _write_json(out / CONFIG, hf_config(cfg, torch_dtype))
    return out


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {show(text)}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m cosim.checkpoint``."""
    parser = ArgumentParser(
        prog="python -m cosim.checkpoint",
        description="Write a synthetic hgrn_bit checkpoint (seeded random weights "
                    "in the released Hugging Face layout).")
    parser.add_argument("model", type=Path, help="model YAML")
    parser.add_argument("out_dir", type=Path, help="folder to create (must be new or empty)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bf16",
                        help="tensor dtype (default bf16)")
    parser.add_argument("--shard-mb", type=_positive, default=DEFAULT_SHARD_MB,
                        help=f"largest shard in MB (default {DEFAULT_SHARD_MB})")
    parser.add_argument("--seed", type=int, help="seed of the weights (overrides the YAML)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a YAML key, e.g. model.hidden_size=128")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Write the checkpoint; print a one-line summary, or ``error: ...`` and return 2."""
    start = time.perf_counter()
    try:
        args = build_parser().parse_args(argv)
        sets = args.set + ([f"model.seed={args.seed}"] if args.seed is not None else [])
        cfg = load_model(args.model, parse_overrides(sets))
        out = write_checkpoint(cfg, args.out_dir, RandomWeights(cfg), args.dtype,
                               int(args.shard_mb * MB))
    except CosimError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    files = sorted(out.glob("*.safetensors"))
    size = sum(f.stat().st_size for f in files)
    print(f"wrote {out}: {len(expected_tensors(cfg))} tensors in {len(files)} "
          f"file(s), {size / MB:.1f} MB, in {time.perf_counter() - start:.1f} s")
    return 0
