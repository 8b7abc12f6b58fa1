"""``report.md`` for a sweep directory: read its results, draw its figures again if asked, write the text.

The tables come from :mod:`datadiet.tables`, the text from :mod:`datadiet.reports` and the figures
from :mod:`datadiet.plots` (drawn by :func:`datadiet.experiments.sweep.sweep_figures`); this module
only reads and writes the sweep directory's files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from datadiet.errors import DataDietError
from datadiet.experiments.sweep import sweep_figures
from datadiet.reports import report_markdown
from datadiet.runs import atomic_write_bytes, read_json
from datadiet.tables import derive_summary


def load_sweep(run_dir: str | Path) -> tuple[dict, pd.DataFrame]:
    """``(summary, results)`` of a sweep directory. A folder with ``results.parquet`` but no
    ``summary.json`` (older committed results) gets :func:`datadiet.tables.derive_summary`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataDietError(f"run directory not found: {run_dir}")
    summary_path, results_path = run_dir / "summary.json", run_dir / "results.parquet"
    if not results_path.exists():
        raise DataDietError(f"{run_dir} is not a finished sweep directory (no results.parquet)")
    try:
        results = pd.read_parquet(results_path)
    except Exception as e:
        raise DataDietError(f"cannot read {results_path}: {type(e).__name__}") from None
    for col in ("method", "fraction", "test_accuracy"):
        if col not in results.columns:
            raise DataDietError(f"{results_path} has no {col!r} column; it has {list(results.columns)}")
    summary = read_json(summary_path) if summary_path.exists() else derive_summary(results, run_dir)
    return summary, results


def write_report(run_dir: str | Path, *, redraw: bool = False) -> Path:
    """Write ``RUN_DIR/report.md`` (with ``redraw``, draw the figures again from the results first)."""
    run_dir = Path(run_dir)
    summary, results = load_sweep(run_dir)
    if redraw:
        summary["figures"] = sweep_figures(results, summary, run_dir)
    path = run_dir / "report.md"
    atomic_write_bytes(path, report_markdown(summary, results).encode())
    return path
