"""Which examples to keep: strategies over per-example scores (higher = harder = kept first)."""

from datadiet.selection.select import (
    STRATEGIES,
    ccs_allocate,
    ccs_strata,
    kept_per_class,
    noisy_recall,
    select,
    storage_report,
)

__all__ = ["STRATEGIES", "ccs_allocate", "ccs_strata", "kept_per_class", "noisy_recall", "select", "storage_report"]
