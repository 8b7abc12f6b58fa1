"""Figures and tables: score diagnostics and pruning-sweep comparisons (PNG, written atomically).

* :mod:`datadiet.plots.diagnostics` — one score table: per-class histograms, easiest/hardest
  images, score vs input norm (Kirsch 2023), seed agreement.
* :mod:`datadiet.plots.sweep` — a sweep results table: accuracy vs fraction pruned (Data Diet
  Figure 1), per-class change, compute dividend, accuracy vs total FLOPs with the Pareto front,
  accuracy table.
"""

from datadiet.plots.diagnostics import (
    extreme_examples,
    save_figure,
    score_histograms,
    score_vs_input_norm,
)
from datadiet.plots.sweep import (
    METHOD_STYLES,
    accuracy_table,
    accuracy_vs_flops,
    accuracy_vs_fraction,
    compute_dividend,
    flops_points,
    method_order,
    method_styles,
    pareto_front,
    per_class_change,
)

__all__ = [
    "METHOD_STYLES",
    "accuracy_table",
    "accuracy_vs_flops",
    "accuracy_vs_fraction",
    "compute_dividend",
    "extreme_examples",
    "flops_points",
    "method_order",
    "method_styles",
    "pareto_front",
    "per_class_change",
    "save_figure",
    "score_histograms",
    "score_vs_input_norm",
]
