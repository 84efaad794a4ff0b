"""Malformed checkpoints of every kind end in CheckpointError, never another exception.

Generated inputs (a few dozen per test in the quick profile, 1,300 with
``CI=true``): random bytes, truncated files, wrong header lengths, header entries
with wrong types or values, random metadata, and malformed config.json and
index files, read through the ``safetensors`` library. Where a mutation might by
chance still be valid, the test accepts success but nothing other than
CheckpointError.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from hypothesis import assume, event, given
from hypothesis import strategies as st

from cosim.checkpoint import SafetensorsFile, load_checkpoint, write_checkpoint
from cosim.checkpoint.shard import DTYPES, write_safetensors
from cosim.config import load_model
from cosim.errors import CheckpointError
from cosim.weights import RandomWeights

ROOT = Path(__file__).resolve().parents[1]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10)

tensors = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda n: n != "__metadata__"),
    st.tuples(st.sampled_from(["BF16", "F32"]),
              st.lists(st.integers(0, 4), max_size=3)),
    min_size=1, max_size=4)


def outcome(action) -> str:
    """Run ``action``; 'ok' or 'refused', and any other exception propagates.

    The outcome is a Hypothesis event, so ``--hypothesis-show-statistics``
    shows how many inputs of each test were refused.
    """
    try:
        action()
        result = "ok"
    except CheckpointError:
        result = "refused"
    event(result)
    return result


def read_all(path: Path) -> None:
    f = SafetensorsFile(path)
    for name in f.names:
        f.read(name)


def valid_file(path: Path, spec: dict) -> bytes:
    """Write a valid file of ``spec`` (name -> (dtype, shape)) and return its bytes."""
    for dtype in {d for d, _ in spec.values()}:
        names = [n for n, (d, _) in spec.items() if d == dtype]
        if len(names) == len(spec):
            write_safetensors(path, {n: np.ones(spec[n][1], np.float32) for n in names},
                              dtype)
            return path.read_bytes()
    # Mixed dtypes: our writer uses one dtype per file, so lay the file out here.
    header, offset = {}, 0
    for name, (dtype, shape) in spec.items():
        size = math.prod(shape) * DTYPES[dtype].itemsize
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    return assemble(json.dumps(header).encode(), b"\x3f" * offset)


def assemble(header: bytes, data: bytes, length: int | None = None) -> bytes:
    size = len(header) if length is None else length
    return size.to_bytes(8, "little") + header + data


def split(raw: bytes) -> tuple[dict, bytes]:
    size = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + size]), raw[8 + size:]


@given(st.binary(max_size=200))
def test_random_bytes(tmp_path, raw):
    path = tmp_path / "x.safetensors"
    path.write_bytes(raw)
    outcome(lambda: read_all(path))


@given(st.binary(max_size=120), st.integers(0, 2 ** 64 - 1))
def test_random_header_after_a_plausible_length(tmp_path, body, length):
    path = tmp_path / "x.safetensors"
    path.write_bytes(assemble(body, b"", length % (len(body) + 2)))
    outcome(lambda: read_all(path))


@given(tensors, st.data())
def test_truncated_file(tmp_path, spec, data):
    path = tmp_path / "x.safetensors"
    raw = valid_file(path, spec)
    cut = data.draw(st.integers(0, len(raw) - 1))
    path.write_bytes(raw[:cut])
    assert outcome(lambda: read_all(path)) == "refused"


@given(tensors, st.integers(0, 2 ** 64 - 1))
def test_wrong_header_length(tmp_path, spec, length):
    path = tmp_path / "x.safetensors"
    raw = valid_file(path, spec)
    assume(length != int.from_bytes(raw[:8], "little"))
    path.write_bytes(length.to_bytes(8, "little") + raw[8:])
    assert outcome(lambda: read_all(path)) == "refused"


def _still_valid(key: str, old: dict, new) -> bool:
    """Whether replacing ``old[key]`` by ``new`` leaves a valid entry."""
    size = DTYPES[old["dtype"]].itemsize
    if key == "dtype":
        return isinstance(new, str) and new in DTYPES and (
            DTYPES[new].itemsize == size or math.prod(old["shape"]) == 0)
    if key == "shape":
        return (isinstance(new, list) and len(new) <= 32
                and all(type(d) is int and d >= 0 for d in new)
                and math.prod(new) == math.prod(old["shape"]))
    return new == old["data_offsets"]


@given(tensors, st.data(), st.sampled_from(["dtype", "shape", "data_offsets"]),
       json_values | st.lists(st.integers(-5, 40), max_size=3)
       | st.sampled_from(list(DTYPES) + ["F64", "I8", "bf16", ""]),
       st.booleans())
def test_corrupted_entry(tmp_path, spec, data, key, value, delete):
    path = tmp_path / "x.safetensors"
    header, body = split(valid_file(path, spec))
    name = data.draw(st.sampled_from(sorted(header)))
    entry = header[name]
    if delete:
        del entry[key]
    else:
        assume(not _still_valid(key, entry, value))
        entry[key] = value
    path.write_bytes(assemble(json.dumps(header).encode(), body))
    assert outcome(lambda: read_all(path)) == "refused"


@given(tensors, json_values, st.sampled_from(["__metadata__", "top", "entry"]))
def test_random_json_in_the_header(tmp_path, spec, value, where):
    path = tmp_path / "x.safetensors"
    header, body = split(valid_file(path, spec))
    if where == "__metadata__":
        header["__metadata__"] = value
    elif where == "top":
        header = value
    else:
        header[sorted(header)[0]] = value
    path.write_bytes(assemble(json.dumps(header).encode(), body))
    outcome(lambda: read_all(path))


@given(tensors, st.binary(min_size=1, max_size=4), st.data())
def test_bytes_spliced_into_the_header(tmp_path, spec, junk, data):
    path = tmp_path / "x.safetensors"
    raw = valid_file(path, spec)
    size = int.from_bytes(raw[:8], "little")
    at = data.draw(st.integers(8, 8 + size))
    header = raw[8:at] + junk + raw[at:8 + size]
    path.write_bytes(assemble(header, raw[8 + size:]))
    outcome(lambda: read_all(path))


class Folder:
    """A synthetic tiny checkpoint, written once per test and damaged per example.

    Pristine copies of its JSON files are kept beside it, so each example
    starts from the valid file however the previous one damaged it.
    """

    cfg = load_model(ROOT / "models" / "tiny.yaml")

    def __init__(self, tmp: Path, shard_bytes: int = 2 * 10 ** 9):
        self.path = tmp / "ck"
        if not self.path.exists():
            write_checkpoint(self.cfg, self.path, RandomWeights(self.cfg),
                             shard_bytes=shard_bytes)
            for name in ("config.json", "model.safetensors.index.json"):
                if (self.path / name).exists():
                    (tmp / name).write_bytes((self.path / name).read_bytes())
        self.config = json.loads((tmp / "config.json").read_text())
        self.index = (json.loads((tmp / "model.safetensors.index.json").read_text())
                      if shard_bytes < 2 * 10 ** 9 else None)

    def load(self) -> str:
        def action():
            load_checkpoint(self.path).check(self.cfg)
        return outcome(action)


HF_KEYS = ["model_type", "hidden_size", "num_hidden_layers", "vocab_size",
           "intermediate_size", "hidden_ratio", "rms_norm_eps", "use_lower_bound",
           "tie_word_embeddings", "expand_ratio"]


@given(st.sampled_from(HF_KEYS), json_values, st.booleans())
def test_malformed_config_json_value(tmp_path, key, value, delete):
    folder = Folder(tmp_path)
    config = dict(folder.config)
    if delete:
        config.pop(key, None)
    else:
        config[key] = value
    (folder.path / "config.json").write_text(json.dumps(config))
    folder.load()


@given(st.binary(max_size=100) | json_values.map(lambda v: json.dumps(v).encode()))
def test_malformed_config_json_file(tmp_path, raw):
    folder = Folder(tmp_path)
    (folder.path / "config.json").write_bytes(raw)
    assert folder.load() == "refused"


@given(json_values, st.sampled_from(["file", "weight_map", "entry"]))
def test_malformed_index(tmp_path, value, where):
    folder = Folder(tmp_path, shard_bytes=100_000)
    index = folder.index
    if where == "file":
        index = value
    elif where == "weight_map":
        index["weight_map"] = value
    else:
        index["weight_map"]["model.norm.weight"] = value
    (folder.path / "model.safetensors.index.json").write_text(json.dumps(index))
    folder.load()
