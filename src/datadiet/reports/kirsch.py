"""The report's Kirsch (2023) section: GraNd at initialisation against the input norm, in markdown.

Formats the sweep summary's ``grand_init_vs_input_norm`` entry (from
:func:`datadiet.tables.norm_correlation_summary`) and, beside it, the accuracy rows of GraNd at
initialisation, input-norm and random from :func:`datadiet.tables.comparisons`.
"""

from __future__ import annotations

import pandas as pd

from datadiet.reports.text import format_difference, format_stats, pct
from datadiet.tables import comparisons, method_key

HEADING = "GraNd at initialisation against the input norm (Kirsch 2023)"


def _rho(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _spread(entry: dict) -> str:
    if entry.get("init_mean") is None:
        return ""
    return f"{_rho(entry['init_mean'])} [{_rho(entry['init_min'])}, {_rho(entry['init_max'])}]"


def _claim(k: dict) -> str:
    """The sentence that states the measured rho and its range over initialisations."""
    n_init = k["initialisations"]
    head = (
        f"Spearman's ρ between `{k['method']}` (each example's GraNd score at initialisation, averaged over "
        f"{n_init} initialisation{'s' if n_init != 1 else ''}) and the input norm ‖x‖₂: "
        f"**ρ = {_rho(k['spearman'])}** over n = {k['n']} training examples"
    )
    if n_init >= 2 and k.get("init_mean") is not None:
        return (
            f"{head}; one initialisation's scores alone give ρ from {_rho(k['init_min'])} to "
            f"{_rho(k['init_max'])} (mean {_rho(k['init_mean'])}, {n_init} initialisations)."
        )
    return f"{head}. {n_init} initialisation: the spread over initialisations is not measured."


def _class_table(k: dict, names: list[str]) -> list[str]:
    lines = [
        "| class | n | ρ (averaged score) | ρ per initialisation: mean [min, max] |",
        "|---|---|---|---|",
        f"| all | {k['n']} | {_rho(k['spearman'])} | {_spread(k)} |",
    ]
    for label, e in k["per_class"].items():
        name = names[int(label)] if label.isdigit() and int(label) < len(names) else label
        lines.append(f"| {name} | {e['n']} | {_rho(e['spearman'])} | {_spread(e)} |")
    return lines


def _accuracy_rows(results: pd.DataFrame, grand: str) -> list[str]:
    comp = comparisons(results)
    keys = {method_key(grand): 0, "input-norm": 1, "random": 2}
    comp = comp[comp["method"].map(method_key).isin(keys)]
    if not len(comp):
        return []
    comp = comp.assign(_order=comp["method"].map(method_key).map(keys)).sort_values(["fraction_pruned", "_order"])
    lines = [
        f"Accuracy (%) of `{grand}`, input-norm and random after pruning (mean ± std over training seeds, "
        "n = seeds; vs random: difference of means in points):",
        "",
        "| pruned | method | accuracy (%) | vs random |",
        "|---|---|---|---|",
    ]
    for _, r in comp.iterrows():
        acc = format_stats(r["accuracy"], r["std"], r["seeds"])
        vr = format_difference(r["vs_random_points"], r["seeds"], r["random_seeds"])
        lines.append(f"| {pct(r['fraction_pruned'])} | {r['method']} | {acc} | {vr} |")
    return [*lines, ""]


def kirsch_markdown(summary: dict, results: pd.DataFrame, setup: str) -> list[str]:
    """The section (lines), or ``[]`` when the summary has no ``grand_init_vs_input_norm`` entry
    (the sweep scored no GraNd at initialisation)."""
    k = summary.get("grand_init_vs_input_norm")
    if not k:
        return []
    lines = [
        f"## {HEADING}: {setup}",
        "",
        "Kirsch (2023) found that GraNd at initialisation ranks examples almost like their input norm and "
        "prunes no better than random. " + _claim(k),
        "",
        *_class_table(k, list(summary.get("class_names") or [])),
        "",
    ]
    methods = {method_key(m) for m in results["method"].astype(str)}
    if "input-norm" not in methods:
        lines += ["`input-norm` was not among the sweep's methods: add it to compare its accuracy.", ""]
    return lines + _accuracy_rows(results, k["method"])
