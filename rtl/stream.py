"""Flat bit-vector layouts of the beats a unit streams in and out.

A MyHDL top-level port cannot be a list of signals, so every beat travels as
one flat bus; a :class:`Layout` says which bits hold which field. Field 0
occupies the least-significant bits; signed fields are two's complement.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """``count`` values of ``width`` bits each (a list when count > 1)."""

    name: str
    width: int
    signed: bool = False
    count: int = 1

    def __post_init__(self):
        if self.width < 1:
            raise ValueError(f"field {self.name}: width must be a positive integer, "
                             f"not {self.width}")
        if self.count < 1:
            raise ValueError(f"field {self.name}: count must be a positive integer, "
                             f"not {self.count}")

    @property
    def total(self) -> int:
        """Bits the field occupies on the bus."""
        return self.width * self.count

    @property
    def lo(self) -> int:
        """Smallest representable element value."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        """Largest representable element value."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1


class Layout:
    """An ordered set of fields packed LSB first into one integer."""

    def __init__(self, *fields: Field):
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ValueError(f"layout field names must be unique, not {names}")
        self.fields = tuple(fields)
        self.offsets: dict[str, int] = {}
        pos = 0
        for f in fields:
            self.offsets[f.name] = pos
            pos += f.total
        self.width = pos

    def __repr__(self) -> str:
        return f"Layout({', '.join(repr(f) for f in self.fields)})"

    def field(self, name: str) -> Field:
        """The field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def _element(self, f: Field, value) -> int:
        value = int(value)
        if not f.lo <= value <= f.hi:
            raise ValueError(f"field {f.name}: {value} is outside [{f.lo}, {f.hi}]")
        return value & ((1 << f.width) - 1)

    def pack(self, beat: dict) -> int:
        """The bus value of ``beat``; missing fields are zero, unknown ones an error."""
        unknown = set(beat) - set(self.offsets)
        if unknown:
            raise KeyError(f"fields {sorted(unknown)} not in {self!r}")
        word = 0
        for f in self.fields:
            values = beat.get(f.name, [0] * f.count if f.count > 1 else 0)
            if f.count == 1:
                values = [values]
            values = list(values)
            if len(values) != f.count:
                raise ValueError(f"field {f.name}: expected {f.count} values, "
                                 f"got {len(values)}")
            pos = self.offsets[f.name]
            for v in values:
                word |= self._element(f, v) << pos
                pos += f.width
        return word

    def unpack(self, word: int) -> dict:
        """The beat a bus value holds (lists for fields with count > 1)."""
        word = int(word)
        beat: dict = {}
        for f in self.fields:
            pos = self.offsets[f.name]
            values = []
            for _ in range(f.count):
                v = (word >> pos) & ((1 << f.width) - 1)
                if f.signed and v >> (f.width - 1):
                    v -= 1 << f.width
                values.append(v)
                pos += f.width
            beat[f.name] = values if f.count > 1 else values[0]
        return beat
