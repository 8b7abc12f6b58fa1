"""The sweep's setup in words: one line for headings and figure titles, the report's bullet list."""

from __future__ import annotations

import math

import pandas as pd

from datadiet.runs import to_jsonable
from datadiet.tables import environment, equal_steps, full_data_steps, scored_at, sole_value


def _full_steps(summary: dict, results: pd.DataFrame | None) -> int | None:
    """Optimiser steps of a full-data run: from the results when given, else from the config."""
    steps = full_data_steps(results)
    if steps is not None:
        return steps
    t = (summary.get("config") or {}).get("train") or {}
    if t.get("steps"):
        return int(t["steps"])
    n, epochs, batch = summary.get("num_train"), t.get("epochs"), t.get("batch_size")
    if n and epochs and batch:
        return int(epochs) * max(1, math.ceil(int(n) / int(batch)))
    return equal_steps(results)  # equal steps: every run, pruned or not, trains this many


def _budget_text(budget, summary: dict, results: pd.DataFrame | None, t: dict) -> str:
    if budget == "steps":
        steps = _full_steps(summary, results)
        many = f"{steps:,} steps, as many as full data" if steps else "as many steps as full data"
        return f"budget: equal steps (every subset trains {many})"
    if budget == "epochs":
        passes = (
            f"{t['epochs']} passes over itself"
            if t.get("epochs") and not t.get("steps")
            else "as many epochs as full data"
        )
        return f"budget: equal epochs (a subset trains {passes}: pruning saves compute)"
    return "budget unknown"


def describe_setup(summary: dict, results: pd.DataFrame | None = None) -> str:
    """The sweep's dataset, model, schedule and budget in one line, for table headings and figure titles.

    ``fashion-mnist, cnn, 8 epochs onecycle lr 0.05, budget: equal steps (every subset trains 3,752
    steps, as many as full data)``, or ``..., budget: equal epochs (a subset trains 8 passes over
    itself: pruning saves compute)``. ``summary`` is a sweep's ``summary.json``; without its
    training config (:func:`datadiet.tables.derive_summary`) the schedule is "schedule unknown".
    ``results``, when given, supplies the full-data step count from its ``steps`` column.
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
    if budget is None:
        budget = sole_value(results, "budget")
    parts.append(_budget_text(budget, summary, results, t))
    val = _validation(summary)
    if val:
        parts.append(f"validation {val['fraction']:g} held out")
    return ", ".join(parts)


def _validation(summary: dict) -> dict | None:
    """The summary's validation part (``dataset.validation``: fraction, seed, examples), or None."""
    val = (summary.get("dataset") or {}).get("validation")
    return val if isinstance(val, dict) and val.get("fraction") else None


def validation_line(summary: dict) -> str | None:
    """``validation: N examples held out of training (F, stratified, seed S); ...`` or None without one."""
    val = _validation(summary)
    if val is None:
        return None
    return (
        f"validation: {val.get('examples')} examples held out of training ({val['fraction']:g}, stratified, "
        f"seed {val.get('seed')}); choices are made on validation accuracy, test accuracy is reported"
    )


def scoring_line(summary: dict, results: pd.DataFrame) -> str | None:
    """How the methods scored (``scored_at`` column when present, else the config), or None if unknown."""
    cfg = summary.get("config") or {}
    t = cfg.get("train") or {}
    said = [f"{m} ({at})" for m, at in scored_at(results).items()]
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


def setup_bullets(summary: dict, results: pd.DataFrame) -> list[str]:
    """The report's list under its title: model and schedule, budget, scoring, seeds."""
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
    val = validation_line(summary)
    if val:
        lines.append(f"- {val}")
    seeds = cfg.get("seeds")
    lines.append(
        f"- {seeds if seeds is not None else 'unknown number of'} training seed(s) per cell"
        + (f"; {summary['num_train']} training examples" if summary.get("num_train") else "")
    )
    return lines + [""]


_ENVIRONMENT_LABELS = {"cpu": "CPU", "threads": "threads", "torch": "torch"}


def environment_line(results: pd.DataFrame) -> str | None:
    """``Measured with CPU ...; threads ...; torch ...`` from the results' machine columns, or None."""
    said = [f"{_ENVIRONMENT_LABELS[col]} {', '.join(vals)}" for col, vals in environment(results).items()]
    return ("Measured with " + "; ".join(said) + ".") if said else None
