"""One module per ``tricksearch`` command; each adds its parser and sets ``func``.

Only ``argparse`` and the standard library are imported here, so ``--help`` and
``--version`` answer without torch; every command imports what it needs when it runs.
"""

from __future__ import annotations

from search.commands import ablate, dashboard, export, init, report, run, studies, train

#: In the order ``--help`` lists them.
COMMANDS = (init, run, train, export, studies, dashboard, report, ablate)

__all__ = ["COMMANDS"]
