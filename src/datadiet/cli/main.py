"""``datadiet`` command line. Every command takes ``--json`` (one JSON object, last stdout line).

Bad input prints one line on stderr and exits 2.
"""

from __future__ import annotations

import shlex
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from datadiet.cli.common import emit_json, multi_progress, progress_bar, stdout
from datadiet.cli.options import (
    DATA,
    LMC,
    LOCAL,
    LOTTERY,
    RUN,
    SCORE_SEEDS,
    SELECT,
    SWEEP,
    TRAIN,
    TRAIN_ALL,
    UNGROUPED_DATA,
    DataOptions,
    Where,
    options,
)
from datadiet.defaults import DEFAULT_SCORE_EPOCH
from datadiet.errors import DataDietError
from datadiet.experiments import ScoreConfig, SweepConfig, run_sweep, train_in_run_dir
from datadiet.experiments.lottery import LmcConfig, LotteryConfig, lmc_jobs, lottery_jobs, run_lmc, run_lottery
from datadiet.experiments.prune import prune as prune_table
from datadiet.experiments.prune import read_kept
from datadiet.experiments.scoring import score_methods
from datadiet.scores import parse_method
from datadiet.training import TrainConfig
from datadiet.validation import check_epoch, parse_list

# typer vendors click in new releases and re-exports it in old ones: find its exception classes
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="datadiet: find the training examples that matter, prune the rest, prove the pruned set trains as well.",
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object as the last stdout line")]
DatasetArg = Annotated[str, typer.Argument(help="dataset name, or npz:PATH")]
ScoresOpt = Annotated[Optional[str], typer.Option("--scores", help="score table (scores.parquet) for easy:N / hard:N")]


def _list(key: str, registry: dict, json_: bool) -> None:
    rows = [{"name": v.name, "description": v.description} for v in registry.values()]
    if json_:
        emit_json({key: rows})
        return
    t = Table("name", "description")
    for r in rows:
        t.add_row(r["name"], r["description"])
    stdout.print(t)


@app.command()
def datasets(json_: JsonOpt = False):
    """List the registered datasets."""
    from datadiet.data import DATASETS

    _list("datasets", DATASETS, json_)


@app.command()
def models(json_: JsonOpt = False):
    """List the registered models."""
    from datadiet.models import MODELS

    _list("models", MODELS, json_)


@app.command()
@options
def train(
    dataset: DatasetArg,
    *,
    cfg: Annotated[TrainConfig, TRAIN_ALL],
    run: Annotated[Where, LOCAL],
    data: Annotated[DataOptions, UNGROUPED_DATA],
    subset: Annotated[
        Optional[str],
        typer.Option("--subset", help="train on the examples an index file from `datadiet prune` keeps (.npy/.txt)"),
    ] = None,
    json_: JsonOpt = False,
):
    """Train a model on a dataset and report test accuracy overall and per class."""
    dev = run.resolved_device()
    ds = data.spec(dataset)
    kept = None if subset is None else read_kept(subset, ds.load())  # refuses an index file of other data
    with progress_bar(f"train {cfg.model} on {ds.name}") as cb:
        summary = train_in_run_dir(ds, cfg, run.out, subset=kept, progress=cb, device=dev)
    if json_:
        emit_json(summary)
        return
    t = Table("class", "test accuracy")
    for name, acc in zip(summary["class_names"], summary["per_class_accuracy"]):
        t.add_row(name, f"{acc:.4f}")
    stdout.print(t)
    stdout.print(
        f"test accuracy: {summary['test_accuracy']:.4f}  ({summary['train_size']} examples, "
        f"{summary['steps']} steps, {summary['seconds']:.1f}s)  run: {summary['run_dir']}"
    )


@app.command()
@options
def score(
    dataset: DatasetArg,
    *,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="comma-separated: el2n, grand, forgetting, aum, loss, margin, logit-margin, input-norm, random; METHOD@T scores at epoch T (forgetting and AUM count over the whole schedule unless @T)",
        ),
    ] = "el2n",
    epoch: Annotated[
        float,
        typer.Option(
            "--epoch",
            help="score model-based methods after t epochs of training (0 = at initialisation; 0.5 = half an epoch)",
        ),
    ] = DEFAULT_SCORE_EPOCH,
    seeds: Annotated[dict, SCORE_SEEDS],
    tcfg: Annotated[TrainConfig, TRAIN.helped(epochs="length of the training schedule the scoring runs follow")],
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="write diagnostic PNGs")] = True,
    run: Annotated[Where, RUN],
    data: Annotated[DataOptions, UNGROUPED_DATA],
    json_: JsonOpt = False,
):
    """Score every training example, averaged over independent initialisations (higher = harder)."""
    specs = parse_list("method", method)
    parsed = [parse_method(m, score_epoch=epoch) for m in specs]
    configs = [ScoreConfig(method=m, epoch=t, train=tcfg, **seeds) for m, t in parsed]
    dev = run.resolved_device()
    spec = data.spec(dataset)
    with multi_progress(quiet=False) as new_bar, run.open_executor() as ex:
        scored = score_methods(spec, configs, out=run.out, progress=new_bar, executor=ex, device=dev)
    results = {}
    for cfg, r in zip(configs, scored):
        entry = {
            "scores": str(r.path),
            "scored_at": cfg.scored_at,
            "seed_agreement": r.seed_agreement,
            "cost": r.cost,
        }
        if figures:
            from datadiet.plots.score_figures import score_figures

            entry.update(score_figures(spec.load(), r))
        if "noisy_recall_top10" in r.summary:
            entry["noisy_recall_top10"] = r.summary["noisy_recall_top10"]
        results[cfg.method] = entry
    summary = {
        "scores": results[configs[0].method]["scores"],
        "methods": results,
        "dataset": spec.name,
        "epoch": check_epoch("epoch", epoch),
        "seeds": len(seeds["seeds"]),
    }
    if json_:
        emit_json(summary)
        return
    t = Table("method", "scored", "pairwise Spearman between seeds", "table")
    for m, e in results.items():
        t.add_row(m, e["scored_at"], f"{e['seed_agreement']['pairwise']:.3f}", e["scores"])
    stdout.print(t)
    for m, e in results.items():
        if "noisy_recall_top10" in e:
            stdout.print(f"{m}: {e['noisy_recall_top10']:.1%} of the corrupted labels are in the top-scored 10%")
        for f in e.get("figures", []):
            stdout.print(f"figure: {f}")


@app.command()
@options
def prune(
    scores: Annotated[str, typer.Argument(help="a score table (scores.parquet) written by `datadiet score`")],
    keep: Annotated[float, typer.Option("--keep", help="fraction of the training set to KEEP, in [0, 1]")],
    out: Annotated[str, typer.Option("--out", help="where to write the kept indices (.npy or .txt)")],
    *,
    select: Annotated[dict, SELECT],
    seed: Annotated[int, typer.Option("--seed", help="seed for random and ccs")] = 0,
    dataset: Annotated[
        Optional[str],
        typer.Option("--dataset", help="the scored dataset (default: read from the table's summary.json)"),
    ] = None,
    export: Annotated[
        Optional[str],
        typer.Option(
            "--export",
            help="also write the pruned dataset: .npz (a folder:PATH dataset: a new folder of the kept images)",
        ),
    ] = None,
    balanced_by: Annotated[
        Optional[str],
        typer.Option("--balanced-by", help="class or group: keep every class's (group's) share; implies --balanced"),
    ] = None,
    data: Annotated[DataOptions, DATA],
    json_: JsonOpt = False,
):
    """Keep a fraction of the training set by score; report what was kept per class and the storage saved."""
    select = {**select, "balanced": select["balanced"] or balanced_by is not None}
    result = prune_table(
        scores,
        keep=keep,
        out=out,
        seed=seed,
        dataset=dataset,
        export=export,
        balanced_by=balanced_by or "class",
        **select,
        **data.options,
    )
    if json_:
        emit_json(result)
        return
    t = Table("class", "total", "kept", "kept %")
    for r in result["per_class"]:
        t.add_row(str(r["name"]), str(r["total"]), str(r["kept"]), f"{100 * r['kept_fraction']:.1f}")
    stdout.print(t)
    stdout.print(f"kept {result['kept']} of {result['total']} examples ({select['strategy']}) -> {result['indices']}")
    if result["bytes_per_example"]:
        storage = result["storage"]
        stdout.print(
            f"storage: {storage['bytes_kept'] / 1e6:.2f} MB kept, {storage['bytes_saved'] / 1e6:.2f} MB saved "
            f"({result['bytes_per_example']} bytes per raw example)"
        )


@app.command()
@options
def sweep(
    dataset: DatasetArg,
    *,
    plan: Annotated[dict, SWEEP],
    select: Annotated[dict, SELECT.helped(strategy="selection for scored methods: hardest, easiest, window, ccs")],
    tcfg: Annotated[TrainConfig, TRAIN.helped(epochs="epochs of full-data training")],
    run: Annotated[Where, RUN],
    data: Annotated[DataOptions, DATA],
    json_: JsonOpt = False,
):
    """Score, prune to each fraction, train on each subset, compare against random pruning."""
    cfg = SweepConfig(train=tcfg, **plan, **select)
    dev = run.resolved_device()
    spec = data.spec(dataset)
    with multi_progress() as new_bar, run.open_executor() as ex:
        res = run_sweep(spec, cfg, out=run.out, progress=new_bar, command=_command_line(), executor=ex, device=dev)
    from datadiet.experiments.report import write_report  # these two draw: matplotlib, only when needed
    from datadiet.plots import accuracy_table

    report = write_report(res.path)
    table = accuracy_table(res.results)
    summary = {**res.overview(), "report": str(report)}
    if json_:
        emit_json(summary)
        return
    full = res.full_data_accuracy()
    stdout.print(
        f"test accuracy (%) by fraction pruned, {spec.name}, {tcfg.model}, budget {cfg.budget} "
        f"(mean over {cfg.seeds} seed(s); column 0.0 is full-data training):"
    )
    stdout.print(table.to_string())
    if full is not None:
        stdout.print(f"full-data test accuracy: {full:.4f}")
    stdout.print(f"figure: {res.figures['accuracy']}")
    stdout.print(f"report: {report}")


def _command_line() -> str:
    """This run's command line, as the run directory records it."""
    return "datadiet " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _rewinding_study(run_study, plan_jobs, cfg, dataset: str, scores, run: Where, data: DataOptions):
    """Runs a lottery or LMC study (``run_lottery`` / ``run_lmc``), its jobs planned first
    (``plan_jobs``) to refuse bad steps, subsets and tables before any progress bar."""
    dev = run.resolved_device()
    spec = data.spec(dataset)
    plan_jobs(spec, cfg, scores=scores)
    with multi_progress() as new_bar, run.open_executor() as ex:
        return run_study(
            spec, cfg, out=run.out, scores=scores, executor=ex, device=dev, progress=new_bar, command=_command_line()
        )


@app.command()
@options
def lottery(
    dataset: DatasetArg,
    *,
    imp: Annotated[dict, LOTTERY],
    scores: ScoresOpt = None,
    tcfg: Annotated[TrainConfig, TRAIN],
    run: Annotated[Where, RUN],
    data: Annotated[DataOptions, UNGROUPED_DATA],
    json_: JsonOpt = False,
):
    """Iterative magnitude pruning with rewinding (lottery tickets), with random baselines."""
    cfg = LotteryConfig(train=tcfg, **imp)
    res = _rewinding_study(run_lottery, lottery_jobs, cfg, dataset, scores, run, data)
    table = (
        res.results.groupby(["condition", "level"], sort=False)
        .agg(sparsity=("sparsity", "mean"), test_accuracy=("test_accuracy", "mean"))
        .reset_index()
    )
    summary = {
        "results": str(res.results_path),
        "run_dir": str(res.path),
        "figures": res.figures,
        "accuracy": table.to_dict(orient="records"),
    }
    if json_:
        emit_json(summary)
        return
    t = Table("condition", "level", "sparsity", f"test accuracy (mean of {cfg.replicates})")
    for r in summary["accuracy"]:
        t.add_row(r["condition"], str(r["level"]), f"{r['sparsity']:.3f}", f"{r['test_accuracy']:.4f}")
    stdout.print(t)
    stdout.print(f"results: {res.results_path}")
    stdout.print(f"figure: {res.figures['accuracy']}")


@app.command()
@options
def lmc(
    dataset: DatasetArg,
    *,
    connect: Annotated[dict, LMC],
    scores: ScoresOpt = None,
    tcfg: Annotated[TrainConfig, TRAIN],
    run: Annotated[Where, RUN],
    data: Annotated[DataOptions, UNGROUPED_DATA],
    json_: JsonOpt = False,
):
    """Linear mode connectivity: the error barrier between copies trained from step k with other data orders."""
    cfg = LmcConfig(train=tcfg, **connect)
    res = _rewinding_study(run_lmc, lmc_jobs, cfg, dataset, scores, run, data)
    summary = {
        "results": str(res.path / "results.parquet"),
        "scores": str(res.scores_path),
        "run_dir": str(res.path),
        "figures": res.figures,
        "error_barrier": float(res.results["error_barrier"].mean()),
        "train_ce_barrier_mean": float(res.results["train_ce_barrier_mean"].mean()),
    }
    if json_:
        emit_json(summary)
        return
    stdout.print(
        f"test-error barrier from step {cfg.from_step}: {100 * summary['error_barrier']:.2f} points "
        f"(mean over {cfg.replicates} replicate(s)); per-example train CE barrier at 0.5: "
        f"{summary['train_ce_barrier_mean']:.4f}"
    )
    stdout.print(f"per-example barrier score table: {res.scores_path}")
    stdout.print(f"figure: {res.figures['path']}")


@app.command()
def report(
    run_dir: Annotated[str, typer.Argument(help="a sweep directory (OUT/sweep_<hash>)")],
    markdown: Annotated[
        bool, typer.Option("--markdown", help="also print the accuracy table (mean ± std over seeds) as markdown")
    ] = False,
    json_: JsonOpt = False,
):
    """Draw the figures again and write RUN_DIR/report.md: accuracy table, figures, per-class effects, compute."""
    from datadiet.experiments.report import accuracy_markdown, load_sweep, write_report

    path = write_report(run_dir, redraw=True)
    if markdown:  # plain text, not through rich: it must paste into a README unchanged
        summary, results = load_sweep(run_dir)
        sys.stdout.write(accuracy_markdown(results, summary, heading=None))
        sys.stdout.flush()
    if json_:
        emit_json({"report": str(path)})
        return
    if markdown:
        print(f"report: {path}", file=sys.stderr)
    else:
        stdout.print(f"report: {path}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        args = ["--help"]
    try:
        app(args=args, prog_name="datadiet", standalone_mode=False)
    except DataDietError as e:
        msg = " ".join(str(e).splitlines())  # the convention is one line; hold it even if a message slips
        print(f"datadiet: error: {msg}", file=sys.stderr)
        return 2
    except OSError as e:  # last line of defence: a file or folder that cannot be written (or read)
        where = ": ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
        reason = e.strerror or " ".join(str(e).split()) or type(e).__name__
        print(f"datadiet: error: {where + ': ' if where else ''}{reason}", file=sys.stderr)
        return 2
    except _CLICK_EXCEPTION as e:
        msg = " ".join(e.format_message().split())
        print(f"datadiet: error: {msg}", file=sys.stderr)
        return 2 if isinstance(e, _USAGE_ERROR) else e.exit_code
    except typer.Exit as e:
        return e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("datadiet: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
