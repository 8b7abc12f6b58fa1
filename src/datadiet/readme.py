"""Regenerate the results blocks of README.md from the committed ``results/*`` sweeps.

    python -m datadiet.readme            # rewrite every block in README.md in place
    python -m datadiet.readme --check    # exit 1, saying which block differs, when README.md is stale

A block is the text between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``; :data:`BLOCKS`
says what each NAME is made from. Numbers come from ``results.parquet`` (+ ``summary.json`` when
the folder has one; without it the budget comes from the ``budget`` column and the schedule is
"schedule unknown"), computed by :mod:`datadiet.tables` and written by :mod:`datadiet.reports`, so the
README and every ``report.md`` say the same thing.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.errors import DataDietError
from datadiet.experiments.studies.diet import AGREEMENT_KEEP, VARIANT_FRACTION
from datadiet.experiments.studies.lottery import load_study
from datadiet.experiments.sweep import load_sweep
from datadiet.reports import (
    accuracy_markdown,
    amortisation_markdown,
    describe_setup,
    format_mean_std,
    interval_text,
    verdict_cell,
    verdict_sentence,
)
from datadiet.reports.diet_study import variants_markdown
from datadiet.reports.lottery_study import study_markdown
from datadiet.reports.sweep import report_margin
from datadiet.reports.verdicts import verdict_word
from datadiet.runs import atomic_write_bytes
from datadiet.stats import DEFAULT_MARGIN
from datadiet.tables import accuracy_cells, cell_verdict, sweep_verdicts

DISPLAY_NAMES = {"el2n": "EL2N", "grand": "GraNd", "random": "random", "forgetting": "forgetting", "aum": "AUM"}


def _link(folder: str) -> str:
    return f"[`{folder}`]({folder}/report.md)"


def _at(cells: dict, method: str, fraction: float, folder: str) -> np.ndarray:
    try:
        return cells[method][fraction]
    except KeyError:
        raise DataDietError(f"{folder} has no {method} rows at fraction {fraction:g}") from None


def headline_block(
    root: Path,
    *,
    columns: dict[str, str],
    method: str = "el2n",
    fraction: float = 0.5,
    margin: float | None = None,
    target_column: str | None = None,
) -> str:
    """``method`` at ``fraction`` pruned against full data and random, one column per results folder
    (``columns``: column title -> folder), rows full data / method / random / the paired differences
    with their 90% intervals and verdicts (:func:`datadiet.tables.sweep_verdicts`).

    With ``margin`` and ``target_column``: a closing sentence with the verdict, in that column, on
    "``method`` matches full data within ``margin`` points" (established only when its interval says so).
    """
    name = DISPLAY_NAMES.get(method, method)
    heads, setups, full, meth, rnd, vs_full, vs_rnd, links = [], [], [], [], [], [], [], []
    targets = {}
    for title, folder in columns.items():
        summary, results = load_sweep(root / folder)
        cells = accuracy_cells(results)
        f_vals = _at(cells, method, 0.0, folder)
        m_vals = _at(cells, method, fraction, folder)
        r_vals = _at(cells, "random", fraction, folder)
        verdicts = sweep_verdicts(results, margin=margin or DEFAULT_MARGIN)
        heads.append(title)
        setups.append(describe_setup(summary, results))
        full.append(format_mean_std(f_vals))
        meth.append(format_mean_std(m_vals))
        rnd.append(format_mean_std(r_vals))
        targets[title] = cell_verdict(verdicts, method, fraction, "full")
        vs_full.append(verdict_cell(targets[title]))
        vs_rnd.append(verdict_cell(cell_verdict(verdicts, method, fraction, "random")))
        links.append(_link(folder))
    pct = f"{100 * fraction:g}%"
    lines = [
        f"**{name} at {pct} pruned against full data and random pruning: test accuracy (%), "
        "mean ± std over training seeds (n = seeds); differences paired by seed, in points, with their 90% "
        "intervals and verdicts**",
        "",
        "| | " + " | ".join(heads) + " |",
        "|---|" + "---|" * len(heads),
        "| setup | " + " | ".join(setups) + " |",
        "| full data | " + " | ".join(full) + " |",
        f"| {name}, {pct} pruned | " + " | ".join(meth) + " |",
        f"| random, {pct} pruned | " + " | ".join(rnd) + " |",
        f"| {name} vs full: matches? | " + " | ".join(vs_full) + " |",
        f"| {name} vs random: beats? | " + " | ".join(vs_rnd) + " |",
        "| report | " + " | ".join(links) + " |",
    ]
    if margin is not None and targets.get(target_column) is not None:
        label = target_column.split(" (")[0]
        lines += ["", f"Target at {label}: {verdict_sentence(targets[target_column])}"]
    return "\n".join(lines) + "\n"


def table_block(root: Path, folder: str) -> str:
    """The accuracy table (method × fraction pruned, mean ± std over seeds) of one results folder."""
    summary, results = load_sweep(root / folder)
    return accuracy_markdown(results, summary, heading=None) + f"\nReport and figures: {_link(folder)}\n"


def label_noise_block(root: Path, folder: str) -> str:
    """How many flipped labels each method's top-scored 10% catches, from the score runs' summary.json."""
    rows = []
    for path in sorted((root / folder).glob("*.json")):
        s = json.loads(path.read_text())
        if "noisy_recall_top10" not in s:
            raise DataDietError(f"{path} has no noisy_recall_top10 (not a score run on label-noised data)")
        pairwise = s["seed_agreement"]["pairwise"]
        rows.append(
            (
                -s["noisy_recall_top10"],
                DISPLAY_NAMES.get(s["method"], s["method"]),
                s["scored_at"],
                f"{100 * s['noisy_recall_top10']:.1f}%",
                f"{pairwise:.2f}",
                len(s["seeds"]),
            )
        )
    if not rows:
        raise DataDietError(f"{folder} holds no score summaries")
    lines = [
        "| method | scored | flipped labels in the top-scored 10% | pairwise Spearman between seeds | seeds |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {name} | {when} | {recall} | {rho} | {k} |" for _, name, when, recall, rho, k in sorted(rows)]
    return "\n".join(lines) + "\n"


def lottery_block(root: Path, folder: str) -> str:
    """The lottery study's tables and answers (:func:`datadiet.reports.lottery_study.study_markdown`)."""
    if not (root / folder / "lottery.parquet").exists():
        raise DataDietError(f"{folder} has no lottery.parquet (run datadiet study lottery)")
    return study_markdown(*load_study(root / folder)) + f"\nReport and figures: {_link(folder)}\n"


def diet_block(root: Path, folder: str) -> str:
    """The diet study (:mod:`datadiet.experiments.studies.diet`): the verdict, every cell's FLOPs and
    accuracy with the reuses to pay back, and the cheaper-scoring table."""
    path = root / folder
    if not (path / "scoring_variants.parquet").exists():
        raise DataDietError(f"{folder} has no scoring_variants.parquet (run datadiet study diet)")
    summary, results = load_sweep(path)
    setup = describe_setup(summary, results)
    agreement = pd.read_parquet(path / "scoring_variants.parquet")
    cells = pd.read_parquet(path / "scoring_variant_cells.parquet")
    lines = [accuracy_markdown(results, summary, heading=None).rstrip("\n"), ""]
    verdicts = sweep_verdicts(results, margin=report_margin(summary))
    lines += amortisation_markdown(
        results, setup, verdicts=verdicts, margin=report_margin(summary)
    ) + variants_markdown(agreement, cells, setup, fraction=VARIANT_FRACTION, keep=AGREEMENT_KEEP)
    lines = [f"**{line[3:]}**" if line.startswith("## ") else line for line in lines]  # captions, as in every block
    text = "\n".join(lines).replace("](accuracy_vs_flops.png)", f"]({folder}/accuracy_vs_flops.png)")
    return text.rstrip("\n") + f"\n\nReport and figures: {_link(folder)}\n"


def reproduce_block(root: Path, folder: str) -> str:
    """The findings of ``datadiet reproduce``: one row per claim with its verdict and interval."""
    path = root / folder / "summary.json"
    if not path.exists():
        raise DataDietError(f"{folder} has no summary.json (run datadiet reproduce)")
    summary = json.loads(path.read_text())
    lines = [
        "| finding | claim | verdict | difference in points (finding 11: Spearman's rho) [90% CI], n |",
        "|---|---|---|---|",
    ]
    for f in sorted(summary["findings"], key=lambda f: f["finding"]):
        row = pd.Series(f)
        lines.append(f"| {f['finding']} | {f['claim']} | {verdict_word(row)} | {interval_text(row)}, n = {f['n']} |")
    advice = (summary.get("seeds_advice") or {}).get("sentence")
    if advice:
        lines += ["", f"Seeds and epochs (finding 8): {advice}"]
    return "\n".join(lines) + f"\n\nReport and figures: {_link(folder)}\n"


#: NAME -> function of the repository root that makes the block's text.
BLOCKS: dict[str, Callable[[Path], str]] = {
    "headline": partial(
        headline_block,
        columns={
            "equal steps (the paper's comparison)": "results/fashion-mnist-steps",
            "equal epochs (pruning saves compute)": "results/fashion-mnist-epochs",
        },
        method="el2n",
        fraction=0.5,
        margin=0.3,
        target_column="equal steps (the paper's comparison)",
    ),
    "reproduce-quick": partial(reproduce_block, folder="results/reproduce-quick"),
    "reproduce": partial(reproduce_block, folder="results/reproduce"),
    "diet-fashion-mnist": partial(diet_block, folder="results/fashion-mnist-diet"),
    "fashion-mnist-epochs": partial(table_block, folder="results/fashion-mnist-epochs"),
    "fashion-mnist-steps": partial(table_block, folder="results/fashion-mnist-steps"),
    "digits-label-noise": partial(label_noise_block, folder="results/digits-label-noise"),
    "lottery-mnist1d": partial(lottery_block, folder="results/lottery-mnist1d"),
}

# markers stand on lines of their own (so prose can mention them in backticks)
_BLOCK = re.compile(r"^(<!-- results:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)^(<!-- /results:(?P=name) -->)$", re.S | re.M)
_OPEN = re.compile(r"^<!-- results:([\w.-]+) -->$", re.M)


def render(
    text: str, root: Path, blocks: dict[str, Callable[[Path], str]] | None = None
) -> tuple[str, dict[str, tuple[str, str]]]:
    """``(new README text, {name: (old body, new body)})`` with every marker block regenerated."""
    blocks = BLOCKS if blocks is None else blocks
    opened = _OPEN.findall(text)
    found = [m.group("name") for m in _BLOCK.finditer(text)]
    if sorted(opened) != sorted(found):
        unclosed = sorted(set(opened) - set(found)) or opened
        raise DataDietError(f"README block(s) {', '.join(unclosed)} have no closing <!-- /results:NAME --> marker")
    unknown = [n for n in found if n not in blocks]
    if unknown:
        raise DataDietError(
            f"README has block(s) {', '.join(unknown)} that datadiet.readme does not know; known: {', '.join(blocks)}"
        )
    changes: dict[str, tuple[str, str]] = {}

    def repl(m: re.Match) -> str:
        new = blocks[m.group("name")](root)
        changes[m.group("name")] = (m.group("body"), new)
        return m.group(1) + new + m.group(4)

    return _BLOCK.sub(repl, text), changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datadiet.readme", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when README.md is stale")
    parser.add_argument("--root", default=".", help="repository root holding README.md and results/ (default: .)")
    parser.add_argument("--readme", default=None, help="the README to update (default: ROOT/README.md)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    readme = Path(args.readme) if args.readme else root / "README.md"
    try:
        if not readme.exists():
            raise DataDietError(f"README not found: {readme}")
        text = readme.read_text()
        new, changes = render(text, root)
    except DataDietError as e:
        print(f"datadiet.readme: error: {e}", file=sys.stderr)
        return 2
    missing = [n for n in BLOCKS if n not in changes]
    for n in missing:
        print(
            f"datadiet.readme: warning: {readme} has no block {n!r} (<!-- results:{n} --> ... <!-- /results:{n} -->)",
            file=sys.stderr,
        )
    stale = [n for n, (old, fresh) in changes.items() if old != fresh]
    if args.check:
        if not stale:
            print(f"{readme}: {len(changes)} results block(s) up to date")
            return 0
        for n in stale:
            old, fresh = changes[n]
            print(f"{readme}: block {n!r} is stale; run python -m datadiet.readme")
            for line in difflib.unified_diff(
                old.splitlines(), fresh.splitlines(), f"{readme} ({n})", f"generated ({n})", n=0, lineterm=""
            ):
                print(line)
        return 1
    if new != text:
        atomic_write_bytes(readme, new.encode())
    print(
        f"{readme}: {len(stale)} of {len(changes)} results block(s) rewritten"
        if stale
        else f"{readme}: {len(changes)} results block(s) up to date"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
