"""One ``.safetensors`` file, read and written by the ``safetensors`` library.

The library parses and validates the header (offsets that tile the data area
without gap or overlap, a header within its size limit, valid JSON) and reads
each tensor lazily through a memory map, so a multi-GB file is never held
whole; ``ml_dtypes`` gives NumPy its bfloat16. This module adds what a
checkpoint needs beyond the format: a regular file (a FIFO would block), the
dtypes a released checkpoint uses, finite values, float32 for the engines, and
errors (:class:`CheckpointError`) that name the file and the tensor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import ml_dtypes
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from cosim.errors import CheckpointError
from cosim.files import regular_file

#: Dtypes a checkpoint may hold, as NumPy types.
DTYPES = {"BF16": np.dtype(ml_dtypes.bfloat16), "F16": np.dtype("<f2"),
          "F32": np.dtype("<f4")}
#: Dtypes we write.
WRITABLE = ("BF16", "F32")


@dataclass(frozen=True)
class TensorInfo:
    """A tensor as its file's header declares it."""

    dtype: str
    shape: tuple[int, ...]


def _reason(exc: Exception) -> str:
    """The library's message on one line, without its generic prefix."""
    text = str(exc).replace("Error while deserializing header: ", "")
    return " ".join(text.split())[:200]


class SafetensorsFile:
    """One ``.safetensors`` file: its validated header, and tensors on request."""

    def __init__(self, path: str | os.PathLike):
        self.path = regular_file(Path(path), "safetensors file", CheckpointError)
        try:
            with safe_open(self.path, framework="np") as handle:
                self.metadata: dict[str, str] = dict(handle.metadata() or {})
                self.tensors = {name: TensorInfo(view.get_dtype(), tuple(view.get_shape()))
                                for name in handle.offset_keys()
                                for view in (handle.get_slice(name),)}
        except (SafetensorError, OSError) as exc:
            raise self._fail(f"not a valid safetensors file ({_reason(exc)})") from None
        for name, info in self.tensors.items():
            if info.dtype not in DTYPES:
                raise self._fail(f"tensor {name!r}: dtype must be one of "
                                 f"{', '.join(DTYPES)}, found {info.dtype}")

    @property
    def names(self) -> tuple[str, ...]:
        """Tensor names in file order."""
        return tuple(self.tensors)

    def _fail(self, message: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {message}")

    def read(self, name: str) -> np.ndarray:
        """Tensor ``name`` as a new float32 array (BF16 and F16 widened exactly).

        A tensor holding NaN or infinity is refused: no model computes with them.
        """
        if name not in self.tensors:
            raise self._fail(f"no tensor named {name!r}")
        regular_file(self.path, "safetensors file", CheckpointError)
        try:
            with safe_open(self.path, framework="np") as handle:
                values = handle.get_tensor(name).astype(np.float32)
        except (SafetensorError, OSError) as exc:
            raise self._fail(f"tensor {name!r}: cannot read ({_reason(exc)}); the "
                             "file changed or was truncated since it was opened") from None
        bad = values.size - np.count_nonzero(np.isfinite(values))
        if bad:
            raise self._fail(f"tensor {name!r} holds {bad:,} NaN or infinite value(s) "
                             f"of {values.size:,}; weights must be finite")
        return values


def bf16_round(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), as float32."""
    return np.asarray(values, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, np.ndarray],
                      dtype: str = "BF16", metadata: Mapping[str, str] | None = None) -> int:
    """Write ``tensors`` as ``dtype`` to ``path``; return the file's size in bytes."""
    path = Path(path)
    if dtype not in WRITABLE:
        raise CheckpointError(f"{path}: dtype must be one of {', '.join(WRITABLE)}, "
                              f"not {dtype!r}")
    arrays = {name: np.ascontiguousarray(value, dtype=DTYPES[dtype])
              for name, value in tensors.items()}
    try:
        save_file(arrays, path, metadata=dict(metadata) if metadata else None)
        return path.stat().st_size
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"cannot write {path}: {_reason(exc)}") from None
