"""Evaluate batches of points on Dask and commit each finished chunk to the store.

Dask (``dask.distributed``) does the parallel work: by default a
``LocalCluster`` of one single-threaded worker process per core; with a
scheduler address, the same tasks go to an existing cluster of many machines
(whose workers must import the same ``cosim`` and read the same model and
schedule paths). A worker plugin gives each worker one
:class:`~cosim.sweep.evaluate.Evaluator` for the plan, so a worker builds each
graph and weight set once. Points travel in small chunks (a few tenths of a
second of work) to keep the scheduler's per-task cost small; the driver commits
each chunk as it arrives, so a kill loses at most the chunks in flight.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from typing import Callable, Iterable, Optional

from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from cosim.errors import CosimError
from cosim.sweep.evaluate import Evaluator
from cosim.sweep.spec import Plan, Point
from cosim.sweep.store import Store


class EvaluatorPlugin(WorkerPlugin):
    """Gives a worker the evaluator of one plan (its caches live as long as the worker)."""

    def __init__(self, plan: Plan, name: str):
        self.plan = plan
        self.name = name
        self.evaluator: Optional[Evaluator] = None

    def setup(self, worker) -> None:
        self.evaluator = Evaluator(self.plan)


def evaluate_chunk(plugin: str, points: list[Point]) -> list[dict]:
    """Task: evaluate points on this worker with its plan's evaluator."""
    worker = get_worker()
    evaluator = worker.plugins[plugin].evaluator
    return [{**evaluator.evaluate(p), "worker": worker.name} for p in points]


class Engine:
    """A Dask client (started on first use) that turns batches of points into stored rows."""

    def __init__(self, plan: Plan, store: Store, *, scheduler: Optional[str] = None,
                 workers: Optional[int] = None, chunk: int = 4):
        self.plan, self.store = plan, store
        self.scheduler, self.workers, self.chunk = scheduler, workers, chunk
        self.client: Optional[Client] = None
        self.cluster: Optional[LocalCluster] = None
        self.plugin = "cosim-sweep-" + hashlib.sha256(pickle.dumps(plan)).hexdigest()[:16]

    def start(self) -> Client:
        """Connect to the scheduler, or start the local cluster, and install the evaluator."""
        if self.client is None:
            try:
                if self.scheduler:
                    self.client = Client(self.scheduler, timeout="20s")
                else:
                    self.cluster = LocalCluster(
                        n_workers=self.workers or os.cpu_count() or 1, threads_per_worker=1,
                        processes=True, host="127.0.0.1", dashboard_address=":0",
                        silence_logs=logging.ERROR)
                    self.client = Client(self.cluster)
            except (OSError, TimeoutError) as exc:
                raise CosimError(f"cannot reach the Dask scheduler "
                                 f"{self.scheduler or '(local)'}: {exc}") from None
            self.client.register_plugin(EvaluatorPlugin(self.plan, self.plugin),
                                        name=self.plugin)
        return self.client

    def run(self, points: Iterable[Point], done: Callable[[dict], None]) -> dict[str, dict]:
        """Evaluate the points not yet stored; call ``done(row)`` per finished point.

        Returns the rows of all ``points`` (stored ones read back), keyed by point key.
        """
        points = list({p.key: p for p in points}.values())
        stored = self.store.keys()
        todo = [p for p in points if p.key not in stored]
        if todo:
            client = self.start()
            size = max(1, min(self.chunk, len(todo) // (8 * _workers(client)) or 1))
            futures = [client.submit(evaluate_chunk, self.plugin, todo[i:i + size],
                                     pure=False)
                       for i in range(0, len(todo), size)]
            for future in as_completed(futures):
                rows = future.result()
                self.store.add(rows)
                future.release()
                for row in rows:
                    done(row)
        wanted = {p.key for p in points}
        return {r["key"]: r for r in self.store.rows() if r["key"] in wanted}

    def close(self) -> None:
        """Stop the local cluster (an external one is left running)."""
        if self.client is not None:
            if self.scheduler:
                try:
                    self.client.unregister_worker_plugin(self.plugin)
                except Exception:   # noqa: BLE001 - workers may have gone; nothing to undo
                    pass
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None


def _workers(client: Client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))
