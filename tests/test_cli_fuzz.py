"""Hypothesis families of bad command-line input (issue 7): every case ends clean.

Clean means exit 0, or exit 2 with one line ``error: ...`` in under a second
of CPU time (wall time on a machine shared by many jobs measures the others);
never a traceback (it would fail the test), a hang (an alarm ends a case after
30 s) or a report with NaN or infinity (a successful run's JSON is parsed
strictly). Cases run in process through ``cosim.run.main``. The quick profile
tries a few dozen cases per family; with ``CI=true`` the thorough profile tries
1,300 per family (``tests/conftest.py``): over 10,000 in all, though the family
of non-regular checkpoint files has only 24 cases to try.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from cosim import budget
from cosim.checkpoint import write_checkpoint, write_safetensors
from cosim.config import load_model, parse_overrides
from cosim.run import main
from cosim.weights import RandomWeights

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "models" / "tiny.yaml")
BASE = "name: t\nhidden_size: 64\nnum_hidden_layers: 2\nvocab_size: 100\n"
HANG_S = 30


@pytest.fixture(autouse=True, scope="module")
def small_machine():
    """Cases may plan at most 768 MB: a fuzzed size that fits a big machine would take
    its memory from every other job (one such case was killed by the OOM killer)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(budget, "machine_bytes", lambda: 1 << 30)
        yield


@contextmanager
def alarm(seconds: int):
    """Fail a case that runs longer than ``seconds`` instead of hanging the suite."""
    def expired(signum, frame):
        raise TimeoutError(f"a case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def clean(argv: list[str], report: Path) -> int:
    """Run the CLI; assert the outcome is clean; return the exit code."""
    out, err = io.StringIO(), io.StringIO()
    report.unlink(missing_ok=True)
    start = time.process_time()
    with alarm(HANG_S), redirect_stdout(out), redirect_stderr(err):
        code = main([*argv, "--json", str(report)])
    seconds = time.process_time() - start
    text = err.getvalue()
    assert code in (0, 2), (code, text)
    if code == 2:
        assert text.startswith("error: ") and text.count("\n") == 1, text
        assert seconds < 1.0, f"refusal took {seconds:.2f} s: {text}"
        event("refused")
    else:
        json.loads(report.read_text(), parse_constant=pytest.fail)
        event("ran")
    return code


def overridden(numerics: str, sets: list[tuple[str, object]], render=str) -> list[str]:
    """The arguments of tiny.yaml with ``--numerics`` and a ``--set`` per (key, value)."""
    return [TINY, "--numerics", numerics,
            *(arg for key, value in sets for arg in ("--set", f"{key}={render(value)}"))]


@pytest.fixture()
def report(tmp_path) -> Path:
    return tmp_path / "report.json"


MODEL_KEYS = ["name", "hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size",
              "hidden_ratio", "rms_norm_eps", "variant", "use_lower_bound", "seed",
              "init_std", "schedule", "checkpoint"]
SCHEDULE_KEYS = ["name", "clock_mhz", "compute_units", "lanes", "use_characterization",
                 "host", "numerics", "units", "memory", "onchip", "overlap", "prefill"]
TAGS = ["", "!!int", "!!bool", "!!float", "!!timestamp", "!!str", "!!null", "!!binary",
        "!!seq", "!!map", "!!set", "!!omap", "!!python/object:os.system"]
scalar_text = st.one_of(
    st.text(st.sampled_from("0123456789abcdefxoEe+-_.:TZ ~'\"nyl"), max_size=24),
    st.tuples(st.integers(0, 99999), st.integers(0, 19), st.integers(0, 49)).map(
        lambda d: f"{d[0]:04d}-{d[1]:02d}-{d[2]:02d}"),
    st.integers(1, 9000).map(lambda n: "9" * n),
    st.integers(1, 9000).map(lambda n: "0x" + "f" * n),
    st.sampled_from(["''", "maybe", "abc", "2024-13-45", ".inf", "-.inf", ".nan", "1e400",
                     "5.0e-324", "1.8e+308", "0b102", "0o9", "1_000", "~", "null", "yes"]))


@given(st.sampled_from(["model", "schedule"]), st.data(), st.sampled_from(TAGS), scalar_text)
def test_fuzz_yaml_scalars_the_loader_cannot_convert(tmp_path, report, kind, data, tag, text):
    key = data.draw(st.sampled_from(MODEL_KEYS if kind == "model" else SCHEDULE_KEYS))
    path = tmp_path / f"{kind}.yaml"
    path.write_text((BASE if kind == "model" else "") + f"{key}: {tag} {text}\n")
    argv = [str(path)] if kind == "model" else [TINY, "--schedule", str(path)]
    clean([*argv, "--numerics", "off"], report)


exploding = st.one_of(
    st.tuples(st.integers(1, 5000), st.sampled_from(["[", "{a: ", "- ", "!!seq ["])).map(
        lambda t: "x: " + t[1] * t[0] + ("1" if t[1] != "- " else "")),
    st.tuples(st.integers(1, 12), st.integers(1, 12)).map(
        lambda t: "a0: &a0 [x]\n" + "".join(
            f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * t[0])}]\n" for k in range(1, t[1]))),
    st.sampled_from(["a: &a [*a]", "a: &a {b: *a}", "<<: &a {x: *a}", "a: *b"]))


@given(exploding)
def test_fuzz_yaml_that_explodes(tmp_path, report, text):
    path = tmp_path / "m.yaml"
    path.write_text(BASE + text + "\n")
    assert clean([str(path), "--numerics", "off"], report) == 2


path_text = st.one_of(
    st.sampled_from(["/dev/zero", "/dev/null", "/dev/urandom", "/tmp", "/", ".", "FIFO",
                     "models", "models/tiny.yaml/x", "models/tiny\0.yaml"]),
    st.text(st.sampled_from(["x", "/", "\n", "\0", "\udcff", "\u00e9", " ", "."]),
            min_size=1, max_size=40),
    st.integers(200, 6000).map(lambda n: "x" * n))
INPUTS = ["model", "--schedule", "--checkpoint"]
OUTPUTS = ["--json", "--graph", "--out", "--trace"]


@given(st.sampled_from(INPUTS + OUTPUTS), path_text)
def test_fuzz_paths(tmp_path, report, where, text):
    fifo = tmp_path / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    path = str(fifo) if text == "FIFO" else text
    if where in OUTPUTS:        # written: keep them inside tmp_path
        path = str(tmp_path / "o" / path.lstrip("/")) + (".graphml" if where == "--graph"
                                                          else "")
        argv = [TINY, "--numerics", "off", where, path]
    elif where == "model":
        argv = [path, "--numerics", "off"]
    else:
        argv = [TINY, "--numerics", "off", where, path]
    clean(argv, report)


SIZES = ["model.hidden_size", "model.num_hidden_layers", "model.vocab_size",
         "model.intermediate_size", "model.hidden_ratio", "schedule.compute_units",
         "schedule.lanes", "schedule.memory.channels", "schedule.onchip.bytes",
         "schedule.units.matvec.tp", "schedule.prefill.tokens", "schedule.prefill.batch",
         "schedule.onchip.vector_registers", "schedule.units.matvec.latency"]
size_values = st.one_of(st.integers(-2, 64), st.integers(10 ** 4, 10 ** 13),
                        st.sampled_from([65536, 2 ** 24, 2 ** 31, 2 ** 40, 10 ** 12,
                                         10 ** 100]))


@given(st.lists(st.tuples(st.sampled_from(SIZES), size_values), min_size=1, max_size=3),
       st.sampled_from(["off", "full"]))
def test_fuzz_sizes_without_bound(report, sets, numerics):
    clean(overridden(numerics, sets), report)


FLOATS = ["schedule.clock_mhz", "schedule.units.rowwise.elements_per_cycle",
          "schedule.units.rmsnorm.elements_per_cycle", "schedule.units.matvec.row_cycles",
          "schedule.memory.gb_per_s", "schedule.memory.latency_ns", "schedule.memory.efficiency",
          "schedule.memory.activation_transfers_per_layer",
          "schedule.energy.static.w", "schedule.energy.dram_byte.pj",
          "schedule.activity.weight_density", "model.init_std", "model.rms_norm_eps"]


def yaml_float(x: float) -> str:
    """A float as YAML 1.1 reads it back (exponents need a dot; .inf, .nan)."""
    if x != x:
        return ".nan"
    if x in (float("inf"), float("-inf")):
        return "-.inf" if x < 0 else ".inf"
    text = repr(x)
    return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text


@given(st.lists(st.tuples(st.sampled_from(FLOATS),
                          st.floats() | st.sampled_from([5e-324, 1.8e308, -0.0, 1e-300])),
                min_size=1, max_size=3),
       st.sampled_from(["off", "full"]))
def test_fuzz_extreme_floats(report, sets, numerics):
    clean(overridden(numerics, sets, yaml_float), report)


odd_text = st.text(st.characters(codec=None, categories=["Cs", "Cc", "Lu", "Nd", "Po"]),
                   max_size=8)
ARGUMENTS = [["--tokens"], ["--set", "model.name="], ["--set", "schedule.name="],
             ["--set", "model.variant="], ["--set", "schedule.numerics.sigmoid.method="],
             ["--engine"], ["--generate"], ["--numerics"], ["--set", ""]]


@given(st.sampled_from(range(len(ARGUMENTS))), odd_text)
def test_fuzz_surrogates_and_control_characters_in_arguments(report, which, text):
    *flag, prefix = ARGUMENTS[which]
    argv = [TINY, *flag, prefix + text] if flag else [TINY, prefix, text]
    if "--numerics" not in argv:
        argv += ["--numerics", "off"]
    clean(argv, report)


@given(st.text(st.sampled_from("0123456789,-+ x\u0663"), max_size=30)
       | st.integers(1, 9000).map(lambda n: "9" * n),
       st.integers(-3, 3))
def test_fuzz_tokens_and_generate(report, tokens, generate):
    clean([TINY, "--numerics", "off", "--tokens", tokens, "--generate", str(generate)], report)


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    """A 2-layer, H=32 checkpoint (f32) and its tensors."""
    cfg = load_model(TINY, parse_overrides(["model.hidden_size=32", "model.num_hidden_layers=2",
                                            "model.intermediate_size=64",
                                            "model.vocab_size=50"]))
    folder = tmp_path_factory.mktemp("ck") / "ck"
    write_checkpoint(cfg, folder, RandomWeights(cfg), dtype="f32")
    from safetensors.numpy import load_file

    return folder, load_file(folder / "model.safetensors")


@given(st.data(), st.sampled_from([np.nan, np.inf, -np.inf]), st.sampled_from(["F32", "BF16"]))
def test_fuzz_checkpoint_tensors_of_nan_or_inf(tmp_path, report, small_checkpoint, data,
                                               value, dtype):
    source, tensors = small_checkpoint
    folder = tmp_path / "ck"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_bytes((source / "config.json").read_bytes())
    name = data.draw(st.sampled_from(sorted(tensors)))
    damaged = {k: v.copy() for k, v in tensors.items()}
    flat = damaged[name].reshape(-1)
    flat[data.draw(st.integers(0, flat.size - 1))] = value
    write_safetensors(folder / "model.safetensors", damaged, dtype)
    assert clean([TINY, "--checkpoint", str(folder), "--tokens", "1,2"], report) == 2


@given(st.sampled_from(["model.safetensors", "config.json", "model.safetensors.index.json",
                        "extra.safetensors"]),
       st.sampled_from(["fifo", "folder", "/dev/zero", "/dev/null", "dangling", "empty"]))
def test_fuzz_checkpoint_files_that_are_not_regular(tmp_path, report, small_checkpoint,
                                                    name, kind):
    source, _ = small_checkpoint
    folder = tmp_path / f"ck-{name}-{kind.strip('/').replace('/', '-')}"
    if not folder.exists():
        folder.mkdir()
        for file in source.iterdir():
            if file.name != name:
                (folder / file.name).write_bytes(file.read_bytes())
        target = folder / name
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "folder":
            target.mkdir()
        elif kind == "empty":
            target.write_bytes(b"")
        else:
            target.symlink_to(kind if kind.startswith("/") else tmp_path / "nowhere")
    assert clean([TINY, "--checkpoint", str(folder), "--tokens", "1"], report) == 2
