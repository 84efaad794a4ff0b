"""rtl.export: a complete, byte-reproducible folder, or exit 2 with one line and nothing left."""

import pytest

from rtl.export import main as export

BASE = ["models/tiny.yaml", "--schedule", "schedules/ecp5-85k.yaml", "--set",
        "schedule.lanes=2", "--set", "model.num_hidden_layers=1", "--tokens", "1,2"]


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_exports_are_byte_identical_and_complete(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert export([*BASE, "--out", str(a)]) == 0
    assert export([*BASE, "--out", str(b)]) == 0
    fa, fb = _files(a), _files(b)
    assert fa == fb
    top = next(n for n in fa if n.endswith(".core"))[:-5]
    assert top == "accel_tiny_released_h64_l1_tp16_lanes2_str"
    assert {f"{top}.v", f"{top}.core", "files.f", "Makefile", "README.md", "instr.hex",
            "const.hex", "weights.hex", "stimulus.hex", "expected.hex",
            "accel_bench.v"} <= set(fa)
    text = fa[f"{top}.v"].decode()
    assert str(tmp_path) not in text and "Date" not in text and "/tmp" not in text
    assert "lint_off WIDTH */\n" not in text       # waivers are line-local, never file-wide
    assert [p.name for p in tmp_path.iterdir()] == ["a", "b"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


@pytest.mark.parametrize("sets, needle", [
    (["schedule.onchip.weights=onchip", "schedule.onchip.bytes=1000"], "schedule.onchip"),
    (["schedule.units.matvec.speed=2"], "speed"),
    (["schedule.units.matvec.tp=128"], "tp"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, sets, needle):
    args = [*BASE, "--out", str(tmp_path / "x")]
    for s in sets:
        args += ["--set", s]
    assert export(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert export([*BASE, "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
