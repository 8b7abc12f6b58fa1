"""Shared CLI plumbing: JSON output, progress bars, error reporting."""

from __future__ import annotations

import json
import math
import sys
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from datadiet.runs import to_jsonable

stderr = Console(stderr=True)
stdout = Console()


def strict_json(obj):
    """``obj`` (as :func:`datadiet.runs.to_jsonable` makes it) with NaN and infinities as null: strict JSON
    has no literal for them (e.g. the spread of a single seed)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def emit_json(obj) -> None:
    """One strict JSON object as the last stdout line."""
    sys.stdout.write(json.dumps(strict_json(to_jsonable(obj)), allow_nan=False) + "\n")
    sys.stdout.flush()


def _progress() -> Progress:
    """The one look of datadiet's progress bars (on stderr, gone when done)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )


@contextmanager
def progress_bar(description: str, *, quiet: bool = False):
    """Yields a ``callback(done, total)`` that drives a rich progress bar on stderr."""
    if quiet:
        yield lambda done, total: None
        return
    with _progress() as p:
        task = p.add_task(description, total=None)

        def cb(done: int, total: int) -> None:
            p.update(task, completed=done, total=total)

        yield cb


@contextmanager
def multi_progress(quiet: bool = False):
    """Yields ``new(description) -> callback``: a bar per stage, shown from its first update and
    replaced by a one-line note when the stage completes (cached stages never show)."""
    if quiet:
        yield lambda description: lambda done, total: None
        return
    with _progress() as p:

        def new(description: str):
            state = {"task": None}

            def cb(done: int, total: int) -> None:
                if state["task"] is None:
                    state["task"] = p.add_task(description, total=total)
                p.update(state["task"], completed=done, total=total)
                if done >= total:
                    p.remove_task(state["task"])
                    p.console.print(f"done: {description}", highlight=False)

            return cb

        yield new
