"""Read an input file the user named, refusing what is not a small regular file.

A FIFO, a device such as ``/dev/zero`` or a folder given where a file belongs
would block or never end; a file larger than the caller's limit would be read
whole for nothing. The file is opened without blocking and checked through the
open descriptor, so what is checked is what is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cosim.errors import CosimError


def read_limited(path: str | os.PathLike, limit: int, what: str,
                 error: type[CosimError] = CosimError) -> bytes:
    """The bytes of regular file ``path`` (a ``what``) of at most ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError) as exc:    # ValueError: an embedded NUL
        raise error(f"cannot read {path}: {_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path} is not a regular file (a {what} must be one)")
        if info.st_size > limit:
            raise error(f"{what} {path} holds {info.st_size:,} bytes, more than the "
                        f"{limit:,} a {what} may have")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {path}: {_reason(exc)}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{what} {path} grew beyond {limit:,} bytes while being read")
    return data


def regular_file(path: Path, what: str, error: type[CosimError] = CosimError) -> Path:
    """``path`` if it is a regular file; else an error naming the ``what``."""
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:
        raise error(f"cannot read {path}: {_reason(exc)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path} is not a regular file (a {what} must be one)")
    return path


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"{exc.__class__.__name__}: {exc.strerror or exc}"
    return str(exc)
