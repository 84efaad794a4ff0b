"""Estimates of memory and work, checked before anything is allocated or simulated.

Every size in a config is bounded by its schema, but a product of sizes can
still ask for more than the machine holds (``hidden_size: 65536`` wants
hundreds of GB of weights) or for a simulation that never ends (10^6 layers
on 10^6 compute units). These checks refuse such runs at once, with the
estimate in the message, instead of failing with an out-of-memory or a hang.
A timing-only run (``--numerics off``) allocates no weights, so only its work
is bounded: a what-if model of any size still simulates.
"""

from __future__ import annotations

import os
import resource

from cosim.config.model import ModelConfig
from cosim.config.schedule import Numerics, ScheduleConfig
from cosim.errors import CosimError

#: Simulated events (and per-unit set-up) a run may need: about 10 s on this
#: machine (graph building and simulation cost about 7 us per event).
MAX_SIM_WORK = 1_500_000
#: Events per graph node and step, at most: the operation, its DRAM request,
#: and its wait for inputs when row-wise work overlaps.
EVENTS_PER_NODE = 3
#: Share of the available memory one run may plan to use (others share the machine).
MEMORY_SHARE = 0.75


def graph_nodes(cfg: ModelConfig) -> int:
    """Nodes of ``cfg``'s dataflow graph, from the graphs of one and two layers."""
    from cosim.graph import build_graph

    def nodes(layers: int) -> int:
        small = cfg.replace(hidden_size=8, intermediate_size=8, vocab_size=8,
                            num_hidden_layers=layers)
        return build_graph(small, Numerics()).number_of_nodes()

    one = nodes(1)
    return one + (cfg.num_hidden_layers - 1) * (nodes(2) - one)


def check_work(cfg: ModelConfig, schedule: ScheduleConfig | None = None,
               tokens: int = 0) -> None:
    """Refuse a model (and schedule) whose graph or simulation exceeds MAX_SIM_WORK."""
    nodes = graph_nodes(cfg)
    work = nodes
    if isinstance(schedule, ScheduleConfig):    # a neuromorphic run is bounded by its mapping
        cus = schedule.compute_units
        batch = schedule.prefill.batch or schedule.total_lanes
        streams = sum(1 for n in schedule.lanes_per_cu if n) + min(batch, cus)
        work = (EVENTS_PER_NODE * nodes * (streams + tokens)
                + 2 * cus + schedule.memory.channels * streams)
    if work > MAX_SIM_WORK:
        where = "" if not isinstance(schedule, ScheduleConfig) else (
            f" on {schedule.compute_units:,} compute unit(s), "
            f"{schedule.memory.channels:,} DRAM channel(s), {schedule.total_lanes:,} lane(s)"
            + (f" and {tokens:,} carried token(s)" if tokens else ""))
        raise CosimError(
            f"{cfg.name}: {cfg.num_hidden_layers:,} layers ({nodes:,} graph nodes){where} "
            f"need about {work:,} simulation steps, more than the {MAX_SIM_WORK:,} "
            "a run may take; reduce model.num_hidden_layers, schedule.compute_units "
            "or schedule.memory.channels")


def machine_bytes() -> int:
    """Memory a run can have now: what the kernel reports available (else physical
    memory), or a lower address-space limit (``ulimit -v``)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    total = int(line.split()[1]) * 1024
    except OSError:
        pass
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    return min(total, limit) if limit != resource.RLIM_INFINITY else total


def check_memory(needed: int, what: str, remedy: str) -> None:
    """Refuse to allocate ``needed`` bytes for ``what`` beyond MEMORY_SHARE of the machine."""
    room = int(machine_bytes() * MEMORY_SHARE)
    if needed > room:
        raise CosimError(f"{what} need about {needed / 2**30:,.1f} GiB, more than the "
                         f"{room / 2**30:,.1f} GiB this machine can give a run; {remedy}")
