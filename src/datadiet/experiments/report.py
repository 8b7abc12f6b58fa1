"""``report.md`` for a sweep directory: the accuracy table, the figures, and plain checks.

Every accuracy is given as mean ± sample standard deviation (ddof=1) over training seeds with the
number of seeds, ``92.31 ± 0.14 (n=3)`` (one seed: ``92.74 (n=1)``, no ±), and every table heading
says the budget and the schedule (:func:`describe_setup`), so a table copied out of the report
still says what it measured.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.errors import DataDietError
from datadiet.plots.sweep import DYNAMIC_METHODS, FULL_METHOD, flops_points, full_data_rows, method_order
from datadiet.runs import atomic_write_bytes, read_json, to_jsonable

# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def derive_summary(results: pd.DataFrame, folder: str | Path | None = None) -> dict:
    """What a ``summary.json`` would say, from ``results.parquet`` alone (for folders without one).

    Only the budget (``budget`` column), the number of training seeds and of training examples are
    known; ``config["train"]`` is empty, so :func:`describe_setup` says "schedule unknown".
    """
    cfg: dict = {"train": {}}
    if "budget" in results.columns and results["budget"].nunique() == 1:
        cfg["budget"] = str(results["budget"].iloc[0])
    if "seed" in results.columns:
        cfg["seeds"] = int(results["seed"].nunique())
    full = results[results["fraction"] == 0] if "fraction" in results.columns else results.iloc[:0]
    num_train = int(full["train_size"].iloc[0]) if len(full) and "train_size" in full.columns else None
    return {
        "dataset": {"name": None},
        "class_names": [],
        "num_train": num_train,
        "config": cfg,
        "figures": {},
        "command": None,
        "derived_from_results": True,
        "folder": Path(folder).name if folder is not None else None,
    }


def load_sweep(run_dir: str | Path) -> tuple[dict, pd.DataFrame]:
    """``(summary, results)`` of a sweep directory. A folder with ``results.parquet`` but no
    ``summary.json`` (older committed results) gets :func:`derive_summary`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataDietError(f"run directory not found: {run_dir}")
    summary_path, results_path = run_dir / "summary.json", run_dir / "results.parquet"
    if not results_path.exists():
        raise DataDietError(f"{run_dir} is not a finished sweep directory (no results.parquet)")
    try:
        results = pd.read_parquet(results_path)
    except Exception as e:
        raise DataDietError(f"cannot read {results_path}: {type(e).__name__}") from None
    for col in ("method", "fraction", "test_accuracy"):
        if col not in results.columns:
            raise DataDietError(f"{results_path} has no {col!r} column; it has {list(results.columns)}")
    summary = read_json(summary_path) if summary_path.exists() else derive_summary(results, run_dir)
    return summary, results


# --------------------------------------------------------------------------------------------------
# The setup in one line, and mean ± std over seeds
# --------------------------------------------------------------------------------------------------


def _full_steps(summary: dict, results: pd.DataFrame | None) -> int | None:
    """Optimiser steps of a full-data run: from the results when given, else from the config."""
    if results is not None and "steps" in results.columns and "fraction" in results.columns:
        steps = pd.to_numeric(results.loc[results["fraction"] == 0, "steps"], errors="coerce").dropna()
        if len(steps):
            return int(steps.iloc[0])
    t = (summary.get("config") or {}).get("train") or {}
    if t.get("steps"):
        return int(t["steps"])
    n, epochs, batch = summary.get("num_train"), t.get("epochs"), t.get("batch_size")
    if n and epochs and batch:
        return int(epochs) * max(1, math.ceil(int(n) / int(batch)))
    if results is not None and "budget" in results.columns and "steps" in results.columns:
        steps = pd.to_numeric(results["steps"], errors="coerce").dropna()
        if (results["budget"] == "steps").all() and steps.nunique() == 1:
            return int(steps.iloc[0])  # equal steps: every run, pruned or not, trains this many
    return None


def describe_setup(summary: dict, results: pd.DataFrame | None = None) -> str:
    """The sweep's dataset, model, schedule and budget in one line, for table headings and figure titles.

    ``fashion-mnist, cnn, 8 epochs onecycle lr 0.05, budget: equal steps (every subset trains 3,752
    steps, as many as full data)``, or ``..., budget: equal epochs (a subset trains 8 passes over
    itself: pruning saves compute)``. ``summary`` is a sweep's ``summary.json``; without its
    training config (:func:`derive_summary`) the schedule is "schedule unknown". ``results``, when
    given, supplies the full-data step count from its ``steps`` column.
    """
    summary = to_jsonable(summary) if isinstance(summary, dict) else {}
    cfg = summary.get("config") or {}
    t = cfg.get("train") or {}
    name = (summary.get("dataset") or {}).get("name")
    parts = [name or (summary.get("folder") and f"{summary['folder']}") or "dataset unknown"]
    if t.get("model"):
        parts.append(str(t["model"]))
    if t.get("epochs") and t.get("schedule"):
        length = f"{t['steps']:,} steps" if t.get("steps") else f"{t['epochs']} epochs"
        lr = f" lr {t['lr']:g}" if isinstance(t.get("lr"), (int, float)) else ""
        parts.append(f"{length} {t['schedule']}{lr}")
    else:
        parts.append("schedule unknown")
    budget = cfg.get("budget")
    if budget is None and results is not None and "budget" in results.columns and results["budget"].nunique() == 1:
        budget = str(results["budget"].iloc[0])
    if budget == "steps":
        steps = _full_steps(summary, results)
        many = f"{steps:,} steps, as many as full data" if steps else "as many steps as full data"
        parts.append(f"budget: equal steps (every subset trains {many})")
    elif budget == "epochs":
        passes = (
            f"{t['epochs']} passes over itself"
            if t.get("epochs") and not t.get("steps")
            else "as many epochs as full data"
        )
        parts.append(f"budget: equal epochs (a subset trains {passes}: pruning saves compute)")
    else:
        parts.append("budget unknown")
    return ", ".join(parts)


def seed_stats(values) -> tuple[float, float, int]:
    """``(mean, std, n)`` of accuracies in [0, 1] over training seeds, std with ddof=1 (NaN for n=1)."""
    v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce").dropna(), dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def format_mean_std(values) -> str:
    """Accuracies in [0, 1] as percent: ``"92.31 ± 0.14 (n=3)"``; one seed: ``"92.74 (n=1)"``; none: ``""``."""
    mean, std, n = seed_stats(values)
    if n == 0:
        return ""
    if n == 1:
        return f"{100 * mean:.2f} (n=1)"
    return f"{100 * mean:.2f} ± {100 * std:.2f} (n={n})"


def format_difference(points: float, n: int, n_ref: int) -> str:
    """A difference of two means in percentage points with the seeds behind it: ``"+1.26 (n=2)"``,
    or ``"-0.22 (n=1 vs 2)"`` when the two means rest on different numbers of seeds."""
    if points is None or not np.isfinite(points):
        return ""
    return f"{points:+.2f} (n={n})" if n == n_ref else f"{points:+.2f} (n={n} vs {n_ref})"


def _pct(f: float) -> str:
    return f"{100 * f:g}%"


def _frac(results: pd.DataFrame) -> pd.DataFrame:
    df = results.copy()
    df["method"] = df["method"].astype(str)
    df["fraction"] = np.round(pd.to_numeric(df["fraction"], errors="coerce").astype(float), 6)
    return df


def accuracy_cells(results: pd.DataFrame) -> dict[str, dict[float, np.ndarray]]:
    """``{method: {fraction: test accuracies over seeds}}`` in display order; fraction 0 holds the
    pooled full-data runs (once per seed) under every method."""
    df = _frac(results)
    full = full_data_rows(df)["test_accuracy"].to_numpy(dtype=float)
    methods = method_order(m for m in df["method"].unique() if m != FULL_METHOD) or [FULL_METHOD]
    fracs = sorted(set(df["fraction"]))
    out: dict[str, dict[float, np.ndarray]] = {}
    for m in methods:
        out[m] = {}
        for f in fracs:
            vals = (
                full
                if f == 0
                else df.loc[(df["method"] == m) & (df["fraction"] == f), "test_accuracy"].to_numpy(dtype=float)
            )
            if len(vals):
                out[m][float(f)] = vals
    return out


def accuracy_markdown(results: pd.DataFrame, summary: dict, *, heading: str | None = "###") -> str:
    """The accuracy table (method × fraction pruned, mean ± std over seeds) as markdown, under a
    heading that says the setup (``heading=None``: a bold caption line instead)."""
    summary = to_jsonable(summary)
    cells = accuracy_cells(results)
    fracs = sorted({f for row in cells.values() for f in row})
    title = f"Test accuracy (%) by fraction pruned: {describe_setup(summary, results)}"
    scored = scoring_line(summary, results)
    lines = [
        f"{heading} {title}" if heading else f"**{title}**",
        "",
        "Mean ± std over training seeds (ddof=1); n = number of training seeds; 0% = full data."
        + (f" {scored[0].upper()}{scored[1:]}." if scored else ""),
        "",
        "| method | " + " | ".join(_pct(f) for f in fracs) + " |",
        "|---|" + "---|" * len(fracs),
    ]
    for m, row in cells.items():
        lines.append(f"| {m} | " + " | ".join(format_mean_std(row[f]) if f in row else "" for f in fracs) + " |")
    return "\n".join(lines) + "\n"


def comparisons(results: pd.DataFrame) -> pd.DataFrame:
    """Per (method, fraction > 0): mean accuracy, its std over seeds, its difference to full data and
    to random pruning (points), with the number of seeds behind each mean."""
    cells = accuracy_cells(results)
    df = _frac(results)
    full = full_data_rows(df)["test_accuracy"]
    full_mean, _, full_n = seed_stats(full)
    rows = []
    for m, row in cells.items():
        for f, vals in row.items():
            if f == 0:
                continue
            mean, std, n = seed_stats(vals)
            rnd = cells.get("random", {}).get(f)
            rnd_mean, _, rnd_n = seed_stats(rnd) if rnd is not None and m != "random" else (np.nan, np.nan, 0)
            rows.append(
                {
                    "method": m,
                    "fraction_pruned": f,
                    "accuracy": mean,
                    "std": std,
                    "seeds": n,
                    "vs_full_points": 100 * (mean - full_mean) if full_n else np.nan,
                    "full_seeds": full_n,
                    "vs_random_points": 100 * (mean - rnd_mean) if rnd_n else np.nan,
                    "random_seeds": rnd_n,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "method",
            "fraction_pruned",
            "accuracy",
            "std",
            "seeds",
            "vs_full_points",
            "full_seeds",
            "vs_random_points",
            "random_seeds",
        ],
    )


# --------------------------------------------------------------------------------------------------
# Amortisation: FLOPs, reuses to pay back scoring, the Pareto front
# --------------------------------------------------------------------------------------------------

FLOPS_COLUMNS = ("flops_vs_full", "train_flops", "scoring_flops")
_EPS = 1e-9  # float slack: 0.6 / (1 - 0.7) is 1.9999999999999996, and it means 2


def reuses_to_pay_back(scoring: float, train: float) -> float:
    """How many trainings on a pruned set it takes for its scoring to have paid for itself.

    ``scoring`` (S) is the cost of scoring and ``train`` (T) that of one training on the pruned set,
    both relative to one full-data training run. The answer is the smallest integer R >= 1 with
    S + R·T <= R (scoring plus R pruned trainings cost no more FLOPs than R full-data trainings),
    i.e. ``R = max(1, ceil(S / (1 - T)))``: 1 when S == 0 (no scoring: pays at once, as dynamic
    pruning does whenever it saves compute). When T >= 1 each reuse saves nothing, so it never pays
    back, even without scoring: ``inf``. Returned as a float (an integer value, or ``inf``).
    """
    s, t = float(scoring), float(train)
    if not (np.isfinite(s) and np.isfinite(t)) or s < 0 or t < 0:
        raise DataDietError(f"scoring and train costs must be finite and >= 0, got {scoring!r}, {train!r}")
    if t >= 1 - _EPS:
        return math.inf
    return float(max(1, math.ceil(s / (1 - t) - _EPS)))


def amortisation(results: pd.DataFrame) -> pd.DataFrame:
    """Per (method, fraction > 0): FLOPs relative to one full-data training, the accuracy change, and
    the number of reuses of the pruned set after which its scoring has paid for itself.

    Costs are relative to one full-data training run: each row's ``flops_vs_full`` is split into
    scoring and training by its share ``scoring_flops / (train_flops + scoring_flops)``, then
    averaged over seeds: ``scoring_vs_full`` (S), ``train_vs_full`` (T, one pruned training),
    ``flops_vs_full`` (S + T). ``reuses_to_pay_back`` is the smallest integer R >= 1 such that
    scoring + R pruned trainings cost no more than R full-data trainings, R = ceil(S / (1 - T));
    1 when S == 0 (random and dynamic pruning: pays at once); ``inf`` ("never") when T >= 1, as
    under an equal-steps budget (:func:`reuses_to_pay_back`). ``accuracy`` is the mean test
    accuracy over ``seeds`` seeds (in [0, 1]); ``vs_full_points`` its difference to the full-data
    mean in percentage points (``full_seeds`` seeds). ``pareto``: on the accuracy-vs-FLOPs Pareto
    front (:func:`datadiet.plots.sweep.flops_points`, full data included). Pruned rows without
    finite FLOPs (older tables) are left out; needs the columns of :data:`FLOPS_COLUMNS` and
    full-data rows.
    """
    if not isinstance(results, pd.DataFrame):
        raise DataDietError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    missing = [c for c in FLOPS_COLUMNS if c not in results.columns]
    if missing:
        raise DataDietError(f"results is missing column(s) {missing} needed for amortisation")
    pts = flops_points(results)
    full = pts.iloc[0]
    df = _frac(results)
    df = df[df["fraction"] > 0]
    fvf, tr, sc = (pd.to_numeric(df[c], errors="coerce").astype(float) for c in FLOPS_COLUMNS)
    total = tr + sc
    share = (sc / total.where(total > 0)).fillna(0.0)
    df = df.assign(scoring_vs_full=fvf * share, train_vs_full=fvf * (1 - share))[np.isfinite(fvf)]
    costs = df.groupby(["method", "fraction"])[["scoring_vs_full", "train_vs_full"]].mean()
    rows = []
    for _, p in pts.iloc[1:].iterrows():
        s, t = costs.loc[(p["method"], p["fraction"])]
        rows.append(
            {
                "method": p["method"],
                "fraction_pruned": float(p["fraction"]),
                "seeds": int(p["n"]),
                "flops_vs_full": float(p["flops_vs_full"]),
                "scoring_vs_full": float(s),
                "train_vs_full": float(t),
                "accuracy": float(p["accuracy"]),
                "vs_full_points": 100 * (float(p["accuracy"]) - float(full["accuracy"])),
                "full_seeds": int(full["n"]),
                "reuses_to_pay_back": reuses_to_pay_back(s, t),
                "pareto": bool(p["pareto"]),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "method",
            "fraction_pruned",
            "seeds",
            "flops_vs_full",
            "scoring_vs_full",
            "train_vs_full",
            "accuracy",
            "vs_full_points",
            "full_seeds",
            "reuses_to_pay_back",
            "pareto",
        ],
    )


CHEAP_FLOPS = 0.9  # "cheaper": at most this many times the FLOPs of one full-data training
NEAR_POINTS = 0.3  # "as good": within this many percentage points of full-data accuracy


def _reuses_text(r: float) -> str:
    return "never" if not np.isfinite(r) else f"{int(r)}"


def _point_text(r) -> str:
    return f"{_pct(r['fraction_pruned'])} pruned: {r['flops_vs_full']:.2f}x FLOPs, {r['vs_full_points']:+.2f} points"


def cheap_and_close_sentence(amort: pd.DataFrame) -> str:
    """One sentence from an :func:`amortisation` table: which methods reach <= 0.9x the FLOPs of
    full-data training within 0.3 points of its accuracy, or that none does and which point comes
    closest (the smallest accuracy drop among points at <= 0.9x; the cheapest point if none is)."""
    cheap = amort[amort["flops_vs_full"] <= CHEAP_FLOPS + _EPS]
    good = cheap[cheap["vs_full_points"] >= -NEAR_POINTS - _EPS]
    what = f"≤ {CHEAP_FLOPS:g}x the FLOPs of one full-data training (scoring included)"
    near = f"within {NEAR_POINTS:g} points of full-data accuracy"
    if len(good):
        said = [
            f"**{m}** (" + "; ".join(_point_text(r) for _, r in g.iterrows()) + ")"
            for m, g in good.groupby("method", sort=False)
        ]
        return f"At {what}, {near}: {', '.join(said)}."
    if len(cheap):
        best = cheap.loc[cheap["vs_full_points"].idxmax()]
        return f"No method reaches {what} {near}; the closest is **{best['method']}** at {_point_text(best)}."
    if len(amort) == 0:
        return f"No pruned point has FLOPs to compare, so no method reaches {what} {near}."
    best = amort.loc[amort["flops_vs_full"].idxmin()]
    return (
        f"No point costs {what}, so no method reaches it {near}; the cheapest is **{best['method']}** at "
        f"{_point_text(best)}."
    )


def amortisation_markdown(results: pd.DataFrame, setup: str, figure: str | None = None) -> list[str]:
    """The report's "Compute and amortisation" section (lines), or ``[]`` when the results have no
    FLOPs columns (older tables), no full-data rows or no pruned rows with FLOPs. ``figure``: the
    accuracy-vs-FLOPs figure's file, linked from the text when given."""
    if any(c not in results.columns for c in FLOPS_COLUMNS):
        return []
    df = _frac(results)
    if (
        not len(full_data_rows(df))
        or not pd.to_numeric(df.loc[df["fraction"] > 0, "flops_vs_full"], errors="coerce").notna().any()
    ):
        return []
    amort = amortisation(df)
    full = flops_points(df).iloc[0]
    dynamic = [m for m in amort["method"].unique() if m.lower() in DYNAMIC_METHODS]
    lines = [
        f"## Compute and amortisation (FLOPs, scoring included): {setup}",
        "",
        "FLOPs are relative to one full-data training run (mean over training seeds), scoring counted in full on "
        "every cell. A pruned set is reused (hyperparameter search, other architectures): *reuses to pay back* is "
        "the smallest R ≥ 1 for which scoring + R trainings on the pruned set cost no more FLOPs than R full-data "
        "trainings, R = ⌈S / (1 − T)⌉ with S = scoring and T = one pruned training; never when T ≥ 1. *Pareto*: "
        "no other point (full data included) is as cheap and as accurate, and better in one"
        + (f" (ringed in [the accuracy-vs-FLOPs figure]({Path(figure).name}))" if figure else "")
        + ". Accuracy changes are differences of means over training seeds."
        + (
            f" {', '.join(dynamic)}: dynamic pruning, no scoring; *pruned* is the training compute saved in expectation."
            if dynamic
            else ""
        ),
        "",
        cheap_and_close_sentence(amort),
        "",
        "| method | pruned | FLOPs vs full (scoring + training) | accuracy vs full (points) | reuses to pay back | Pareto |",
        "|---|---|---|---|---|---|",
        f"| full data | 0% | 1.00x (0.00 + 1.00) | 0 (reference, n={int(full['n'])}) | – | "
        f"{'yes' if full['pareto'] else 'no'} |",
    ]
    for _, r in amort.iterrows():
        lines.append(
            f"| {r['method']} | {_pct(r['fraction_pruned'])} | {r['flops_vs_full']:.2f}x "
            f"({r['scoring_vs_full']:.2f} + {r['train_vs_full']:.2f}) | "
            f"{format_difference(r['vs_full_points'], r['seeds'], r['full_seeds'])} | "
            f"{_reuses_text(r['reuses_to_pay_back'])} | {'yes' if r['pareto'] else 'no'} |"
        )
    return lines + [""]


# --------------------------------------------------------------------------------------------------
# report.md
# --------------------------------------------------------------------------------------------------

_CAPTIONS = {
    "accuracy": "Test accuracy vs fraction pruned (the data-diet paper's Figure 1).",
    "per_class": "Per-class accuracy change against full data: does the diet hurt one class?",
    "compute": "Compute dividend: total examples processed (scoring + training) relative to full training.",
    "pareto": "Accuracy vs total FLOPs (scoring included) relative to one full-data training; "
    "ringed points and the step line are the Pareto front.",
}


def scoring_line(summary: dict, results: pd.DataFrame) -> str | None:
    """How the methods scored (``scored_at`` column when present, else the config), or None if unknown."""
    cfg = summary.get("config") or {}
    t = cfg.get("train") or {}
    scored = None
    if "scored_at" in results.columns:
        rows = results.loc[pd.to_numeric(results["fraction"], errors="coerce") > 0, ["method", "scored_at"]]
        at = rows.fillna("").astype(str).drop_duplicates("method").set_index("method")["scored_at"]
        said = [f"{m} ({at[m].strip()})" for m in method_order(at.index) if at[m].strip()]
        scored = ("scored: " + ", ".join(said)) if said else None
    if scored is None and "score_epoch" in cfg:
        scored = f"scores at epoch {cfg['score_epoch']} of {t.get('epochs')}"
    if scored is None:
        return None
    how = []
    if cfg.get("score_model") is not None or cfg.get("score_width") is not None:
        model = cfg.get("score_model") or t.get("model")
        width = cfg.get("score_width")
        width = width if width is not None else (1.0 if model != t.get("model") else t.get("width"))
        how.append(f"scoring model `{model}` (width {width}), a proxy for the trained `{t.get('model')}`")
    if cfg.get("score_seeds") is not None:
        n = cfg["score_seeds"]
        how.append(f"averaged over {n} initialisation{'s' if n != 1 else ''}")
    if cfg.get("strategy"):
        how.append(
            f"strategy `{cfg['strategy']}`"
            + (f", offset {cfg.get('offset')}" if cfg["strategy"] == "window" else "")
            + (", class-balanced" if cfg.get("balanced") else "")
        )
    return scored + (f"; {'; '.join(how)}" if how else "")


def _setup_bullets(summary: dict, results: pd.DataFrame) -> list[str]:
    cfg = summary.get("config") or {}
    t = cfg.get("train") or {}
    lines = []
    if t:
        aug = t.get("augment")
        lines.append(
            f"- model `{t.get('model')}` (width {t.get('width')}), {t.get('epochs')} epochs, batch {t.get('batch_size')}, "
            f"lr {t.get('lr')} ({t.get('schedule')}), augment {'dataset default' if aug is None else aug}"
        )
    else:
        lines.append("- no summary.json: model, schedule and scoring settings unknown (derived from results.parquet)")
    budget = cfg.get("budget")
    if budget:
        lines.append(
            f"- budget **{budget}** ("
            + (
                "every subset trains as many steps as the full data"
                if budget == "steps"
                else "every subset trains the same number of epochs, so pruning saves compute"
            )
            + ")"
        )
    scored = scoring_line(summary, results)
    if scored:
        lines.append(f"- {scored}")
    seeds = cfg.get("seeds")
    lines.append(
        f"- {seeds if seeds is not None else 'unknown number of'} training seed(s) per cell"
        + (f"; {summary['num_train']} training examples" if summary.get("num_train") else "")
    )
    return lines + [""]


def _environment_line(results: pd.DataFrame) -> str | None:
    said = []
    for col, label in (("cpu", "CPU"), ("threads", "threads"), ("torch", "torch")):
        if col in results.columns:
            vals = [str(v) for v in pd.unique(results[col].dropna()) if str(v).strip()]
            if vals:
                said.append(f"{label} {', '.join(vals)}")
    return ("Measured with " + "; ".join(said) + ".") if said else None


def _columns(df: pd.DataFrame, kind: str) -> list[str]:
    """``class_K_accuracy`` or ``group_K_accuracy`` columns, by K."""
    cols = [c for c in df.columns if c.startswith(f"{kind}_") and c.endswith("_accuracy") and c.split("_")[1].isdigit()]
    return sorted(cols, key=lambda c: int(c.split("_")[1]))


def subgroup_changes(df: pd.DataFrame, kind: str, target: float) -> pd.DataFrame:
    """Per method at ``target`` pruned: the change of each class's (``kind="class"``) or group's
    accuracy against full data, in points (differences of means over seeds); columns by K."""
    cols = _columns(df, kind)
    full = full_data_rows(df)[cols].astype(float).mean()
    out = {}
    for m in method_order(df.loc[df["fraction"] == target, "method"].unique()):
        sub = df[(df["method"] == m) & (df["fraction"] == target)]
        out[m] = 100 * (sub[cols].astype(float).mean() - full)
    return pd.DataFrame(out).T.rename(columns=lambda c: int(c.split("_")[1]))


def _change_lines(df: pd.DataFrame, kind: str, names: list[str], target: float, setup: str, full_n: int) -> list[str]:
    if not _columns(df, kind):
        return []
    changes = subgroup_changes(df, kind, target)

    def name(k: int) -> str:
        return names[k] if k < len(names) else f"{kind} {k}"

    lines = [
        f"## Per-{kind} accuracy change at {_pct(target)} pruned (points): {setup}",
        "",
        f"Differences of means over training seeds; full data n={full_n}.",
        "",
        "| method | " + " | ".join(name(k) for k in changes.columns) + " | worst |",
        "|---|" + "---|" * (len(changes.columns) + 1),
    ]
    for m, d in changes.iterrows():
        n = int(((df["method"] == m) & (df["fraction"] == target)).sum())
        lines.append(
            f"| {m} (n={n}) | " + " | ".join(f"{v:+.1f}" for v in d) + f" | {name(d.idxmin())} ({d.min():+.1f}) |"
        )
    return lines + [""]


def _group_lines(df: pd.DataFrame, summary: dict, target: float, setup: str, full_n: int) -> list[str]:
    """Who pays beyond classes: the per-group table, the worst group named, worst-group accuracy."""
    if not _columns(df, "group"):
        return []
    names = list(summary.get("group_names") or [])
    lines = _change_lines(df, "group", names, target, setup, full_n)
    changes = subgroup_changes(df, "group", target)
    m, k = changes.stack().idxmin()
    gname = names[k] if k < len(names) else f"group {k}"
    grouping = summary.get("groups")
    lines[0] += f" (groups: {grouping})" if grouping else ""
    lines[-1:-1] = [
        "",
        f"**Worst group**: {gname}, which loses {changes.loc[m, k]:+.1f} points under {m} at {_pct(target)} pruned.",
    ]
    if "worst_group_accuracy" in df.columns:
        full_w = full_data_rows(df)["worst_group_accuracy"]
        lines += [
            f"Worst-group test accuracy (%), the accuracy of each run's weakest group (full data: "
            f"{format_mean_std(full_w)}):",
            "",
            "| method | pruned | worst-group accuracy (%) | vs full (points) |",
            "|---|---|---|---|",
        ]
        for mm in method_order(df["method"].unique()):
            for f in sorted(df.loc[(df["method"] == mm) & (df["fraction"] > 0), "fraction"].unique()):
                w = df[(df["method"] == mm) & (df["fraction"] == f)]["worst_group_accuracy"]
                lines.append(f"| {mm} | {_pct(f)} | {format_mean_std(w)} | {100 * (w.mean() - full_w.mean()):+.2f} |")
        lines.append("")
    return lines


def report_markdown(summary: dict, results: pd.DataFrame) -> str:
    """The text of ``report.md`` for a sweep's ``summary`` and ``results``."""
    summary = to_jsonable(summary)
    setup = describe_setup(summary, results)
    df = _frac(results)
    names = list(summary.get("class_names") or [])
    full = full_data_rows(df)["test_accuracy"]
    title = (summary.get("dataset") or {}).get("name") or summary.get("folder") or "unknown dataset"
    lines = [f"# Data-diet sweep: {title}", "", f"**{setup}**", ""]
    if summary.get("command"):
        lines += ["Made by:", "", "```bash", summary["command"], "```", ""]
    lines += _setup_bullets(summary, df)
    if len(full):
        lines += [f"**Full-data test accuracy (%): {format_mean_std(full)}** (mean ± std over training seeds)", ""]
    lines += [accuracy_markdown(df, summary, heading="##")]
    comp = comparisons(df)
    if len(comp):
        lines += [
            f"## Against full data and random pruning (percentage points): {setup}",
            "",
            "Accuracy: mean ± std over training seeds. Differences are between means; n = the training "
            "seeds behind the method's mean (and the reference's, when they differ).",
            "",
            "| method | pruned | accuracy (%) | vs full | vs random |",
            "|---|---|---|---|---|",
        ]
        cells = accuracy_cells(df)
        for _, r in comp.iterrows():
            acc = format_mean_std(cells[r["method"]][r["fraction_pruned"]])
            vf = format_difference(r["vs_full_points"], r["seeds"], r["full_seeds"])
            vr = format_difference(r["vs_random_points"], r["seeds"], r["random_seeds"])
            lines.append(f"| {r['method']} | {_pct(r['fraction_pruned'])} | {acc} | {vf} | {vr} |")
        lines.append("")
    figs = summary.get("figures") or {}
    if figs:
        lines += ["## Figures", ""]
        for key in sorted(figs, key=lambda k: list(_CAPTIONS).index(k) if k in _CAPTIONS else len(_CAPTIONS)):
            lines += [f"{_CAPTIONS.get(key, key)}", "", f"![{key}]({Path(figs[key]).name})", ""]
    pruned = sorted(f for f in df["fraction"].unique() if f > 0)
    if pruned and len(full):
        target = min(pruned, key=lambda f: abs(f - 0.5))
        lines += _change_lines(df, "class", names, target, setup, len(full))
        lines += _group_lines(df, summary, target, setup, len(full))
    cost_cols = ["scoring_examples", "train_examples", "scoring_seconds", "train_seconds"]
    if len(full) and all(c in df.columns for c in cost_cols):
        cost = df.groupby(["method", "fraction"])[cost_cols].mean()
        full_rows = full_data_rows(df)
        full_ex, full_s = full_rows["train_examples"].mean(), full_rows["train_seconds"].mean()
        env = _environment_line(df)
        lines += [
            f"## Compute (mean per training run; scoring counted once per method): {setup}",
            "",
            "Seconds are wall-clock on the machine that ran the sweep, and rise when other work shares its cores; "
            "examples processed do not." + (f" {env}" if env else ""),
            "",
            "| method | pruned | scoring examples | training examples | total vs full | seconds (score + train) |",
            "|---|---|---|---|---|---|",
        ]
        order = {m: i for i, m in enumerate(method_order(cost.index.get_level_values(0)))}
        for (m, f), r in sorted(cost.iterrows(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
            if f == 0:
                continue
            total = (r["scoring_examples"] + r["train_examples"]) / full_ex
            lines.append(
                f"| {m} | {_pct(f)} | {r['scoring_examples']:,.0f} | {r['train_examples']:,.0f} | {total:.2f}x | "
                f"{r['scoring_seconds']:.0f} + {r['train_seconds']:.0f} (full: {full_s:.0f}) |"
            )
        lines.append("")
    lines += amortisation_markdown(df, setup, figs.get("pareto"))
    return "\n".join(lines)


def write_report(run_dir: str | Path, *, redraw: bool = False) -> Path:
    """Write ``RUN_DIR/report.md`` (with ``redraw``, draw the figures again from the results first)."""
    run_dir = Path(run_dir)
    summary, results = load_sweep(run_dir)
    if redraw:
        from datadiet.experiments.sweep import sweep_figures

        summary["figures"] = sweep_figures(results, summary, run_dir)
    path = run_dir / "report.md"
    atomic_write_bytes(path, report_markdown(summary, results).encode())
    return path
