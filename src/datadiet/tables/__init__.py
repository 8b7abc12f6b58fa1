"""Tables from a sweep's finished results rows: pure (DataFrames in, DataFrames and numbers out; no
files, no figures, no text). :mod:`datadiet.reports` writes them as markdown and :mod:`datadiet.plots`
draws them.

* :mod:`datadiet.tables.results` — the results rows: method order, full-data rows, seed statistics.
* :mod:`datadiet.tables.accuracy` — accuracy per (method, fraction), against full data and random,
  per class and per group.
* :mod:`datadiet.tables.compute` — examples processed, FLOPs, reuses to pay back scoring, the Pareto front.
* :mod:`datadiet.tables.choice` — the best candidate on validation accuracy (never on test accuracy).
"""

from datadiet.tables.accuracy import (
    accuracy_cells,
    accuracy_table,
    cell_seeds,
    class_changes,
    comparisons,
    fraction_points,
    subgroup_changes,
    subgroup_columns,
    worst_cell,
    worst_group_table,
)
from datadiet.tables.choice import best_on_validation, validation_ranking
from datadiet.tables.compute import (
    COST_COLUMNS,
    EPS,
    FLOPS_COLUMNS,
    amortisation,
    amortisation_ready,
    compute_points,
    cost_table,
    flops_points,
    pareto_front,
    pruned_flops_known,
    reuses_to_pay_back,
)
from datadiet.tables.results import (
    FULL_METHOD,
    METHOD_ORDER,
    check_results,
    class_count,
    derive_summary,
    environment,
    equal_steps,
    full_data_rows,
    full_data_steps,
    is_dynamic,
    method_key,
    method_order,
    middle_fraction,
    normalise,
    point_stats,
    scored_at,
    seed_stats,
    sole_value,
)

__all__ = [
    "COST_COLUMNS",
    "EPS",
    "FLOPS_COLUMNS",
    "FULL_METHOD",
    "METHOD_ORDER",
    "accuracy_cells",
    "accuracy_table",
    "amortisation",
    "amortisation_ready",
    "best_on_validation",
    "cell_seeds",
    "check_results",
    "class_changes",
    "class_count",
    "comparisons",
    "compute_points",
    "cost_table",
    "derive_summary",
    "environment",
    "equal_steps",
    "flops_points",
    "fraction_points",
    "full_data_rows",
    "full_data_steps",
    "is_dynamic",
    "method_key",
    "method_order",
    "middle_fraction",
    "normalise",
    "pareto_front",
    "point_stats",
    "pruned_flops_known",
    "reuses_to_pay_back",
    "scored_at",
    "seed_stats",
    "sole_value",
    "subgroup_changes",
    "subgroup_columns",
    "validation_ranking",
    "worst_cell",
    "worst_group_table",
]
