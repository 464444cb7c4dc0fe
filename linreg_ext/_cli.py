"""What the command-line programs (linreg_ext.train, linreg_ext.export) share: their error line,
their exit codes, and a stdout that may close early.

Library code raises errors in its own words (a config field, "already exists"); only here do they
become the CLIs' words (a --flag, "pass --force").

Exit codes: 0 success (also when stdout was closed early, e.g. `| head -1`: the report is lost,
the result is not); 1 an error (bad data, options, checkpoint or output place), nothing written;
2 a bad command line (argparse); 3 training diverged, nothing written; 130 interrupted (SIGINT),
nothing written.
"""

import os
import sys

from ._io import OutputExistsError

DIVERGED = 3
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a program killed by Ctrl-C


def flag(field: str) -> str:
    """The command-line option of a config field: batch_size -> --batch-size."""
    return "--" + field.replace("_", "-")


def fail(err: Exception | str, status: int = 1) -> int:
    """Prints err as one `error: ...` line on stderr, in the CLI's words; returns `status`."""
    message = str(err)
    if isinstance(err, OutputExistsError):
        message += "; pass --force to replace it"
    try:
        print(f"error: {message}", file=sys.stderr, flush=True)
    except OSError:  # stderr closed too: the exit status still says it
        pass
    return status


class Console:
    """The program's report on stdout, one line per call, flushed at once.

    Once stdout is closed (a reader such as `head -1` went away), further lines are dropped
    quietly and stdout is pointed at /dev/null, so that neither this run nor the interpreter's
    final flush fails: logging never costs the result.
    """

    def __init__(self) -> None:
        self.closed = False

    def __call__(self, line: str) -> None:
        if self.closed:
            return
        try:
            print(line, flush=True)
        except BrokenPipeError:
            self.closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
