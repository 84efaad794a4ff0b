"""The training corpus: the King James Bible from Debian's ``bible-kjv`` package.

The text is public domain (its Debian copyright file: "The copyright for the
King James Version text of the Bible is expired"); the package ships it
compressed with the ``bible`` reader, which dumps it one verse a line with a
reference ("Ge1:1 In the beginning ..."). We drop the references and keep one
verse a line. The last ``HELD_OUT_FRACTION`` of the bytes is never trained on;
the start of it, cut at a line end, is the held-out text shipped with the model.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

from cosim.errors import CosimError

PACKAGE = "bible-kjv"
LICENCE = ("public domain (King James Version, 1611; Debian bible-kjv-text "
           "copyright file: the copyright of the text is expired)")
EVERYTHING = "Gen1:1-Rev22:21"
HELD_OUT_FRACTION = 0.02
REFERENCE = re.compile(rb"^\S+\d+:\d+ ", re.MULTILINE)


def read_corpus() -> bytes:
    """The whole text, one verse a line, references removed."""
    reader = shutil.which("bible")
    if reader is None:
        raise CosimError(f"the corpus comes from Debian's {PACKAGE} package; "
                         f"install it with: apt-get install {PACKAGE}")
    try:
        raw = subprocess.run([reader, "-f", "-m", "8192", EVERYTHING], check=True,
                             capture_output=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise CosimError(f"cannot read the corpus with {reader}: {exc}") from None
    text = REFERENCE.sub(b"", raw)
    if len(text) < 1_000_000:
        raise CosimError(f"{reader} gave {len(text):,} bytes; expected the whole "
                         "Bible (about 4.3 MB)")
    return text


def split(text: bytes) -> tuple[bytes, bytes]:
    """(training text, held-out text): the held-out part is the corpus's end."""
    cut = text.index(b"\n", int(len(text) * (1 - HELD_OUT_FRACTION))) + 1
    return text[:cut], text[cut:]


def excerpt(held_out: bytes, size: int) -> bytes:
    """The first whole lines of the held-out text, at most ``size`` bytes."""
    return held_out[:held_out.rindex(b"\n", 0, size) + 1]


def sha256(data: bytes) -> str:
    """Hex digest, for the provenance record."""
    return hashlib.sha256(data).hexdigest()
