"""What is computed: the architecture of a MatMul-free language model.

Field names follow the released ``hgrn_bit`` ``config.json`` where one exists,
so a checkpoint's values map onto them one to one (see ``from_hf_config``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from cosim.config.schema import fail, spec


@dataclass(frozen=True)
class ModelConfig:
    """One model: sizes, MLGRU variant, and where its weights come from."""

    name: str = spec(doc="a label for reports")
    hidden_size: int = spec(doc="H, the residual width", gt=0, le=1 << 24, multiple_of=8)
    num_hidden_layers: int = spec(doc="L, the number of blocks", gt=0, le=1 << 20)
    vocab_size: int = spec(doc="V, the vocabulary", gt=0, le=1 << 31)
    intermediate_size: Optional[int] = spec(
        None, doc="I, the GLU width; null for 256*ceil(H*ratio*2/3/256)",
        gt=0, le=1 << 26, multiple_of=8)
    hidden_ratio: int = spec(4, doc="ratio used when intermediate_size is null",
                             gt=0, le=1024)
    rms_norm_eps: float = spec(1e-6, doc="RMSNorm epsilon", ge=1e-12, le=1)
    variant: Literal["released", "paper"] = spec(
        "released", doc="MLGRU form: released hgrn_bit code, or the paper's")
    use_lower_bound: bool = spec(
        True, doc="forget-gate lower bounds (released variant only)")
    checkpoint: Optional[Path] = spec(
        None, doc="Hugging Face checkpoint folder; null for seeded random weights")
    schedule: Optional[Path] = spec(None, doc="default schedule YAML")
    seed: int = spec(0, doc="seed of the random weights", ge=0, le=2 ** 64 - 1)
    init_std: float = spec(0.02, doc="std of the random weights", gt=0, le=100)

    def check(self, key: str) -> None:
        """Cross-field rules."""
        if self.variant == "paper" and self.use_lower_bound:
            fail(f"{key}.use_lower_bound",
                 "false for variant 'paper' (the paper's MLGRU has no lower bound)",
                 True)

    @property
    def intermediate(self) -> int:
        """I, from the config or the released code's formula."""
        if self.intermediate_size is not None:
            return self.intermediate_size
        raw = int(self.hidden_size * self.hidden_ratio * 2 / 3)
        return 256 * ((raw + 255) // 256)

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with some fields changed (configs are frozen)."""
        return dataclasses.replace(self, **changes)


#: config.json keys that set ModelConfig fields, and the field each sets.
HF_KEYS = {
    "hidden_size": "hidden_size",
    "num_hidden_layers": "num_hidden_layers",
    "vocab_size": "vocab_size",
    "intermediate_size": "intermediate_size",
    "hidden_ratio": "hidden_ratio",
    "rms_norm_eps": "rms_norm_eps",
    "use_lower_bound": "use_lower_bound",
}
