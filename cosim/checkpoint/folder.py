"""Load a Hugging Face ``hgrn_bit`` checkpoint folder, refusing what we cannot model.

A folder holds ``config.json`` and one or more ``.safetensors`` files, listed
by ``model.safetensors.index.json`` when sharded. Pickle weights are refused,
never unpickled: loading one can run arbitrary code. Headers are validated when
the folder is loaded; tensors are read when asked for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from cosim.checkpoint.shard import SafetensorsFile
from cosim.config.model import HF_KEYS, ModelConfig
from cosim.config.schema import build
from cosim.errors import CheckpointError, ConfigError
from cosim.files import read_limited
from cosim.weights import expected_tensors

CONFIG = "config.json"
INDEX = "model.safetensors.index.json"
MODEL_TYPE = "hgrn_bit"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
#: How many mismatches ``Checkpoint.check`` spells out before summarising.
REPORT_LIMIT = 5
#: config.json and the index are a few kilobytes (the 2.7B index: 40 kB).
MAX_JSON_BYTES = 16 << 20


def _read_json(path: Path) -> Any:
    """The JSON value of file ``path``; duplicate keys and invalid text are errors."""
    raw = read_limited(path, MAX_JSON_BYTES, "checkpoint JSON file", CheckpointError)

    def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=refuse_duplicates)
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{path}: not UTF-8 text ({exc.reason} at byte "
                              f"{exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None


def _show(value: Any) -> str:
    text = "missing" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Checkpoint:
    """A validated checkpoint folder: its config.json and its tensors by name.

    Satisfies :class:`cosim.weights.WeightSource`.
    """

    def __init__(self, folder: Path, hf_config: dict, fields: dict[str, Any],
                 files: dict[str, SafetensorsFile]):
        self.folder = folder
        self.hf_config = hf_config
        self._fields = fields
        self._files = files

    @property
    def names(self) -> tuple[str, ...]:
        """Every tensor name in the checkpoint."""
        return tuple(self._files)

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of tensor ``name`` as its file's header declares it."""
        return self._file(name).tensors[name].shape

    def model_fields(self) -> dict[str, Any]:
        """The ModelConfig field values config.json determines, validated."""
        return dict(self._fields)

    def tensor(self, name: str) -> np.ndarray:
        """Tensor ``name`` as float32."""
        return self._file(name).read(name)

    def _file(self, name: str) -> SafetensorsFile:
        if name not in self._files:
            raise CheckpointError(f"{self.folder}: no tensor named {name!r} (the "
                                  f"checkpoint holds {len(self._files)} tensors)")
        return self._files[name]

    def check(self, cfg: ModelConfig) -> None:
        """Refuse a checkpoint whose tensors differ from ``cfg``'s released layout."""
        expected = expected_tensors(cfg)
        missing = [n for n in expected if n not in self._files]
        unexpected = [n for n in self._files if n not in expected]
        misshaped = [n for n in expected
                     if n in self._files and self.shape(n) != expected[n]]
        problems = (
            [f"missing {n} (expected shape {list(expected[n])})" for n in missing]
            + [f"unexpected tensor {n} (shape {list(self.shape(n))})"
               for n in unexpected]
            + [f"{n} has shape {list(self.shape(n))}, expected {list(expected[n])}"
               for n in misshaped])
        if not problems:
            return
        shown = "; ".join(problems[:REPORT_LIMIT])
        more = len(problems) - REPORT_LIMIT
        raise CheckpointError(
            f"{self.folder} does not match model {cfg.name!r} ({len(missing)} "
            f"missing, {len(unexpected)} unexpected, {len(misshaped)} misshaped "
            f"tensors): {shown}" + (f"; and {more} more" if more > 0 else ""))


def load_checkpoint(folder: str | os.PathLike) -> Checkpoint:
    """Open and validate a checkpoint folder (headers only; tensors load lazily)."""
    folder = Path(folder)
    try:
        is_folder = stat.S_ISDIR(os.stat(folder).st_mode)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint folder {folder} does not exist") from None
    except (OSError, ValueError) as exc:        # ValueError: a NUL in the path
        raise CheckpointError(f"cannot read checkpoint folder {folder}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
    if not is_folder:
        raise CheckpointError(f"checkpoint folder {folder} is not a folder")
    config_path = folder / CONFIG
    if not (config_path.exists() or config_path.is_symlink()):
        raise CheckpointError(f"{folder} holds no {CONFIG}; a Hugging Face "
                              "checkpoint folder needs one")
    hf_config = _read_json(config_path)
    fields = _config_fields(config_path, hf_config)
    return Checkpoint(folder, hf_config, fields, _tensor_files(folder))


def _config_fields(path: Path, hf: Any) -> dict[str, Any]:
    """Check config.json describes a model we can run; return its ModelConfig fields."""
    if not isinstance(hf, dict):
        raise CheckpointError(f"{path} must hold a JSON object, found "
                              f"{type(hf).__name__}")
    if hf.get("model_type") != MODEL_TYPE:
        raise CheckpointError(f"{path}: model_type must be {MODEL_TYPE!r} (a "
                              f"MatMul-free LM), not {_show(hf.get('model_type'))}")
    tie = hf.get("tie_word_embeddings", False)
    if tie is not False:
        raise CheckpointError(f"{path}: tie_word_embeddings must be false (the "
                              f"released layout has its own lm_head), not {_show(tie)}")
    expand = hf.get("expand_ratio")
    if expand is not None and (type(expand) is not int or expand != 1):
        raise CheckpointError(f"{path}: expand_ratio must be 1 or null (the "
                              f"released MLGRU width), not {_show(expand)}")
    defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    # A null where the field has a non-null default means "the released default".
    values = {HF_KEYS[k]: v for k, v in hf.items()
              if k in HF_KEYS and (v is not None or defaults[HF_KEYS[k]] is None)}
    try:
        model = build(ModelConfig, {"name": path.parent.name or "checkpoint", **values},
                      CONFIG, path.parent)
    except ConfigError as exc:
        raise CheckpointError(str(exc).replace(f"{CONFIG}.", f"{path}: ", 1)) from None
    return {field: getattr(model, field) for field in values}


def _tensor_files(folder: Path) -> dict[str, SafetensorsFile]:
    """Each tensor name and the file that holds it."""
    index = folder / INDEX
    if index.exists() or index.is_symlink():
        return _indexed_files(folder, index)
    try:
        listing = sorted(folder.iterdir())
    except OSError as exc:
        raise CheckpointError(f"cannot list {folder}: {exc.strerror or exc}") from None
    paths = [p for p in listing if p.suffix == ".safetensors"]
    if not paths:
        pickles = [p.name for p in listing if p.suffix in PICKLE_SUFFIXES]
        if pickles:
            raise CheckpointError(f"{folder} holds only pickle weights "
                                  f"({', '.join(pickles)}); convert them to "
                                  "safetensors (cosim never unpickles: it can run code)")
        raise CheckpointError(f"{folder} holds no .safetensors files")
    files: dict[str, SafetensorsFile] = {}
    for path in paths:
        _add(files, SafetensorsFile(path))
    return files


def _add(files: dict[str, SafetensorsFile], shard: SafetensorsFile) -> None:
    for name in shard.names:
        if name in files:
            raise CheckpointError(f"tensor {name!r} is in both {files[name].path} "
                                  f"and {shard.path}")
        files[name] = shard


def _indexed_files(folder: Path, index: Path) -> dict[str, SafetensorsFile]:
    """Tensors of the files ``model.safetensors.index.json`` names, checked against it."""
    data = _read_json(index)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(
            isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{index}: expected an object whose weight_map maps "
                              f"tensor names to file names, found {_show(data)}")
    shards: dict[str, SafetensorsFile] = {}
    for name, file in weight_map.items():
        if file in shards:
            continue
        if Path(file).name != file or file in ("", ".", ".."):
            raise CheckpointError(f"{index}: tensor {name!r} maps to {file!r}; "
                                  "expected a file name inside the folder")
        if not (folder / file).exists():
            raise CheckpointError(f"{index}: tensor {name!r} maps to {file}, which "
                                  f"is missing from {folder}")
        shards[file] = SafetensorsFile(folder / file)
    files: dict[str, SafetensorsFile] = {}
    for file, shard in shards.items():
        _add(files, shard)
        for name in shard.names:
            if weight_map.get(name) != file:
                raise CheckpointError(f"{shard.path} holds tensor {name!r}, but "
                                      f"{index.name} maps it to "
                                      f"{_show(weight_map.get(name))}")
    for name, file in weight_map.items():
        if name not in files:
            raise CheckpointError(f"{index}: tensor {name!r} maps to {file}, which "
                                  "does not hold it")
    return files
