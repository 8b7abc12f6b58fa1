"""Shared CLI plumbing: JSON output, progress bars, error reporting."""

from __future__ import annotations

import json
import math
import re
import sys
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from datadiet.runs import to_jsonable


class _Console(Console):
    """A console that prints text lines whole and as they are: never wrapped or cut at the terminal's
    width (a path stays one line to copy), no markup or highlighting read into them; tables still fit."""

    def print(self, *objects, **kwargs) -> None:
        if objects and all(isinstance(o, str) for o in objects):
            kwargs = {"soft_wrap": True, "markup": False, "highlight": False, **kwargs}
        super().print(*objects, **kwargs)


stderr = Console(stderr=True)
stdout = _Console()


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


_QUOTED = re.compile(r"'([^'\s]*)'|\"([^\"\s]*)\"")


def _as_typed(flag: str, value: str) -> str:
    """An option as one types it: ``--balanced-by 'group'`` -> ``--balanced-by group`` (quotes kept
    around spaces), ``--balanced True`` -> ``--balanced``."""
    if value == "True":
        return flag
    m = _QUOTED.fullmatch(value)
    return f"{flag} {value if m is None else (m[1] if m[1] is not None else m[2])}"


def with_flags(message: str, flags: dict[str, str]) -> str:
    """``message`` with the Python parameter names it quotes written as the command's flags
    (``flags``: parameter name -> flag): ``balanced_by='group'`` -> ``--balanced-by group``;
    ``keep must ...`` at the start -> ``--keep must ...``; ``hard_cutoff`` anywhere -> ``--hard-cutoff``
    (a name with an underscore is never an English word). Other words are left alone."""
    if not flags:
        return message
    names = "|".join(re.escape(n) for n in sorted(flags, key=len, reverse=True))
    value = r"""'[^']*'|"[^"]*"|[^\s,;()]+"""
    message = re.sub(rf"(?<![\w.-])({names})=({value})", lambda m: _as_typed(flags[m[1]], m[2]), message)
    message = re.sub(rf"^({names})(?= (?:must|applies) )", lambda m: flags[m[1]], message)
    snake = "|".join(re.escape(n) for n in sorted(flags, key=len, reverse=True) if "_" in n)
    if snake:
        message = re.sub(rf"(?<![\w./-])({snake})(?![\w/-])", lambda m: flags[m[1]], message)
    return message
