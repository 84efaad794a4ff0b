"""A minimal, strict reader and writer of the safetensors format.

Layout: an 8-byte little-endian header length N, N bytes of JSON mapping each
tensor name to ``{dtype, shape, data_offsets: [begin, end]}`` (offsets relative
to the data area after the header), an optional ``__metadata__`` map of strings,
then the raw little-endian data. We keep our own because NumPy has no bfloat16:
BF16 is read as uint16 shifted into the top half of a float32. Only the header
is read when a file is opened; each tensor is read on request, so a multi-GB
file is never held whole. Every defect raises :class:`CheckpointError` naming
the file and tensor, what was expected and what was found.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Mapping, Sequence

import numpy as np

from cosim.errors import CheckpointError

#: Dtypes we read, and the little-endian NumPy type their bytes are read as.
DTYPES = {"BF16": np.dtype("<u2"), "F16": np.dtype("<f2"), "F32": np.dtype("<f4")}
#: Dtypes we write.
WRITABLE = ("BF16", "F32")
#: The reference implementation refuses larger headers; so do we.
MAX_HEADER_BYTES = 100_000_000
#: NumPy's dimension limit (before NumPy 2), and its size limit per array.
MAX_NDIM = 32
MAX_ARRAY_BYTES = 2 ** 62
#: Elements converted per write, so writing a tensor needs little extra memory.
WRITE_CHUNK = 1 << 22
METADATA = "__metadata__"
ENTRY_KEYS = ("dtype", "shape", "data_offsets")


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives in a file: dtype, shape, absolute byte range."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    nbytes: int


def parse_json(raw: bytes, where: str) -> Any:
    """The JSON value in ``raw``; duplicate keys and invalid text are errors."""
    def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=refuse_duplicates)
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{where}: not UTF-8 text ({exc.reason} at byte "
                              f"{exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{where}: not valid JSON ({exc})") from None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_count(value: Any) -> bool:
    """A non-negative JSON integer (JSON true/false are not integers)."""
    return type(value) is int and value >= 0


class SafetensorsFile:
    """One ``.safetensors`` file: its validated header, and tensors on request."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.tensors: dict[str, TensorInfo] = {}
        self.metadata: dict[str, str] = {}
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                header = self._read_header(handle, size)
        except OSError as exc:
            raise CheckpointError(f"cannot read {self.path}: "
                                  f"{exc.strerror or exc}") from None
        self._parse(header, size)

    @property
    def names(self) -> tuple[str, ...]:
        """Tensor names in header order."""
        return tuple(self.tensors)

    def _fail(self, message: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {message}")

    def _read_header(self, handle: BinaryIO, size: int) -> bytes:
        if size < 8:
            raise self._fail(f"expected at least 8 bytes (the header length), "
                             f"found a {size}-byte file")
        length = int.from_bytes(handle.read(8), "little")
        if length > size - 8:
            raise self._fail(f"header length {length} exceeds the {size - 8} "
                             "bytes that follow it (truncated or not safetensors)")
        if length > MAX_HEADER_BYTES:
            raise self._fail(f"header length {length} exceeds the limit of "
                             f"{MAX_HEADER_BYTES} bytes")
        return handle.read(length)

    def _parse(self, raw: bytes, size: int) -> None:
        header = parse_json(raw, f"{self.path}: header")
        if not isinstance(header, dict):
            raise self._fail(f"header must be a JSON object, found "
                             f"{type(header).__name__}")
        metadata = header.pop(METADATA, {})
        if not isinstance(metadata, dict) or not all(
                isinstance(v, str) for v in metadata.values()):
            raise self._fail(f"{METADATA} must map names to strings, found "
                             f"{_show(metadata)}")
        self.metadata = metadata
        data_start = 8 + len(raw)
        data_size = size - data_start
        spans = []
        for name, entry in header.items():
            info = self._entry(name, entry, data_size)
            spans.append((info.start, info.start + info.nbytes, name))
            self.tensors[name] = replace(info, start=data_start + info.start)
        self._check_coverage(sorted(spans), data_size)

    def _entry(self, name: str, entry: Any, data_size: int) -> TensorInfo:
        """One validated header entry, its start relative to the data area."""
        where = f"tensor {name!r}"
        if not isinstance(entry, dict) or any(k not in entry for k in ENTRY_KEYS):
            raise self._fail(f"{where}: expected an object with keys "
                             f"{', '.join(ENTRY_KEYS)}, found {_show(entry)}")
        dtype, shape, offsets = (entry[k] for k in ENTRY_KEYS)
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise self._fail(f"{where}: dtype must be one of {', '.join(DTYPES)}, "
                             f"found {_show(dtype)}")
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                or not all(_is_count(d) for d in shape)):
            raise self._fail(f"{where}: shape must be a list of at most {MAX_NDIM} "
                             f"non-negative integers, found {_show(shape)}")
        itemsize = DTYPES[dtype].itemsize
        if math.prod(max(d, 1) for d in shape) * itemsize >= MAX_ARRAY_BYTES:
            raise self._fail(f"{where}: shape {shape} is too large for an array")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(_is_count(o) for o in offsets)
                or offsets[0] > offsets[1]):
            raise self._fail(f"{where}: data_offsets must be [begin, end] with "
                             f"0 <= begin <= end, found {_show(offsets)}")
        begin, end = offsets
        nbytes = math.prod(shape) * itemsize
        if end - begin != nbytes:
            raise self._fail(f"{where}: shape {shape} of {dtype} needs {nbytes} "
                             f"bytes, but data_offsets {offsets} span {end - begin}")
        if end > data_size:
            raise self._fail(f"{where}: data_offsets {offsets} end past the "
                             f"{data_size}-byte data area (truncated file?)")
        return TensorInfo(dtype, tuple(shape), begin, nbytes)

    def _check_coverage(self, spans: list[tuple[int, int, str]], data_size: int) -> None:
        """Tensors must tile the data area exactly: no overlap, gap or tail."""
        covered, previous = 0, None
        for begin, end, name in spans:
            if begin < covered:
                raise self._fail(f"tensor {name!r}: data_offsets [{begin}, {end}] "
                                 f"overlap tensor {previous!r}, which ends at {covered}")
            if begin > covered:
                raise self._fail(f"tensor {name!r}: data_offsets start at {begin}, "
                                 f"expected {covered} (a gap of unused bytes)")
            covered, previous = end, name
        if covered != data_size:
            raise self._fail(f"the tensors cover {covered} bytes of data, but the "
                             f"file holds {data_size} after the header")

    def read(self, name: str) -> np.ndarray:
        """Tensor ``name`` as a new float32 array (BF16 and F16 widened exactly)."""
        info = self.tensors.get(name)
        if info is None:
            raise self._fail(f"no tensor named {name!r}")
        raw = np.empty(info.nbytes // DTYPES[info.dtype].itemsize, DTYPES[info.dtype])
        try:
            with open(self.path, "rb") as handle:
                handle.seek(info.start)
                got = handle.readinto(memoryview(raw).cast("B"))
        except OSError as exc:
            raise self._fail(f"tensor {name!r}: cannot read: {exc.strerror or exc}") \
                from None
        if got != info.nbytes:
            raise self._fail(f"tensor {name!r}: expected {info.nbytes} bytes at "
                             f"offset {info.start}, found {got} (file changed or "
                             "truncated since it was opened)")
        if info.dtype == "BF16":
            values = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            values = raw.astype(np.float32)
        return values.reshape(info.shape)


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even.

    NaNs stay NaN (quietened, sign kept); values beyond the bf16 range round
    to infinity, as a hardware conversion does.
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    bits = values.view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1)))) >> 16
    out = rounded.astype(np.uint16)
    nan = np.isnan(values)
    out[nan] = ((bits[nan] >> 16) | np.uint32(0x0040)).astype(np.uint16)
    return out


def bf16_round(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16, as float32."""
    return (bf16_bits(values).astype(np.uint32) << 16).view(np.float32)


def _write_array(handle: BinaryIO, array: np.ndarray, dtype: str) -> None:
    flat = np.ascontiguousarray(array, dtype=np.float32).reshape(-1)
    for start in range(0, flat.size, WRITE_CHUNK):
        part = flat[start:start + WRITE_CHUNK]
        handle.write(bf16_bits(part).astype("<u2") if dtype == "BF16"
                     else part.astype("<f4"))


def write_safetensors(path: str | os.PathLike, shapes: Mapping[str, Sequence[int]],
                      tensors: Iterable[tuple[str, np.ndarray]], dtype: str = "BF16",
                      metadata: Mapping[str, str] | None = None) -> int:
    """Write ``tensors`` (in the order of ``shapes``) to ``path``; return its size.

    The shapes come first so the header can be written before any data; the
    tensors are then streamed one at a time, so at most one is held at once.
    Each must arrive in ``shapes`` order with its declared shape.
    """
    path = Path(path)
    if dtype not in WRITABLE:
        raise CheckpointError(f"{path}: dtype must be one of {', '.join(WRITABLE)}, "
                              f"not {dtype!r}")
    if METADATA in shapes:
        raise CheckpointError(f"{path}: {METADATA!r} is reserved, not a tensor name")
    itemsize = DTYPES[dtype].itemsize
    header: dict[str, Any] = {METADATA: dict(metadata)} if metadata else {}
    offset = 0
    for name, shape in shapes.items():
        nbytes = math.prod(shape) * itemsize
        header[name] = {"dtype": dtype, "shape": [int(d) for d in shape],
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # align the data area, as the reference does
    declared = iter(shapes.items())
    try:
        with open(path, "wb") as handle:
            handle.write(len(text).to_bytes(8, "little") + text)
            for name, array in tensors:
                want_name, want_shape = next(declared, (None, None))
                if name != want_name:
                    raise CheckpointError(f"{path}: expected tensor {want_name!r} "
                                          f"next, found {name!r}")
                if tuple(array.shape) != tuple(want_shape):
                    raise CheckpointError(f"{path}: tensor {name!r}: expected shape "
                                          f"{list(want_shape)}, found "
                                          f"{list(array.shape)}")
                _write_array(handle, array, dtype)
    except OSError as exc:
        raise CheckpointError(f"cannot write {path}: {exc.strerror or exc}") from None
    missing = next(declared, None)
    if missing is not None:
        raise CheckpointError(f"{path}: tensor {missing[0]!r} was declared but "
                              "never given")
    return 8 + len(text) + offset
