"""The trained reference checkpoints: quality, what the numeric formats cost, loading.

The checkpoints (models/checkpoints/tiny-trained*, written by ``python -m
cosim.train``) are byte-level models of the released layout trained on the King
James Bible; the held-out text is the start of the corpus part never trained on.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cosim.checkpoint import load_checkpoint
from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.numerics.engines import FixedEngine, FloatEngine
from cosim.numerics.fidelity import bits_per_token
from cosim.run import main
from cosim.weights import PreparedWeights

TEXT = Path("models/checkpoints/kjv-held-out.txt")
BYTES = 768
#: bits per byte a uniform guess pays; the trained models must stay far below
CHANCE = 8.0
WELL_UNDER_CHANCE = 3.5
#: the golden model on the default schedule stays within this of the float reference
DEFAULT_MARGIN = 0.02
#: 4-bit activations must cost at least this much (measured: 0.12 and more)
BAD_FORMAT_COST = 0.05
MODELS = ["models/tiny-trained.yaml", "models/tiny-trained-paper.yaml"]


@pytest.fixture(scope="module", params=MODELS)
def trained(request):
    """(config, prepared weights, held-out tokens, float bits per byte)."""
    cfg = load_model(request.param)
    weights = PreparedWeights(cfg, load_checkpoint(cfg.checkpoint))
    tokens = list(TEXT.read_bytes()[:BYTES])
    ref = FloatEngine(build_graph(cfg), cfg, weights).run(tokens)
    return cfg, weights, tokens, bits_per_token(ref, tokens)


def golden_bits_per_byte(trained, sets=()):
    cfg, weights, tokens, _ = trained
    numerics = load_schedule(cfg.schedule, parse_overrides(sets)).numerics
    engine = FixedEngine(build_graph(cfg, numerics), cfg, weights, numerics)
    return bits_per_token(engine.run(tokens), tokens)


def test_trained_models_predict_held_out_text_far_better_than_chance(trained):
    assert trained[3] < WELL_UNDER_CHANCE < CHANCE


def test_default_schedule_costs_less_than_the_margin(trained):
    assert abs(golden_bits_per_byte(trained) - trained[3]) <= DEFAULT_MARGIN


def test_four_bit_activations_cost_quality(trained):
    bad = golden_bits_per_byte(trained, ["schedule.numerics.activation_bits=4"])
    assert bad - trained[3] >= BAD_FORMAT_COST


def test_checkpoint_loads_like_a_release_and_generates_text(tmp_path, capsys):
    text = tmp_path / "prompt.txt"
    text.write_bytes(b"And the LORD spake unto Moses, saying,\n")
    out = tmp_path / "r.json"
    assert main(["models/tiny.yaml", "--checkpoint", "models/checkpoints/tiny-trained",
                 "--text", str(text), "--generate", "40", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["numerics"]["tokens_source"] == f"--text {text}"
    assert report["quality"]["predicted_bytes"] == len(text.read_bytes()) - 1
    assert report["quality"]["float_bits_per_byte"] < WELL_UNDER_CHANCE
    printed = capsys.readouterr().out
    assert "bits per byte over" in printed
    for engine in ("float", "fixed"):
        words = bytes(report["generated"][engine]).decode("ascii").split()
        assert sum(w.strip(",.;:").isalpha() for w in words) >= len(words) - 1 >= 3
        assert f"greedy ({engine}): " in printed


def test_training_without_torch_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from cosim.train.__main__ import main\n"
            f"sys.exit(main(['models/tiny.yaml', {str(tmp_path / 'out')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == ("error: training needs PyTorch, the optional 'train' extra: "
                           "pip install -e '.[train]'\n")


@pytest.mark.skipif(shutil.which("bible") is None, reason="corpus: apt-get install bible-kjv")
def test_a_short_training_run_writes_a_checkpoint_cosim_loads(tmp_path, capsys):
    """The export path end to end (needs the 'train' extra and the corpus)."""
    pytest.importorskip("torch")
    from cosim.train.__main__ import main as train

    out, text = tmp_path / "ckpt", tmp_path / "held-out.txt"
    assert train(["models/tiny-trained-paper.yaml", str(out), "--steps", "2", "--batch", "2",
                  "--seq", "16", "--held-out", str(text)]) == 0
    assert text.read_bytes() == TEXT.read_bytes()
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["steps"] == 2 and provenance["final_train_bits_per_byte"] > 0
    prefix, report = tmp_path / "prefix.txt", tmp_path / "r.json"
    prefix.write_bytes(text.read_bytes()[:64])
    assert main(["models/tiny-trained-paper.yaml", "--checkpoint", str(out), "--text",
                 str(prefix), "--numerics", "off", "--json", str(report)]) == 0
    assert json.loads(report.read_text())["quality"]["predicted_bytes"] == 63


@pytest.mark.parametrize("argv, message", [
    (["models/tiny.yaml", "models"], "models exists; choose a new folder"),
    (["models/tiny.yaml", "new", "--steps", "0"], "--steps must be a positive integer"),
    (["models/mmfree-370m.yaml", "new"], "model.vocab_size must be 256"),
])
def test_training_refuses_bad_input_with_one_line(argv, message, capsys):
    from cosim.train.__main__ import main as train

    assert train(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("path", MODELS)
def test_torch_model_computes_what_the_float_engine_computes(path):
    """The trainer's forward pass is the float reference's computation (needs torch)."""
    torch = pytest.importorskip("torch")
    from cosim.train.model import HGRNBit

    cfg = load_model(path)
    checkpoint = load_checkpoint(cfg.checkpoint)
    model = HGRNBit(cfg).double()
    model.load_state_dict({n: torch.from_numpy(checkpoint.tensor(n).astype(np.float64))
                           for n in checkpoint.names})
    tokens = list(TEXT.read_bytes()[:64])
    with torch.no_grad():
        logits = model(torch.tensor([tokens]))[0].numpy()
    ref = FloatEngine(build_graph(cfg), cfg, PreparedWeights(cfg, checkpoint)).run(tokens)
    np.testing.assert_allclose(logits, ref, rtol=0, atol=1e-6)
