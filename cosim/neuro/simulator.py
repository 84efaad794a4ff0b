"""SimPy model of time steps on a neuromorphic chip: cores, messages over the mesh, the barrier.

Within a time step every core updates all its neurons in placement order (a
soma update each, plus a spike out for each that fires) and, after each
spiking neuron, sends one message to every core holding its synapses; the
sending side is a fixed sequence, so its timestamps are computed directly. A
message reaches its destination after one hop latency per router it crosses
(x then y); there the core's synapse pipeline, a SimPy resource, takes the
messages in arrival order, each costing a message-in plus one synaptic
operation per synapse it meets. A time step ends when every core has finished
sending and receiving, plus the barrier. This is the event model of SANA-FE's
"detailed" timing (Boyle et al., IEEE TCAD 2025) without its congestion term.

Large steps (millions of messages) take each destination core's arrivals in
runs of consecutive messages, one SimPy process per run, so that a step stays
within about ``MAX_JOBS`` processes. This loses nothing: a run served from time
t0 ends at max(t0 + its work, max over its messages of arrival + the work from
that message on), which is what serving its messages one by one gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from cosim.config.neuromorphic import NeuromorphicSchedule
from cosim.neuro.mapping import Mapping
from cosim.neuro.traffic import Traffic

NS = 1e-9
#: most receive jobs simulated per time step before arrivals are batched
MAX_JOBS = 5_000


@dataclass
class StepTiming:
    """How long one time step took and what kept each core busy."""

    seconds: float             # including the barrier
    send_s: np.ndarray         # per core: soma updates, spikes and messages out
    receive_s: np.ndarray      # per core: messages in and synaptic operations
    batch: int                 # arrivals per receive job (1: every message its own)


def send_times(traffic: Traffic, mapping: Mapping, schedule: NeuromorphicSchedule,
               first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time each message leaves its core, time each core finishes sending), seconds.

    ``first[c]`` is the global index of core c's first neuron.
    """
    ev = schedule.events
    soma, spike, out = ev.soma_update.ns * NS, ev.spike_out.ns * NS, ev.message_out.ns * NS
    cores = mapping.cores
    spiking_core = np.searchsorted(first, traffic.spiking, side="right") - 1
    per_core_spikes = np.bincount(spiking_core, minlength=cores)
    per_core_msgs = np.bincount(traffic.src, minlength=cores)
    per_core_neurons = np.diff(np.r_[first, traffic.neurons])
    finish = per_core_neurons * soma + per_core_spikes * spike + per_core_msgs * out
    # spikes at or before each message's neuron, and the message's rank on its core
    spikes_upto = np.searchsorted(traffic.spiking, traffic.neuron, side="right") \
        - np.searchsorted(traffic.spiking, first[traffic.src], side="left")
    order = np.argsort(traffic.src, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    starts = np.r_[0, np.cumsum(per_core_msgs)[:-1]]
    rank[order] = np.arange(len(order)) - np.repeat(starts, per_core_msgs)
    sent = ((traffic.neuron - first[traffic.src] + 1) * soma + spikes_upto * spike
            + (rank + 1) * out)
    return sent, finish


def simulate_step(traffic: Traffic, mapping: Mapping, schedule: NeuromorphicSchedule,
                  batch: int | None = None) -> StepTiming:
    """Time one step: its own SimPy environment, from the barrier that opened it to the next.

    ``batch``: arrivals per receive job; default: enough to stay within ``MAX_JOBS``.
    """
    ev = schedule.events
    first = np.r_[0, np.cumsum(mapping.neurons_per_core)[:-1]]
    sent, send_finish = send_times(traffic, mapping, schedule, first)
    sx, sy = mapping.position(traffic.src, schedule)
    dx, dy = mapping.position(traffic.dst, schedule)
    arrive = sent + (np.abs(sx - dx) * ev.hop_east_west.ns
                     + np.abs(sy - dy) * ev.hop_north_south.ns) * NS
    work = (ev.message_in.ns + traffic.synapses * ev.synaptic_op.ns) * NS
    batch = batch or max(1, -(-len(arrive) // MAX_JOBS))
    order = np.lexsort((arrive, traffic.dst))
    dst, arrive, work = traffic.dst[order], arrive[order], work[order]
    receive = np.bincount(dst, weights=work, minlength=mapping.cores)
    env = simpy.Environment()
    done = [float(send_finish.max(initial=0.0))]
    if len(dst):
        # receive jobs: runs of up to ``batch`` consecutive arrivals at one core
        new_core = np.r_[True, dst[1:] != dst[:-1]]
        run_start = np.maximum.accumulate(np.where(new_core, np.arange(len(dst)), 0))
        starts = np.flatnonzero(new_core | ((np.arange(len(dst)) - run_start) % batch == 0))
        total = np.add.reduceat(work, starts)
        # a job that starts at t0 ends at max(t0 + total, max_k(arrival_k + work from k on))
        ends = np.r_[starts[1:], len(dst)] - 1
        cum = np.cumsum(work)
        chunk = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(dst)]))
        tail = cum[ends][chunk] - cum + work
        latest = np.maximum.reduceat(arrive + tail, starts)
        pipes = {int(c): simpy.Resource(env, capacity=1) for c in np.unique(dst)}

        def job(core: int, first_arrival: float, cost: float, bound: float):
            yield env.timeout(first_arrival)
            with pipes[core].request() as req:
                yield req
                yield env.timeout(max(cost, bound - env.now))
            done.append(env.now)

        for k, s in enumerate(starts):
            env.process(job(int(dst[s]), float(arrive[s]), float(total[k]), float(latest[k])))
        env.run()
    seconds = max(done) + schedule.barrier.ns * NS
    return StepTiming(seconds, send_finish, receive, batch)
