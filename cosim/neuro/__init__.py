"""The neuromorphic target: a model mapped onto a Loihi-class many-core chip.

``network`` turns the dataflow graph into neuron groups and synapses,
``mapping`` places them on cores and chips, ``traffic`` counts who spikes and
the messages that follow, ``simulator`` times the steps in SimPy, ``core``
assembles the report, and ``sanafe_check`` rebuilds the same network in
SANA-FE to cross-check energy and time.
"""

from cosim.neuro.core import NeuroOutcome, simulate

__all__ = ["NeuroOutcome", "simulate"]
