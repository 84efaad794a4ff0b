"""Errors the user can act on, and how the command lines show them.

Every failure caused by input (a YAML key, a checkpoint tensor, a schedule that
cannot work) is a :class:`CosimError`; the CLI prints its message on one line
(:func:`one_line`) and exits 2. Anything else escaping is a bug in cosim.
"""

import argparse


class CosimError(Exception):
    """Bad input: the message names what was expected and what was found."""


class ConfigError(CosimError):
    """A model or schedule YAML, or a ``--set`` override, is invalid."""


class CheckpointError(CosimError):
    """A checkpoint folder or tensor file is missing, malformed or mismatched."""


def one_line(text: str) -> str:
    """``text`` with every unprintable character escaped as Python would write it.

    A newline or NUL in a path, or a lone surrogate from an undecodable
    argument, then neither breaks the one-line message nor fails to encode.
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is a CosimError: one line, exit 2, like any bad input."""

    def error(self, message: str):
        raise CosimError(message)
