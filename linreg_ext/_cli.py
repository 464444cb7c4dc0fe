"""What the command-line programs (linreg_ext.train, linreg_ext.export) share: their error line.

Library code raises errors in its own words (a config field, "already exists"); only here do they
become the CLIs' words (a --flag, "pass --force").
"""

import sys

from ._io import OutputExistsError


def flag(field: str) -> str:
    """The command-line option of a config field: batch_size -> --batch-size."""
    return "--" + field.replace("_", "-")


def fail(err: Exception | str) -> int:
    """Prints err as one `error: ...` line on stderr, in the CLI's words; returns exit status 1."""
    message = str(err)
    if isinstance(err, OutputExistsError):
        message += "; pass --force to replace it"
    print(f"error: {message}", file=sys.stderr)
    return 1
