"""The ``delegation`` command line: parse arguments, call the library, print.

:mod:`delegation.cli.main` holds the parser and the token commands, :mod:`.approval` the
approval commands, :mod:`.state` the state commands, :mod:`.demo` the demo story and
:mod:`._common` the shared plumbing. Nothing here decides anything about tokens.
"""

from delegation.cli.main import main

__all__ = ["main"]
