"""Errors the user can act on.

Every failure caused by input (a YAML key, a checkpoint tensor, a schedule that
cannot work) is a :class:`CosimError`; the CLI prints its message on one line
and exits 2. Anything else escaping is a bug in cosim.
"""


class CosimError(Exception):
    """Bad input: the message names what was expected and what was found."""


class ConfigError(CosimError):
    """A model or schedule YAML, or a ``--set`` override, is invalid."""


class CheckpointError(CosimError):
    """A checkpoint folder or tensor file is missing, malformed or mismatched."""
