"""mmfree-cosim: hardware co-simulation of MatMul-free language models.

The flow follows the folders: ``config`` (validated YAML) -> ``graph`` (the
dataflow of one token) -> ``numerics`` (float reference and fixed-point golden
engines that execute that graph) -> ``run`` (the command users start with).
"""

__version__ = "0.1.0"
