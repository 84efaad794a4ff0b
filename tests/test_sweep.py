"""cosim.sweep: sweep files, the store, resumption after kill -9, Dask clusters, reproduction.

One Dask cluster (a scheduler and two workers, each its own process, as on
many machines) serves every test that evaluates through Dask; the others run
without one.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cosim import run as cosim_run
from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.sim import simulate
from cosim.sweep.__main__ import STORE, main
from cosim.sweep.evaluate import Evaluator
from cosim.sweep.sample import sampler
from cosim.sweep.spec import axis_values, plan
from cosim.sweep.store import Store

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def sweep_file(tmp_path: Path, **changes) -> Path:
    """A small sweep of the tiny model on the ECP5 schedule, with ``changes``."""
    data = {"name": "t", "models": [str(ROOT / "models/tiny.yaml")],
            "schedule": str(ROOT / "schedules/ecp5-85k.yaml"),
            "axes": {"schedule.lanes": [1, 2], "schedule.units.matvec.tp": [8, 16]},
            "objectives": {"tokens_per_s": "max", "joules_per_token": "min"}}
    data.update(changes)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Dask scheduler and two single-threaded workers, each a separate process."""
    folder = tmp_path_factory.mktemp("dask")
    address_file = folder / "scheduler.json"
    common = ["--no-dashboard"]
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", "0",
                               "--scheduler-file", str(address_file), *common],
                              cwd=folder, env=ENV, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists():
            assert time.monotonic() < deadline, "scheduler did not start"
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        for name in ("w1", "w2"):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address,
                 "--nthreads", "1", "--name", name, "--no-nanny", *common],
                cwd=ROOT, env=ENV, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in procs:        # a test cluster: no graceful shutdown needed
            p.kill()
            p.wait()


# -- sweep files --------------------------------------------------------------
def test_axes_expand_lists_ranges_and_log_ranges():
    assert axis_values([3, 1], "k") == [3, 1]
    assert axis_values({"range": [200, 300, 50]}, "k") == [200, 250, 300]
    assert axis_values({"range": [0.5, 1.0, 0.25]}, "k") == [0.5, 0.75, 1.0]
    assert axis_values({"log": [32, 256, 4]}, "k") == [32, 64, 128, 256]
    assert axis_values({"log": [1, 4, 5]}, "k") == [1, 2, 3, 4]    # integers, no repeats


def test_random_sampling_draws_distinct_points_of_the_product_reproducibly(tmp_path):
    axes = {"schedule.lanes": [1, 2, 3], "schedule.units.matvec.tp": [8, 16, 32, 64]}
    grid = {p.key for p in next(sampler(plan(sweep_file(tmp_path, axes=axes))))}
    path = sweep_file(tmp_path, axes=axes, sampler={"kind": "random", "count": 5, "seed": 3})
    draws = [[p.key for p in next(sampler(plan(path)))] for _ in range(2)]
    assert len(grid) == 12
    assert draws[0] == draws[1] and len(set(draws[0])) == 5 and set(draws[0]) <= grid


@pytest.mark.parametrize("axes, words", [
    ({"schedule.units.matvec.tpp": [8]}, ["tpp", "did you mean 'tp'"]),
    ({"schedule.lanes": [1, -3]}, ["schedule.lanes", "-3", "positive integer"]),
    ({"schedule.lanes": {"range": [4, 1]}}, ["axes.schedule.lanes.range", "start <= stop"]),
    ({"schedule.lanes": {"lin": [1, 4]}}, ["axes.schedule.lanes", "a list"]),
    ({"scheduel.lanes": [1]}, ["scheduel", "did you mean 'schedule'"]),
    ({"schedule.numerics.sigmoid.method": ["pwl", "spline"]}, ["'spline'", "'lut'"]),
])
def test_a_bad_axis_exits_2_with_one_line_before_any_work(tmp_path, capsys, axes, words):
    out = tmp_path / "out"
    assert main([str(sweep_file(tmp_path, axes=axes)), "--out", str(out)]) == 2
    err = one_error_line(capsys)
    assert all(w in err for w in words), err
    assert not out.exists()


def test_a_bad_objective_or_sampler_exits_2(tmp_path, capsys):
    assert main([str(sweep_file(tmp_path, objectives={"tokens_per_sec": "max"}))]) == 2
    assert "did you mean 'tokens_per_s'" in one_error_line(capsys)
    assert main([str(sweep_file(tmp_path, sampler={"kind": "nsga3"}))]) == 2
    assert "sweep.sampler.kind" in one_error_line(capsys)


# -- the store ----------------------------------------------------------------
@pytest.mark.parametrize("content", [
    b"not a database at all\n" * 100,                       # foreign file
    b"SQLite format 3\x00" + b"\x00" * 200,                 # a damaged SQLite header
])
def test_a_corrupt_or_foreign_store_gets_one_line(tmp_path, capsys, content):
    out = tmp_path / "out"
    out.mkdir()
    (out / STORE).write_bytes(content)
    assert main([str(sweep_file(tmp_path)), "--out", str(out), "--no-progress"]) == 2
    assert str(out / STORE) in one_error_line(capsys)


def test_another_programs_sqlite_file_or_another_sweep_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    db = sqlite3.connect(out / STORE)
    db.execute("CREATE TABLE points (x)")
    db.commit()
    db.close()
    assert main([str(sweep_file(tmp_path)), "--out", str(out), "--no-progress"]) == 2
    assert "not a readable cosim.sweep store" in one_error_line(capsys)
    Store(tmp_path / "other.sqlite", "u250").close()
    (out / STORE).unlink()
    os.replace(tmp_path / "other.sqlite", out / STORE)
    assert main([str(sweep_file(tmp_path)), "--out", str(out), "--no-progress"]) == 2
    assert "holds sweep 'u250'" in one_error_line(capsys)


# -- evaluation on a Dask cluster -------------------------------------------------
def test_a_sweep_runs_on_an_external_cluster_and_resumes(tmp_path, cluster):
    path = sweep_file(tmp_path, constraints={"limits": {"tokens_per_s": {"min": 2500}}})
    out = tmp_path / "out"
    args = [str(path), "--out", str(out), "--scheduler", cluster, "--no-progress",
            "--chunk", "1"]
    assert main(args) == 0
    store = Store(out / STORE, "t")
    rows = store.rows()
    assert len(rows) == 4 and {r["worker"] for r in rows} <= {"w1", "w2"}
    assert {r["feasible"] for r in rows} == {True, False}
    assert all("tokens_per_s" in r["reason"] for r in rows if not r["feasible"])
    store.close()
    table = (out / "points.csv").read_text().splitlines()
    assert len(table) == 5 and "command" in table[0]
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    import pyarrow.parquet as pq

    assert pq.read_table(out / "points.parquet").num_rows == 4
    assert "cosim.run" in (out / "summary.md").read_text()
    assert main(args) == 0           # resumed: nothing evaluated twice
    assert {r["evaluations"] for r in Store(out / STORE, "t").rows()} == {1}
    local = tmp_path / "local"       # the default LocalCluster computes the same rows
    assert main([str(path), "--out", str(local), "--workers", "1", "--no-progress"]) == 0
    assert {r["key"]: r["metrics"] for r in Store(local / STORE, "t").rows()} == \
        {r["key"]: r["metrics"] for r in rows}
    shrunk = [str(sweep_file(tmp_path, axes={"schedule.lanes": [1]}))] + args[1:]
    assert main(shrunk) == 0         # the tables hold this plan's points, not the store's
    assert len((out / "points.csv").read_text().splitlines()) == 2     # header, lanes=1


def test_nsga2_resumes_by_asking_the_same_points(tmp_path, cluster):
    path = sweep_file(tmp_path, axes={"schedule.lanes": [1, 2, 3, 4],
                                      "schedule.units.matvec.tp": [8, 16, 32, 64],
                                      "schedule.clock_mhz": [40, 65]},
                      sampler={"kind": "nsga2", "count": 12, "population": 6, "seed": 1})
    out = tmp_path / "out"
    args = [str(path), "--out", str(out), "--scheduler", cluster, "--no-progress"]
    assert main(args) == 0
    first = {r["key"] for r in Store(out / STORE, "t").rows()}
    assert 1 < len(first) <= 12
    assert main(args) == 0
    rows = Store(out / STORE, "t").rows()
    assert {r["key"] for r in rows} == first and {r["evaluations"] for r in rows} == {1}


def test_kill_9_mid_sweep_loses_nothing_and_the_rerun_finishes_it(tmp_path, cluster):
    """SIGKILL the driver once points are committed; the re-run evaluates only the rest."""
    path = sweep_file(tmp_path, models=[str(ROOT / "models/mmfree-370m.yaml")],
                      schedule=str(ROOT / "schedules/u250-ternip.yaml"),
                      axes={"schedule.lanes": list(range(1, 41)),
                            "schedule.compute_units": [1, 2, 4],
                            "schedule.memory.channels": [1, 2]})
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cosim.sweep", str(path), "--out", str(out),
           "--scheduler", cluster, "--no-progress", "--chunk", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _stored(out / STORE) < 20:
            assert proc.poll() is None and time.monotonic() < deadline, "sweep did not progress"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = _stored(out / STORE)
    assert 20 <= killed_at < 240
    subprocess.run(cmd, cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=300)
    store = Store(out / STORE, "t")         # quick_check passes, meta intact
    rows = store.rows()
    assert len(rows) == 240 and len({r["key"] for r in rows}) == 240
    assert {r["evaluations"] for r in rows} == {1}
    assert len((out / "points.csv").read_text().splitlines()) == 241


def _stored(path: Path) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    except sqlite3.OperationalError:      # created, not yet renamed into place
        return 0
    finally:
        db.close()


# -- reproduction ------------------------------------------------------------------
REPRODUCED = ("tokens_per_s", "joules_per_token", "power_w", "latency_ms",
              "top1_agreement", "cosine_min", "max_abs_err")


@pytest.mark.parametrize("name", ["u250", "ecp5-85k", "numerics"])
def test_shipped_sweep_points_are_reproduced_exactly_by_their_cosim_run_line(
        tmp_path, monkeypatch, name):
    p = plan(ROOT / "sweeps" / f"{name}.yaml")
    points = next(sampler(p))
    evaluator = Evaluator(p)
    monkeypatch.chdir(ROOT)
    for i in (len(points) // 3, len(points) - 1):
        row = evaluator.evaluate(points[i])
        command = p.command(points[i])
        args = shlex.split(command)[3:] + ["--json", str(tmp_path / "r.json")]
        if not row["feasible"] and row["reason"].startswith("invalid"):
            assert cosim_run.main(args) == 2
            continue
        assert cosim_run.main(args) == 0
        report = json.loads((tmp_path / "r.json").read_text())
        for metric, value in row["metrics"].items():
            if metric in REPRODUCED:
                assert value == _get(report, metric), (command, metric)


def _get(report: dict, metric: str):
    from cosim.sweep.spec import METRICS

    node = report
    for part in METRICS[metric].path.split("."):
        node = node[part]
    return node


# -- the simulator's fast path -----------------------------------------------------
@pytest.mark.parametrize("many, one, copies", [
    (["schedule.lanes=8", "schedule.compute_units=4", "schedule.memory.channels=4"],
     ["schedule.lanes=2", "schedule.compute_units=1", "schedule.memory.channels=1"], 4),
    (["schedule.lanes=8", "schedule.compute_units=4", "schedule.memory.channels=2"],
     ["schedule.lanes=4", "schedule.compute_units=2", "schedule.memory.channels=1"], 2),
])
def test_identical_subsystems_are_simulated_once_and_counted_each(many, one, copies):
    """Units on private channels, or groups sharing one, equal one such subsystem alone."""
    cfg = load_model(ROOT / "models/mmfree-370m.yaml")
    out = []
    for sets in (many, one):
        sch = load_schedule(ROOT / "schedules/u250-max.yaml", parse_overrides(sets))
        out.append(simulate(build_graph(cfg, sch.numerics), cfg, sch, trace=True,
                            prefill=False))
    big, small = out
    assert big.decode.cycles == small.decode.cycles
    assert big.decode.events == copies * small.decode.events
    assert big.decode.busy == {u: copies * b for u, b in small.decode.busy.items()}
    assert big.decode.dram_bytes == pytest.approx(copies * small.decode.dram_bytes, rel=1e-12)
    assert {t[0] for t in big.trace} == {f"cu{k} (2 lanes)" for k in range(4)}
    assert len(big.trace) == copies * len(small.trace)
    assert "prefill" not in big.report
