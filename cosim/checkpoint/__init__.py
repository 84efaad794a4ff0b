"""Hugging Face checkpoints of MatMul-free LMs (``model_type: hgrn_bit``).

``load_checkpoint`` opens and validates a folder (config.json plus safetensors
shards) as a weight source; ``write_checkpoint`` writes one in the released
layout. Tensor files are read and written by the ``safetensors`` library
(``cosim.checkpoint.shard``); pickle weights are refused, never unpickled.
"""

from cosim.checkpoint.folder import Checkpoint, load_checkpoint
from cosim.checkpoint.make import write_checkpoint
from cosim.checkpoint.shard import SafetensorsFile, bf16_round, write_safetensors

__all__ = ["Checkpoint", "SafetensorsFile", "bf16_round", "load_checkpoint",
           "write_checkpoint", "write_safetensors"]
