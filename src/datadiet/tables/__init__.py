"""Tables from a sweep's finished results rows: pure (DataFrames in, DataFrames and numbers out; no
files, no figures, no text). :mod:`datadiet.reports` writes them as markdown and :mod:`datadiet.plots`
draws them.

* :mod:`datadiet.tables.results` — the results rows: method order, full-data rows, seed statistics.
* :mod:`datadiet.tables.accuracy` — accuracy per (method, fraction), against full data and random,
  per class and per group.
* :mod:`datadiet.tables.compute` — examples processed, FLOPs, reuses to pay back scoring, the Pareto front.
* :mod:`datadiet.tables.verdicts` — the report's claims judged on per-seed accuracies (:mod:`datadiet.stats`).
* :mod:`datadiet.tables.kirsch` — a score's Spearman correlation with the input norm (GraNd at
  initialisation, Kirsch 2023), overall, per class and per initialisation.
* :mod:`datadiet.tables.seeds` — how the kept set moves with the number of score seeds and the score
  epoch (from a score run's per-seed scores, not from a sweep).
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
    pruning_shortfalls,
    reuses_to_pay_back,
)
from datadiet.tables.kirsch import norm_correlation, norm_correlation_summary
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
from datadiet.tables.seeds import cheapest_setting, closest_setting, epoch_stability, seed_stability
from datadiet.tables.verdicts import (
    VERDICT_COLUMNS,
    cell_verdict,
    pareto_verdict,
    seed_accuracies,
    sweep_claims,
    sweep_verdicts,
    verdict_records,
    verdict_table,
)

__all__ = [
    "seed_stability",
    "epoch_stability",
    "closest_setting",
    "cheapest_setting",
    "COST_COLUMNS",
    "EPS",
    "FLOPS_COLUMNS",
    "FULL_METHOD",
    "METHOD_ORDER",
    "VERDICT_COLUMNS",
    "accuracy_cells",
    "accuracy_table",
    "amortisation",
    "amortisation_ready",
    "best_on_validation",
    "cell_seeds",
    "cell_verdict",
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
    "norm_correlation",
    "norm_correlation_summary",
    "normalise",
    "pareto_front",
    "pareto_verdict",
    "point_stats",
    "pruned_flops_known",
    "pruning_shortfalls",
    "reuses_to_pay_back",
    "scored_at",
    "seed_accuracies",
    "seed_stats",
    "sole_value",
    "subgroup_changes",
    "subgroup_columns",
    "sweep_claims",
    "sweep_verdicts",
    "verdict_records",
    "verdict_table",
    "validation_ranking",
    "worst_cell",
    "worst_group_table",
]
