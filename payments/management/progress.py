"""Progress bars of the long management commands (tqdm, on stderr so that stdout stays the command's output).

A bar is shown only on a terminal, and never with --no-progress: cron jobs and pipes get the summary alone.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm


def progress_argument_add(parser) -> None:
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="Do not show a progress bar (it is shown only when stderr is a terminal anyway).",
    )


def progress_enabled(options: dict) -> bool:
    return not options.get("no_progress") and sys.stderr.isatty()


@contextmanager
def progress_bar(*, options: dict, total: int | None, description: str, unit: str = "it") -> Iterator[tqdm]:
    """`bar.update()` per item done; the bar disappears when the block ends, before the summary is written."""
    bar = tqdm(
        total=total, desc=description, unit=unit, file=sys.stderr, leave=False, disable=not progress_enabled(options)
    )
    try:
        yield bar
    finally:
        bar.close()
