"""Every kind of bad input found by fuzzing the CLI (issue 7): exit 2, one line, fast.

One example of each kind, in process through ``cosim.run.main`` and, for the
kinds a real shell passes differently (FIFOs, devices, undecodable bytes), in
a subprocess too. The Hypothesis families in ``test_cli_fuzz.py`` generalise
each kind.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from cosim.checkpoint import write_checkpoint, write_safetensors
from cosim.config import load_model, parse_overrides
from cosim.run import main
from cosim.weights import RandomWeights

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "models" / "tiny.yaml")
BASE = "name: t\nhidden_size: 64\nnum_hidden_layers: 2\nvocab_size: 100\n"


def cli(argv: list[str]) -> tuple[int, str, str, float]:
    """Exit code, stdout, stderr and CPU seconds of one in-process run."""
    out, err = io.StringIO(), io.StringIO()
    start = time.process_time()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue(), time.process_time() - start


def refused(argv: list[str]) -> str:
    """The one-line message of a refusal, checked to be one and quick."""
    code, _, err, seconds = cli(argv)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert seconds < 1.0, f"refusal took {seconds:.2f} s: {err}"
    return err


def model_yaml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "m.yaml"
    path.write_text(BASE + text)
    return str(path)


@pytest.mark.parametrize("text, message", [
    ("seed: !!int ''", "line 5: cannot read '' as !!int"),
    ("use_lower_bound: !!bool maybe", "line 5: cannot read 'maybe' as !!bool"),
    ("name: !!timestamp abc", "line 5: cannot read 'abc' as !!timestamp"),
    ("name: 2024-13-45", "cannot read '2024-13-45' as !!timestamp (month must be in 1..12)"),
    ("seed: " + "9" * 5000, "as !!int (Exceeds the limit (4300 digits)"),
    ("seed: 0x" + "f" * 5000, "model.seed must be an integer between 0 and 18,446,744,073,709,"),
    ("x: " + "[" * 100_000, "line 5: nested deeper than 32 levels"),
    ("x: " + "{a: " * 40 + "1" + "}" * 40, "nested deeper than 32 levels"),
    ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh")),
     "expands to more than 100,000 values"),
    ("a: &a [*a]", "an alias refers to a node that contains it"),
])
def test_yaml_the_loader_cannot_convert_or_that_explodes(tmp_path, text, message):
    assert message in refused([model_yaml(tmp_path, text), "--numerics", "off"])


def test_a_document_too_large(tmp_path):
    path = model_yaml(tmp_path, "# " + "x" * (2 << 20))
    assert "holds 2,097," in refused([path]) and "more than the 1,048,576" in refused([path])


@pytest.fixture()
def fifo(tmp_path):
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    return str(path)


@pytest.mark.parametrize("where", ["model", "--schedule"])
@pytest.mark.parametrize("path, message", [
    ("/dev/zero", "/dev/zero is not a regular file"),
    ("FIFO", "is not a regular file"),
    ("/tmp", "/tmp is not a regular file"),
    ("x" * 5000 + ".yaml", "File name too long"),
    ("models/tiny\0.yaml", "embedded null byte"),
    ("models/ti\nny.yaml", "cannot read models/ti\\nny.yaml: FileNotFoundError"),
    ("models/\udcfftiny.yaml", "cannot read models/\\udcfftiny.yaml"),
])
def test_paths_that_are_not_small_regular_files(fifo, where, path, message):
    path = fifo if path == "FIFO" else path
    argv = [path] if where == "model" else [TINY, "--schedule", path]
    assert message in refused(argv)


@pytest.mark.parametrize("flag", ["--json", "--graph", "--trace", "--dump-logits"])
def test_output_paths_with_nul(flag):
    argv = [TINY, "--numerics", "off", flag, "out\0.graphml"]
    if flag == "--dump-logits":
        argv += ["--tokens", "1"]
    assert "cannot write out" in refused(argv)


@pytest.mark.parametrize("sets, message", [
    (["model.hidden_size=65536", "--numerics", "full"],
     "the weights of tiny (68,906,517,248 parameters) need about 336.8 GiB"),
    (["model.num_hidden_layers=1000000"], "1,000,000 layers (41,000,006 graph nodes) need about"),
    (["model.num_hidden_layers=1000000000000"], "model.num_hidden_layers must be a positive "
                                                "integer <= 1,048,576"),
    (["schedule.compute_units=1000000000000"], "schedule.compute_units must be a positive"),
    (["schedule.memory.channels=1000000000000"], "schedule.memory.channels must be a positive"),
    (["model.vocab_size=2147483648", "--tokens", "1"], "need about"),
])
def test_sizes_are_bounded_by_an_estimate_before_allocating(sets, message):
    argv = [TINY]
    for item in sets:
        argv += [item] if item.startswith("-") or argv[-1].startswith("--") else ["--set", item]
    assert message in refused(argv)


def test_memory_is_bounded_by_what_the_machine_has(monkeypatch):
    """A model whose weights a small machine cannot hold is refused with the estimate."""
    from cosim import budget

    argv = [TINY, "--set", "model.vocab_size=1000000", "--tokens", "1"]
    monkeypatch.setattr(budget, "machine_bytes", lambda: 1 << 30)
    assert "the weights of tiny (128,216,192 parameters) need about 2.1 GiB, more than " \
           "the 0.8 GiB this machine can give a run" in refused(argv)


def test_a_what_if_model_of_any_size_still_simulates_timing_only():
    code, out, _, _ = cli([TINY, "--numerics", "off", "--set", "model.hidden_size=65536"])
    assert code == 0 and "H=65536" in out and "tokens/s" in out


@pytest.mark.parametrize("item, message", [
    ("schedule.clock_mhz=5.0e-324", "schedule.clock_mhz must be a number between "
                                    "0.001 and 100,000, not 5e-324"),
    ("schedule.clock_mhz=1.8e+308", "schedule.clock_mhz must be"),
    ("schedule.clock_mhz=.inf", "not inf"),
    ("schedule.units.rowwise.elements_per_cycle=5.0e-324",
     "schedule.units.rowwise.elements_per_cycle must be a number between 0.001"),
    ("model.init_std=1.8e+308", "model.init_std must be a positive finite number <= 100"),
    ("model.rms_norm_eps=5.0e-324", "model.rms_norm_eps must be a number between 1e-12 and 1"),
    ("schedule.memory.efficiency=5.0e-324", "schedule.memory.efficiency must be"),
    ("schedule.energy.static.w=1.0e+300", "schedule.energy.static.w must be"),
    ("schedule.clock_mhz=" + "9" * 400, "schedule.clock_mhz must be"),
])
def test_extreme_floats_are_outside_their_physical_range(item, message):
    assert message in refused([TINY, "--set", item])


@pytest.mark.parametrize("argv, message", [
    (["--set", "model.name=\udcff"], "model.name must be a non-empty line of at most 1000 "
                                     "printable characters, not '\\udcff'"),
    (["--tokens", "\udcff"], "--tokens must be comma-separated integers, not '\\udcff'"),
    (["--engine", "\udcff"], "argument --engine: invalid choice: '\\udcff'"),
    (["--generate", "\udcff"], "argument --generate: invalid int value"),
])
def test_a_surrogate_character_in_an_argument(argv, message):
    assert message in refused([TINY, *argv])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    cfg = load_model(TINY, parse_overrides(["model.hidden_size=32", "model.num_hidden_layers=2",
                                            "model.intermediate_size=64",
                                            "model.vocab_size=50"]))
    folder = tmp_path_factory.mktemp("ck")
    write_checkpoint(cfg, folder / "ck", RandomWeights(cfg), dtype="f32")
    return folder / "ck"


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_checkpoint_tensors_of_nan_or_inf_are_named(tmp_path, checkpoint, value):
    folder = tmp_path / "ck"
    folder.mkdir()
    for file in checkpoint.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    from safetensors.numpy import load_file

    tensors = load_file(folder / "model.safetensors")
    tensors["model.layers.1.mlp.down_proj.weight"][0, :] = value
    write_safetensors(folder / "model.safetensors", tensors, "F32")
    err = refused([TINY, "--checkpoint", str(folder), "--tokens", "1,2"])
    assert "tensor 'model.layers.1.mlp.down_proj.weight' holds 64 NaN or infinite" in err


@pytest.mark.parametrize("name", ["model.safetensors", "config.json",
                                  "model.safetensors.index.json"])
def test_a_fifo_in_a_checkpoint_folder(tmp_path, checkpoint, name):
    folder = tmp_path / "ck"
    folder.mkdir()
    for file in checkpoint.iterdir():
        if file.name != name:
            (folder / file.name).write_bytes(file.read_bytes())
    os.mkfifo(folder / name)
    assert f"ck/{name} is not a regular file" in refused([TINY, "--checkpoint", str(folder)])


def test_usage_errors_are_one_line_too():
    assert "unrecognized arguments: --frobnicate" in refused([TINY, "--frobnicate"])
    assert "the following arguments are required: model" in refused([])


def test_reports_never_hold_nan_or_inf(tmp_path):
    """JSON has no NaN or infinity: the report is written strictly, and checked."""
    from cosim import run as cosim_run

    path = tmp_path / "r.json"
    assert cli([TINY, "--numerics", "off", "--json", str(path)])[0] == 0
    json.loads(path.read_text(), parse_constant=pytest.fail)
    with pytest.raises(Exception, match=r"report\.decode\.x came out inf"):
        cosim_run._check_finite({"decode": {"x": float("inf")}})


@pytest.mark.parametrize("argv, message", [
    ([TINY, "--schedule", "/dev/zero"], b"error: /dev/zero is not a regular file"),
    ([TINY, "--schedule", "FIFO"], b"is not a regular file"),
    ([b"models/ti\nny.yaml"], b"error: cannot read models/ti\\nny.yaml"),
    ([TINY, "--tokens", b"\xff"], b"error: --tokens must be comma-separated integers, "
                                  b"not '\\udcff'"),
])
def test_in_a_subprocess(fifo, argv, message):
    argv = [fifo if a == "FIFO" else a for a in argv]
    done = subprocess.run([sys.executable, "-m", "cosim.run", *argv], capture_output=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 2 and done.stderr.count(b"\n") == 1, done.stderr
    assert done.stderr.startswith(b"error: ") and message in done.stderr, done.stderr
