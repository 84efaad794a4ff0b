"""A schedule of the neuromorphic kind (``target: neuromorphic``): a Loihi-class many-core chip.

It describes chips of cores on a mesh, the neuron and synaptic-memory limits of
a core, the widths of weights and graded-spike payloads, and the energy and
latency of every event the chip handles (synaptic operation, soma update,
spike, message out and in, hop), the time-step barrier and static power. Every
figure carries its ``source``: a figure without one is refused, as in the FPGA
energy tables. ``cosim.neuro`` maps a model onto it and simulates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from cosim.config.schedule import Activity, Numerics, StaticPower
from cosim.config.schema import fail, spec


@dataclass(frozen=True)
class Count:
    """A structural figure of the chip (an integer) and where it comes from."""

    value: int = spec(doc="the figure", gt=0)
    source: str = spec(doc="where the number comes from (datasheet, paper, assumption)")


@dataclass(frozen=True)
class Event:
    """Energy and latency of one event, and where both come from."""

    pj: float = spec(doc="picojoules per event", ge=0)
    ns: float = spec(doc="nanoseconds the unit handling it is busy", ge=0)
    source: str = spec(doc="where the numbers come from (paper, simulator preset, fit)")


@dataclass(frozen=True)
class Latency:
    """A time and where it comes from."""

    ns: float = spec(doc="nanoseconds", ge=0)
    source: str = spec(doc="where the number comes from")


@dataclass(frozen=True)
class Chip:
    """Chips of ``cores`` cores, ``cores_per_tile`` to a router of a ``width`` x ``height`` mesh.

    Chips sit side by side along the mesh's x axis, so a message to another
    chip pays the east-west hops between them (no separate chip-link cost).
    """

    max: Count = field(metadata={"doc": "most chips the system has"})
    cores: Count = field(metadata={"doc": "neuro-cores per chip"})
    mesh_width: Count = field(metadata={"doc": "tiles (routers) along x, per chip"})
    mesh_height: Count = field(metadata={"doc": "tiles (routers) along y, per chip"})
    cores_per_tile: Count = field(metadata={"doc": "cores sharing one router"})

    def check(self, key: str) -> None:
        tiles = self.mesh_width.value * self.mesh_height.value
        if tiles * self.cores_per_tile.value != self.cores.value:
            fail(f"{key}.cores.value",
                 f"mesh_width x mesh_height x cores_per_tile = "
                 f"{tiles * self.cores_per_tile.value}", self.cores.value)


@dataclass(frozen=True)
class Core:
    """What one core holds: neurons (compartments) and synaptic memory."""

    neurons: Count = field(metadata={"doc": "neurons (compartments) per core"})
    synapse_memory_bits: Count = field(metadata={"doc": "synaptic memory per core, bits"})
    synapse_bits: Count = field(
        metadata={"doc": "bits per stored synapse (weight plus index; zeros are not stored)"})
    payload_bits: Count = field(metadata={"doc": "bits of a graded spike's payload"})


@dataclass(frozen=True)
class Events:
    """Energy and latency per event."""

    synaptic_op: Event = field(metadata={"doc": "one stored synapse met by an incoming spike"})
    soma_update: Event = field(metadata={"doc": "one neuron's update (its soma program) "
                                                "in a time step"})
    spike_out: Event = field(metadata={"doc": "a neuron emits a spike"})
    message_out: Event = field(metadata={"doc": "one spike message sent to one core"})
    message_in: Event = field(metadata={"doc": "one spike message received by a core"})
    hop_east_west: Event = field(metadata={"doc": "a message crosses one router along x"})
    hop_north_south: Event = field(metadata={"doc": "a message crosses one router along y"})


@dataclass(frozen=True)
class NeuromorphicSchedule:
    """A neuromorphic platform and how a model is mapped onto it."""

    target: Literal["neuromorphic"] = spec(doc="the kind of schedule")
    name: str = spec(doc="a label for reports")
    chip: Chip = field(metadata={"doc": "chips, cores and the mesh"})
    core: Core = field(metadata={"doc": "limits of one core"})
    events: Events = field(metadata={"doc": "energy and latency per event"})
    barrier: Latency = field(metadata={"doc": "the time-step barrier (synchronisation)"})
    static: StaticPower = field(metadata={"doc": "static power per chip"})
    sequences: Optional[int] = spec(
        None, doc="sequences in flight through the layer pipeline; null: as many as "
                  "the pipeline has time steps (every stage busy)", gt=0)
    numerics: Numerics = field(default_factory=Numerics,
                               metadata={"doc": "number formats of the golden model"})
    activity: Activity = field(default_factory=Activity,
                               metadata={"doc": "expected densities for --numerics off"})
