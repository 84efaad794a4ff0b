"""rtl.export: a complete, byte-reproducible folder, or exit 2 with one line and nothing left."""

import pytest

from rtl.export import main as export

BASE = ["models/tiny.yaml", "--schedule", "schedules/ecp5-85k.yaml", "--set",
        "schedule.lanes=2", "--set", "model.num_hidden_layers=1", "--tokens", "1,2"]


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
