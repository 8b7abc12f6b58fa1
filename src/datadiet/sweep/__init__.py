"""The data-diet sweep and its report."""

from datadiet.sweep.report import comparisons, write_report
from datadiet.sweep.sweep import BUDGETS, SweepConfig, SweepResult, run_sweep

__all__ = ["BUDGETS", "SweepConfig", "SweepResult", "comparisons", "run_sweep", "write_report"]
