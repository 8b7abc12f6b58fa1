"""Markdown from finished tables: the report's sections, table headings that say the setup, verdict
sentences. Built from :mod:`datadiet.tables` (no result is computed here, nothing is drawn or written).

Every accuracy is given as mean ± sample standard deviation (ddof=1) over training seeds with the
number of seeds, ``92.31 ± 0.14 (n=3)`` (one seed: ``92.74 (n=1)``, no ±), and every table heading
says the budget and the schedule (:func:`describe_setup`), so a table copied out of the report
still says what it measured.
"""

from datadiet.reports.accuracy import accuracy_markdown, comparisons_markdown
from datadiet.reports.compute import (
    CHEAP_FLOPS,
    amortisation_markdown,
    cheap_and_close_sentence,
    cost_markdown,
)
from datadiet.reports.groups import change_lines, group_lines
from datadiet.reports.kirsch import kirsch_markdown
from datadiet.reports.seeds import seeds_sentence, seeds_sentences
from datadiet.reports.setup import describe_setup, environment_line, scoring_line, setup_bullets
from datadiet.reports.sweep import CAPTIONS, figures_markdown, report_markdown
from datadiet.reports.text import format_difference, format_mean_std, format_stats, pct
from datadiet.reports.verdicts import interval_text, verdict_cell, verdict_sentence, verdicts_markdown

__all__ = [
    "seeds_sentence",
    "seeds_sentences",
    "CAPTIONS",
    "CHEAP_FLOPS",
    "accuracy_markdown",
    "amortisation_markdown",
    "change_lines",
    "cheap_and_close_sentence",
    "comparisons_markdown",
    "cost_markdown",
    "describe_setup",
    "environment_line",
    "figures_markdown",
    "format_difference",
    "format_mean_std",
    "format_stats",
    "group_lines",
    "interval_text",
    "kirsch_markdown",
    "pct",
    "report_markdown",
    "scoring_line",
    "setup_bullets",
    "verdict_cell",
    "verdict_sentence",
    "verdicts_markdown",
]
