"""Which examples to keep: strategies over per-example scores (higher = harder = kept first)."""

from datadiet.selection.select import (
    STRATEGIES,
    STRATEGY_OPTIONS,
    ccs_allocate,
    ccs_strata,
    kept_per_class,
    noisy_recall,
    ranking_agreement,
    select,
    storage_report,
    strategy_options,
)

__all__ = [
    "STRATEGIES",
    "STRATEGY_OPTIONS",
    "ccs_allocate",
    "ccs_strata",
    "kept_per_class",
    "noisy_recall",
    "ranking_agreement",
    "select",
    "storage_report",
    "strategy_options",
]
