"""The data-diet sweep and its report."""

from datadiet.sweep.report import comparisons, write_report
from datadiet.sweep.sweep import BUDGETS, Cell, SweepConfig, SweepResult, keep_indices, plan_cells, run_sweep

__all__ = [
    "BUDGETS",
    "Cell",
    "SweepConfig",
    "SweepResult",
    "comparisons",
    "keep_indices",
    "plan_cells",
    "run_sweep",
    "write_report",
]
