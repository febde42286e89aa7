"""User-facing errors and the wrapper that turns them into one clear line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import typing
from collections.abc import Callable

logger = logging.getLogger(__name__)

DEBUG_ENV = "BERTDISTILL_DEBUG"


class UserError(Exception):
    """A mistake the user can fix (bad path, param or file); printed as one line, no traceback."""


def not_utf8(path: object, error: UnicodeDecodeError, offset: int = 0) -> UserError:
    """The error for a file that is not UTF-8 text: where its first bad byte is and the fix.
    ``offset``: where in the file the bytes that ``error`` decoded began."""
    byte = error.object[error.start]
    return UserError(
        f"{path} is not UTF-8 text: byte 0x{byte:02x} at offset {offset + error.start}: "
        f"convert it (e.g. `iconv -f latin1 -t utf-8`) or pass a UTF-8 text file"
    )


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a bad argument is one line (and exit code 2), not the usage too."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def run_cli(main: Callable[[], None]) -> None:
    """Run a stage's ``main``: user errors become one line on stderr and exit code 2.

    Set ``BERTDISTILL_DEBUG=1`` to see the full traceback instead.
    """
    try:
        main()
    except UserError as error:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: outputs of this stage were not written", file=sys.stderr)
        sys.exit(130)
