"""Checkpoint folders: safetensors round trips, sharding, and every refusal."""

from __future__ import annotations

import builtins
import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cosim.checkpoint import (
    SafetensorsFile,
    bf16_round,
    load_checkpoint,
    write_checkpoint,
    write_safetensors,
)
from cosim.checkpoint.make import hf_config, main
from cosim.config import load_model
from cosim.errors import CheckpointError
from cosim.weights import RandomWeights, expected_tensors

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "models" / "tiny.yaml"


@pytest.fixture(scope="module")
def cfg():
    return load_model(TINY)


def written(cfg, folder: Path, **kwargs) -> Path:
    """A synthetic checkpoint of ``cfg`` in ``folder``."""
    return write_checkpoint(cfg, folder, RandomWeights(cfg), **kwargs)


def raw_file(path: Path, header: dict, data: bytes = b"") -> Path:
    """A safetensors file written byte by byte, for dtypes and defects we never write."""
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    return path


def rewrite(folder: Path, tensors: dict[str, np.ndarray]) -> None:
    """Replace a single-file checkpoint's tensors with ``tensors``."""
    write_safetensors(folder / "model.safetensors", tensors, "F32")


def all_tensors(folder: Path) -> dict[str, np.ndarray]:
    ck = load_checkpoint(folder)
    return {name: ck.tensor(name) for name in ck.names}


def refusal(folder: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(folder)
    return str(info.value)


# bf16 rounding: (float32 input, expected bf16 value) -- round to nearest, ties to even.
BF16_TABLE = [
    (1.0, 1.0),
    (1 + 2 ** -8, 1.0),                      # tie, 1.0 is even
    (1 + 3 * 2 ** -8, 1 + 2 ** -6),          # tie, rounds up to even
    (1 + 2 ** -8 + 2 ** -20, 1 + 2 ** -7),   # above the tie
    (-(1 + 2 ** -8 + 2 ** -20), -(1 + 2 ** -7)),
    (-0.0, -0.0),
    (3.39e38, 3.3895314e38),                 # bf16's largest finite value
    (3.4e38, np.inf),                        # beyond it
    (np.inf, np.inf),
    (-np.inf, -np.inf),
    (1e-40, 2 ** -133),                      # subnormal
]


@pytest.mark.parametrize("value, expected", BF16_TABLE)
def test_bf16_rounds_to_nearest_even(value, expected):
    got = bf16_round(np.array([value], np.float32))[0]
    assert got == np.float32(expected) and np.signbit(got) == np.signbit(expected)


def test_bf16_keeps_nan():
    assert np.isnan(bf16_round(np.array([np.nan, -np.nan], np.float32))).all()


@pytest.mark.parametrize("dtype", ["BF16", "F32"])
def test_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(1)
    tensors = {"a": rng.standard_normal((3, 5), np.float32) * 100,
               "b": rng.standard_normal(7, np.float32),
               "empty": np.zeros((0, 4), np.float32),
               "special": np.array([3.39e38, -0.0, 1e-42, -1e-40], np.float32)}
    path = tmp_path / "x.safetensors"
    size = write_safetensors(path, tensors, dtype, {"format": "pt"})
    assert path.stat().st_size == size
    f = SafetensorsFile(path)
    assert set(f.names) == set(tensors) and f.metadata == {"format": "pt"}
    for name, value in tensors.items():
        want = bf16_round(value) if dtype == "BF16" else value
        got = f.read(name)
        assert got.dtype == np.float32 and got.shape == value.shape
        np.testing.assert_array_equal(got, want)


def test_reads_f16(tmp_path):
    value = np.array([[0.5, -2.0], [65504.0, 6e-8]], np.float16)
    path = raw_file(tmp_path / "h.safetensors", {"h": {
        "dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}}, value.astype("<f2").tobytes())
    np.testing.assert_array_equal(SafetensorsFile(path).read("h"), value.astype(np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["BF16", "F32"])
def test_a_tensor_of_nan_or_inf_is_refused_by_name(tmp_path, cfg, bad, dtype):
    folder = written(cfg, tmp_path / "ck", dtype=dtype.lower())
    tensors = all_tensors(folder)
    tensors["model.layers.1.attn.g_proj.weight"][3, 4] = bad
    write_safetensors(folder / "model.safetensors", tensors, dtype)
    ck = load_checkpoint(folder)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor 'model\.layers\.1\."
                                              r"attn\.g_proj\.weight' holds 1 NaN or infinite"):
        ck.tensor("model.layers.1.attn.g_proj.weight")


def test_dtypes_a_checkpoint_never_holds_are_refused(tmp_path):
    path = raw_file(tmp_path / "i.safetensors", {"w": {
        "dtype": "I8", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x02")
    with pytest.raises(CheckpointError, match=r"i\.safetensors: tensor 'w': dtype must be one "
                                              r"of BF16, F16, F32, found I8"):
        SafetensorsFile(path)


def test_tiny_model_through_a_checkpoint(tmp_path, cfg):
    ck = load_checkpoint(written(cfg, tmp_path / "ck"))
    fields = ck.model_fields()
    assert cfg.replace(**fields) == cfg
    assert ck.hf_config == hf_config(cfg, "bfloat16")
    ck.check(cfg)
    assert set(ck.names) == set(expected_tensors(cfg))
    source = RandomWeights(cfg)
    for name in ("model.embeddings.weight", "model.layers.3.mlp.gate_proj.weight"):
        np.testing.assert_array_equal(ck.tensor(name), bf16_round(source.tensor(name)))


def test_sharded_checkpoint_with_index(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck", dtype="f32", shard_bytes=100_000)
    shards = sorted(folder.glob("*.safetensors"))
    assert len(shards) > 2 and shards[0].name == f"model-00001-of-{len(shards):05d}.safetensors"
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(expected_tensors(cfg))
    assert index["metadata"]["total_size"] == sum(
        np.prod(s) * 4 for s in expected_tensors(cfg).values())
    ck = load_checkpoint(folder)
    ck.check(cfg)
    source = RandomWeights(cfg)
    for name in ck.names:
        np.testing.assert_array_equal(ck.tensor(name), source.tensor(name))


def test_shards_without_index(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck", shard_bytes=100_000)
    (folder / "model.safetensors.index.json").unlink()
    load_checkpoint(folder).check(cfg)


def test_duplicate_tensor_across_shards(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck")
    value = np.ones(3, np.float32)
    write_safetensors(folder / "extra.safetensors", {"model.norm.weight": value})
    message = refusal(folder)
    assert "'model.norm.weight'" in message and "extra.safetensors" in message


def test_missing_tensor(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck")
    tensors = all_tensors(folder)
    del tensors["model.layers.2.attn.f_proj.weight"]
    rewrite(folder, tensors)
    with pytest.raises(CheckpointError,
                       match=r"missing model\.layers\.2\.attn\.f_proj\.weight "
                             r"\(expected shape \[64, 64\]\)"):
        load_checkpoint(folder).check(cfg)


def test_unexpected_tensor(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck")
    tensors = all_tensors(folder)
    tensors["model.layers.0.attn.conv1d.weight"] = np.zeros((64, 4), np.float32)
    rewrite(folder, tensors)
    with pytest.raises(CheckpointError, match=r"unexpected tensor model\.layers\.0\.attn\."
                                              r"conv1d\.weight \(shape \[64, 4\]\)"):
        load_checkpoint(folder).check(cfg)


def test_misshaped_tensor(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck")
    tensors = all_tensors(folder)
    tensors["model.layers.1.mlp.down_proj.weight"] = np.zeros((192, 64), np.float32)
    rewrite(folder, tensors)
    with pytest.raises(CheckpointError, match=r"model\.layers\.1\.mlp\.down_proj\.weight "
                                              r"has shape \[192, 64\], expected \[64, 192\]"):
        load_checkpoint(folder).check(cfg)


def test_many_mismatches_are_summarised(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck")
    with pytest.raises(CheckpointError, match=r"\(0 missing, 0 unexpected, 61 misshaped "
                                              r"tensors\).*; and 56 more$"):
        load_checkpoint(folder).check(cfg.replace(hidden_size=32))


# (key, value, fragments of the message); the type and range wording is the
# config schema's, so only the parts that name the key and the value are pinned.
@pytest.mark.parametrize("key, value, fragments", [
    ("model_type", "llama", ["model_type must be 'hgrn_bit' (a MatMul-free LM), not 'llama'"]),
    ("model_type", None, ["model_type must be 'hgrn_bit' (a MatMul-free LM), not missing"]),
    ("tie_word_embeddings", True, ["tie_word_embeddings must be false", "not True"]),
    ("expand_ratio", 2, ["expand_ratio must be 1 or null", "not 2"]),
    ("hidden_size", 7, ["config.json: hidden_size must be a positive multiple of 8", "not 7"]),
    ("vocab_size", "32000", ["config.json: vocab_size must be ", "integer", "not '32000'"]),
    ("rms_norm_eps", 2, ["config.json: rms_norm_eps must be ", "1, not 2"]),
    ("use_lower_bound", 1, ["config.json: use_lower_bound must be true or false, not 1"]),
    ("num_hidden_layers", None, ["config.json: num_hidden_layers is required"]),
])
def test_config_json_refusals(tmp_path, cfg, key, value, fragments):
    folder = written(cfg, tmp_path / "ck")
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    message = refusal(folder)
    assert all(fragment in message for fragment in fragments), message


def test_config_json_keys_we_do_not_model_are_ignored(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck")
    config = json.loads((folder / "config.json").read_text())
    config.update(num_heads=1, attn_mode="fused_recurrent", expand_ratio=1,
                  hidden_ratio=None, intermediate_size=None)
    (folder / "config.json").write_text(json.dumps(config))
    fields = load_checkpoint(folder).model_fields()
    assert fields["intermediate_size"] is None and "hidden_ratio" not in fields


def test_missing_config_json(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck")
    (folder / "config.json").unlink()
    assert "holds no config.json" in refusal(folder)


def test_missing_and_empty_folder(tmp_path):
    assert "does not exist" in refusal(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert "holds no config.json" in refusal(tmp_path / "empty")


def test_folder_without_weights(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck")
    (folder / "model.safetensors").unlink()
    assert "holds no .safetensors files" in refusal(folder)


def test_pickle_only_folder_is_refused_unopened(tmp_path, cfg, monkeypatch):
    folder = written(cfg, tmp_path / "ck")
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    (folder / "pytorch_model.bin").write_bytes(
        f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    opened = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def no_unpickling(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, no_unpickling)
    message = refusal(folder)
    assert "holds only pickle weights (pytorch_model.bin); convert them to safetensors" \
        in message
    assert not any(path.endswith(".bin") for path in opened)
    assert not marker.exists() and "torch" not in sys.modules


def test_index_naming_a_missing_file(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck", shard_bytes=100_000)
    (folder / "model-00002-of-00005.safetensors").unlink()
    message = refusal(folder)
    assert "model-00002-of-00005.safetensors, which is missing" in message
    assert "tensor 'model." in message


def test_index_disagreeing_with_its_files(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck", shard_bytes=100_000)
    path = folder / "model.safetensors.index.json"
    index = json.loads(path.read_text())
    index["weight_map"]["model.layers.3.mlp.down_proj.norm.weight"] = \
        "model-00001-of-00005.safetensors"
    path.write_text(json.dumps(index))
    assert "maps it to 'model-00001-of-00005.safetensors'" in refusal(folder)


def test_index_may_not_leave_the_folder(tmp_path, cfg):
    folder = written(cfg, tmp_path / "ck", shard_bytes=100_000)
    path = folder / "model.safetensors.index.json"
    index = json.loads(path.read_text())
    index["weight_map"]["model.norm.weight"] = "../model-00001-of-00005.safetensors"
    path.write_text(json.dumps(index))
    assert "expected a file name inside the folder" in refusal(folder)


def test_unknown_tensor_name(tmp_path, cfg):
    ck = load_checkpoint(written(cfg, tmp_path / "ck"))
    with pytest.raises(CheckpointError, match="no tensor named 'lm_head.bias'"):
        ck.tensor("lm_head.bias")


def test_write_refuses_a_non_empty_folder(tmp_path, cfg):
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "old.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not an empty folder"):
        written(cfg, tmp_path / "ck")


def test_cli_writes_a_sharded_checkpoint(tmp_path, cfg, capsys):
    out = tmp_path / "ck"
    assert main([str(TINY), str(out), "--dtype", "f32", "--shard-mb", "0.1", "--seed", "3",
                 "--set", "model.vocab_size=512"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: 65 tensors in ")
    ck = load_checkpoint(out)
    changed = cfg.replace(vocab_size=512, seed=3)
    ck.check(changed)
    np.testing.assert_array_equal(ck.tensor("lm_head.weight"),
                                  RandomWeights(changed).tensor("lm_head.weight"))


def test_cli_reports_bad_input(tmp_path, capsys):
    assert main([str(TINY), str(tmp_path / "ck"), "--set", "model.hidden_size=7"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model.hidden_size must be") and err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (["--shard-mb", "x"], "error: argument --shard-mb: must be a positive number, not 'x'"),
    (["--set", "model.hidden_size=1048576"], "error: the shards of tiny (largest "
                                             "2,199,023,255,552 bytes) need about 14,336.0 GiB"),
    (["--dtype"], "error: argument --dtype: expected one argument"),
])
def test_cli_refusals_are_one_line_before_writing(tmp_path, capsys, argv, message):
    assert main([str(TINY), str(tmp_path / "ck"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not (tmp_path / "ck").exists()


def test_module_entry_point(tmp_path):
    run = subprocess.run([sys.executable, "-m", "cosim.checkpoint", str(TINY),
                          str(tmp_path / "ck")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "ck" / "model.safetensors").is_file()
