"""The system simulator: timing, activity, energy and the reports of a schedule.

``simulate`` is the one entry point: it validates the schedule against the
model, times one decode step and one prefill pass in SimPy, counts activity
(from carried fixed-point values, or from expected densities) and returns the
report sections the CLI writes.
"""

from cosim.sim.core import SimOutcome, simulate
from cosim.sim.platform import validate

__all__ = ["SimOutcome", "simulate", "validate"]
