"""Figures (PNG, written atomically): score diagnostics and pruning-sweep comparisons.

* :mod:`datadiet.plots.diagnostics` — one score table: per-class histograms, easiest/hardest
  images, score vs input norm (Kirsch 2023), seed agreement.
* :mod:`datadiet.plots.sweep` — a sweep's tables (:mod:`datadiet.tables`): accuracy vs fraction
  pruned (Data Diet Figure 1), per-class change, compute dividend, accuracy vs total FLOPs with the
  Pareto front. The figures draw finished tables and compute none.
"""

from datadiet.plots.diagnostics import (
    extreme_examples,
    save_figure,
    score_histograms,
    score_vs_input_norm,
)
from datadiet.plots.sweep import (
    METHOD_STYLES,
    accuracy_vs_flops,
    accuracy_vs_fraction,
    compute_dividend,
    method_styles,
    per_class_change,
)

__all__ = [
    "METHOD_STYLES",
    "accuracy_vs_flops",
    "accuracy_vs_fraction",
    "compute_dividend",
    "extreme_examples",
    "method_styles",
    "per_class_change",
    "save_figure",
    "score_histograms",
    "score_vs_input_norm",
]
