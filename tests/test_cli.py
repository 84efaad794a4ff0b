"""``python -m cosim.run``: report keys, logits dumps, checkpoints, exit codes."""

import json
import subprocess
import sys

import numpy as np
import pytest

from cosim.checkpoint import write_checkpoint
from cosim.config import load_model, parse_overrides
from cosim.run import main
from cosim.weights import RandomWeights


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny checkpoint whose sizes differ from models/tiny.yaml."""
    cfg = load_model("models/tiny.yaml", parse_overrides(
        ["model.hidden_size=32", "model.num_hidden_layers=2", "model.intermediate_size=64",
         "model.vocab_size=50", "model.seed=9"]))
    folder = tmp_path_factory.mktemp("ckpt")
    write_checkpoint(cfg, folder, RandomWeights(cfg), dtype="f32")
    return folder, cfg


def test_report_has_the_promised_keys(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["models/tiny.yaml", "--tokens", "1,2,3", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    model = report["model"]
    assert model["parameters"] == 248960
    assert model["weight_bytes_per_token"] > 0
    assert model["ops_per_token"]["matvec"] == model["ternary_adds_per_token"]
    for key in ("max_abs_err", "cosine_min", "top1_agreement", "overflow_count"):
        assert key in report["numerics"]
    assert "fixed-point vs float over 3 tokens" in capsys.readouterr().out


@pytest.mark.parametrize("engine", ["float", "fixed"])
def test_dump_logits(tmp_path, checkpoint, engine):
    folder, cfg = checkpoint
    path = tmp_path / "logits.npy"
    assert main(["models/tiny.yaml", "--checkpoint", str(folder), "--tokens", "1,2,3,4",
                 "--dump-logits", str(path), "--engine", engine]) == 0
    logits = np.load(path)
    assert logits.shape == (4, 50) and logits.dtype == np.float32


def test_greedy_generation_by_both_engines(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["models/tiny.yaml", "--set", "model.vocab_size=300", "--tokens", "1,2,3",
                 "--generate", "4", "--json", str(out)]) == 0
    generated = json.loads(out.read_text())["generated"]
    printed = capsys.readouterr().out
    for engine in ("float", "fixed"):
        assert len(generated[engine]) == 4
        assert all(0 <= t < 300 for t in generated[engine])
        assert f"greedy ({engine}): 1,2,3 -> " in printed


def test_checkpoint_logits_equal_the_random_weights_it_was_made_from(tmp_path, checkpoint):
    """A checkpoint round trip computes the same model as its weight source."""
    folder, cfg = checkpoint
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    sets = ["--set", "model.hidden_size=32", "--set", "model.num_hidden_layers=2",
            "--set", "model.intermediate_size=64", "--set", "model.vocab_size=50",
            "--set", "model.seed=9"]
    assert main(["models/tiny.yaml", "--checkpoint", str(folder), "--tokens", "5,6",
                 "--dump-logits", str(a)]) == 0
    assert main(["models/tiny.yaml", *sets, "--tokens", "5,6", "--dump-logits", str(b)]) == 0
    np.testing.assert_array_equal(np.load(a), np.load(b))


def test_checkpoint_sizes_override_the_yaml_and_summary_says_so(checkpoint, capsys):
    folder, _ = checkpoint
    assert main(["models/tiny.yaml", "--checkpoint", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "H=32 L=2 I=64 V=50" in out
    assert "hidden_size (checkpoint config.json)" in out


@pytest.mark.parametrize("argv, message", [
    (["models/tiny.yaml", "--set", "model.hidden_size=7"], "model.hidden_size must be"),
    (["models/missing.yaml"], "cannot read models/missing.yaml"),
    (["models/tiny.yaml", "--tokens", "1,x"], "--tokens must be comma-separated integers"),
    (["models/tiny.yaml", "--tokens", "256"], "outside the vocabulary [0, 256)"),
    (["models/tiny.yaml", "--dump-logits", "x.npy"], "--dump-logits needs --tokens"),
    (["models/tiny.yaml", "--generate", "3"], "--generate needs --tokens"),
    (["models/tiny.yaml", "--tokens", "1", "--generate", "-1"], "--generate must be"),
    (["models/tiny.yaml", "--tokens", "1", "--text", "README.md"], "--tokens or --text"),
    (["models/tiny.yaml", "--set", "model.vocab_size=300", "--text", "README.md"],
     "--text needs a byte-level model (vocab_size 256)"),
    (["models/tiny.yaml", "--text", "/nonexistent/t.txt"],
     "cannot read /nonexistent/t.txt: FileNotFoundError"),
    (["models/tiny.yaml", "--checkpoint", "/nonexistent/ckpt"], "/nonexistent/ckpt"),
    (["models/tiny.yaml", "--graph", "g.png"], "--graph needs"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_module_entry_point_in_a_subprocess(tmp_path):
    graph = tmp_path / "g.graphml"
    done = subprocess.run([sys.executable, "-m", "cosim.run", "models/tiny.yaml",
                           "--graph", str(graph)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert graph.exists() and "tiny (released MLGRU)" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "cosim.run", "models/tiny.yaml", "--set",
                          "model.variant=gru"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: model.variant")
