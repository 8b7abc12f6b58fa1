"""``report.md`` of ``datadiet reproduce``: each finding as the paper states it, what was measured, and
its verdict (from the summary's ``findings``, judged by :mod:`datadiet.stats`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from datadiet.reports.accuracy import accuracy_markdown
from datadiet.reports.setup import describe_setup
from datadiet.reports.text import format_mean_std
from datadiet.reports.verdicts import correlation_sentence, verdict_sentence, verdicts_intro
from datadiet.stats import ESTABLISHED, NOT_ESTABLISHED, REFUTED

#: finding -> (as the paper states it, where it is stated)
FINDINGS = {
    1: ("EL2N scores from early in training let a large fraction of the data be pruned with no loss of test "
        "accuracy when the pruned set trains for as many steps as the full data.", "Paul et al. 2021, Fig. 1"),
    2: ("The same pruning also holds when the pruned set trains for the same epochs (and saves compute).",
        "Paul et al. 2021; the practical use"),
    3: ("Pruning by EL2N beats random pruning.", "Paul et al. 2021, Fig. 1"),
    4: ("GraNd computed a few epochs into training gives useful pruning (beats random).", "Kirsch 2023"),
    5: ("GraNd at initialisation ranks examples much like their input norm.", "Kirsch 2023"),
    6: ("GraNd at initialisation, like the input norm, is no better than random pruning.", "Kirsch 2023"),
    7: ("The highest-scoring examples are often mislabeled.", "Paul et al. 2021, Sec. 5"),
    8: ("Scores from a few seeds, early in training, suffice.", "Paul et al. 2021 (EL2N averaged over runs, early)"),
    9: ("IMP does not find matching sparse networks at initialisation (k = 0), but does after some dense "
        "pre-training steps (rewinding to step k).", "Frankle et al. 2020; Paul et al. 2022, Sec. 1"),
    10: ("Holding the pre-training steps fixed, a small random subset of the data gives as good a rewind point "
         "for IMP as the full data.", "Paul et al. 2022, Sec. 3"),
    11: ("The more training examples are linearly mode connected from the rewind point, the better IMP does.",
         "Paul et al. 2022, Sec. 5"),
}  # fmt: skip


def _tally(findings: list[dict]) -> str:
    return ", ".join(f"{sum(f['verdict'] == v for f in findings)} {v}" for v in (ESTABLISHED, NOT_ESTABLISHED, REFUTED))


def _noise_lines(table: pd.DataFrame | None, summary: dict) -> list[str]:
    if table is None or not len(table):
        return []
    noise = summary.get("label_noise_setup") or {}
    flipped = int(table["flipped"].iloc[0])
    lines = [
        f"Labels flipped at random: {noise.get('rate', 0):.0%} of the training set ({flipped} examples). Share of them "
        f"among the top-scored {noise.get('top', 0.1):.0%} (chance: {noise.get('top', 0.1):.0%}), and cleanlab's "
        "`find_label_issues` on the mean probabilities of the same scoring models (in-sample, at the score epoch; "
        "cleanlab recommends out-of-sample probabilities, which cost K more trainings):",
        "",
        "| scores | flipped labels caught | precision | flagged |",
        "|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        prec = r.get("precision")
        flagged = r.get("flagged")
        lines.append(
            f"| {r['scores']} | {100 * r['recall']:.1f}% | {'' if pd.isna(prec) else f'{100 * prec:.1f}%'} | "
            f"{'' if pd.isna(flagged) else int(flagged)} |"
        )
    return lines + [""]


def _finding_lines(k: int, findings: list[dict], summary: dict, tables: dict) -> list[str]:
    text, where = FINDINGS[k]
    lines = [f"### {k}. {text}", "", f"*Stated in*: {where}.", ""]
    if k == 5 and summary.get("grand_init_vs_input_norm"):
        g = summary["grand_init_vs_input_norm"]
        lines += [
            f"Measured: Spearman's rho of GraNd at initialisation (mean of {g.get('initialisations')} "
            f"initialisations) with the input norm: {g.get('spearman'):.3f}; one initialisation alone: "
            f"{g.get('init_min'):.3f} to {g.get('init_max'):.3f} (the claim is judged on these).",
            "",
        ]
    if k == 7:
        lines += _noise_lines(tables.get("label_noise"), summary)
    if k == 8:
        lines += [f"Measured: {(summary.get('seeds_advice') or {}).get('sentence', 'not measured')}", ""]
    if k == 9 and summary.get("lottery_setup"):
        lines += [_lottery_setup(summary["lottery_setup"]), ""]
    lines += [
        f"- {correlation_sentence(f) if str(f.get('kind', '')).startswith('correlation') else verdict_sentence(pd.Series(f))}"
        for f in findings
        if f.get("finding") == k
    ]
    return lines + [""]


def _lottery_setup(lot: dict) -> str:
    t = lot["train"]
    chosen = f"k* = {lot['k_star']} fixed in advance, nothing chosen"
    return (
        f"Measured: MNIST-1D, {t['model']} (lr {t['lr']:g}, {t['schedule']} schedule, no warm-up), IMP at rate 0.2 "
        f"for {lot['levels']} levels ({100 * (1 - 0.8 ** lot['levels']):.1f}% of the weights pruned), "
        f"{lot['replicates']} replicates, rewind steps {', '.join(map(str, lot['gate_ks']))} ({chosen}); the deepest "
        "level is compared with the dense network trained from the same rewind point. The full lottery study "
        "(`datadiet study lottery`) adds a fine grid of steps, easy and hard subsets, and random baselines."
    )


def reproduce_markdown(summary: dict, tables: dict[str, pd.DataFrame]) -> str:
    """The reproduction's report: setup, the command, the findings with their verdicts, the tables."""
    results = tables["results"]
    setup = describe_setup(summary, results)
    findings = summary.get("findings") or []
    lines = [
        f"# Reproducing the data-diet findings ({summary.get('setting')})",
        "",
        f"**{setup}**",
        "",
        "Made by:",
        "",
        "```bash",
        str(summary.get("command")),
        "```",
        "",
        verdicts_intro(),
        "",
        f"{len(findings)} claims: {_tally(findings)}.",
        "",
        "## Findings",
        "",
    ]
    for k in FINDINGS:
        lines += _finding_lines(k, findings, summary, tables)
    lines += ["## Tables", "", accuracy_markdown(results, summary, heading="###")]
    steps = tables.get("equal_steps")
    if steps is not None and len(steps):
        full = steps[steps["fraction"] == 0].drop_duplicates("seed")["test_accuracy"]
        lines += [f"Equal steps: full data {format_mean_std(full)}; " + "; ".join(
            f"{m} at {f:.0%} pruned {format_mean_std(g['test_accuracy'])}"
            for (m, f), g in steps[steps["fraction"] > 0].groupby(["method", "fraction"])
        ) + ".", ""]  # fmt: skip
    for key, path in (summary.get("figures") or {}).items():
        lines += [f"![{key}]({Path(path).name})", ""]
    return "\n".join(lines)
