"""``datadiet`` command line. Every command takes ``--json`` (one JSON object, last stdout line).

Bad input prints one line on stderr and exits 2.
"""

from __future__ import annotations

import shlex
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from datadiet.cli.common import emit_json, multi_progress, progress_bar, stdout, with_flags
from datadiet.cli.options import (
    DATA,
    LMC,
    LOCAL,
    LOTTERY,
    RUN,
    SCORE_RUN,
    SCORE_SEEDS,
    SELECT,
    SWEEP,
    TRAIN,
    TRAIN_ALL,
    UNGROUPED_DATA,
    UNVERIFIED_HELP,
    DataOptions,
    Where,
    options,
)
from datadiet.data import DATASETS, dataset_description
from datadiet.defaults import DEFAULT_SCORE_EPOCH, DEFAULT_SEED_DRAWS, DEFAULT_SEEDS_KEEP, DEFAULT_SEEDS_TARGET
from datadiet.engine import run_experiment
from datadiet.errors import DataDietError
from datadiet.experiments import (
    ScoreConfig,
    ScoreExperiment,
    SweepConfig,
    read_score_table,
    run_sweep,
    train_in_run_dir,
)
from datadiet.experiments.lottery import LmcConfig, LmcExperiment, LotteryConfig, LotteryExperiment
from datadiet.experiments.prune import prune as prune_table
from datadiet.experiments.prune import read_kept
from datadiet.experiments.seeds import seeds_advice
from datadiet.experiments.studies import STUDIES, study_experiments
from datadiet.experiments.studies.reproduce import FULL, QUICK, Reproduction
from datadiet.experiments.sweep import load_sweep, write_report
from datadiet.models import MODELS
from datadiet.reports import accuracy_markdown
from datadiet.scores import parse_method
from datadiet.selection import STRATEGIES
from datadiet.tables import accuracy_table
from datadiet.training import TrainConfig
from datadiet.validation import check_epoch, parse_floats, parse_list

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
DatasetArg = Annotated[str, typer.Argument(help="dataset name, or npz:PATH, folder:PATH, npy:DIR, parquet:DIR")]
ScoresOpt = Annotated[Optional[str], typer.Option("--scores", help="score table (scores.parquet) for easy:N / hard:N")]
UnverifiedOpt = Annotated[bool, typer.Option("--unverified-tables", help=UNVERIFIED_HELP)]


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
    _list("datasets", DATASETS, json_)


@app.command()
def models(json_: JsonOpt = False):
    """List the registered models."""
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
    _say_resumed({summary["resumed"]: 1})
    if json_:
        emit_json(summary)
        return
    t = Table("class", "test accuracy")
    for name, acc in zip(summary["class_names"], summary["per_class_accuracy"]):
        t.add_row(name, f"{acc:.4f}")
    stdout.print(t)
    if "val_accuracy" in summary:
        v = summary["validation"]
        stdout.print(f"validation accuracy: {summary['val_accuracy']:.4f}  ({v['examples']} held-out examples)")
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
    run: Annotated[Where, SCORE_RUN],
    data: Annotated[DataOptions, UNGROUPED_DATA],
    json_: JsonOpt = False,
):
    """Score every training example, averaged over independent initialisations (higher = harder)."""
    specs = parse_list("method", method)
    parsed = [parse_method(m, score_epoch=epoch) for m in specs]
    configs = [ScoreConfig(method=m, epoch=t, train=tcfg, **seeds) for m, t in parsed]
    exp = ScoreExperiment(data.spec(dataset), tuple(configs), figures=figures)
    res = _run(exp, run)
    results = res.summary["methods"]
    summary = {
        "scores": res.summary["scores"],
        "methods": results,
        "dataset": exp.data.name,
        "epoch": check_epoch("epoch", epoch),
        "seeds": len(seeds["seeds"]),
        "run_dir": str(res.folder),
        **_validation(res.summary["dataset"]),
    }
    if json_:
        emit_json(summary)
        return
    t = Table("method", "scored", "pairwise Spearman between seeds")
    for m, e in results.items():
        t.add_row(m, e["scored_at"], f"{e['seed_agreement']['pairwise']:.3f}")
    stdout.print(t)
    for m, e in results.items():
        stdout.print(f"{m} score table: {e['scores']}")  # a line of its own: a path is never cut to fit
        if "noisy_recall_top10" in e:
            stdout.print(f"{m}: {e['noisy_recall_top10']:.1%} of the corrupted labels are in the top-scored 10%")
        for f in e.get("figures", []):
            stdout.print(f"figure: {f}")


@app.command()
def seeds(
    run_dirs: Annotated[
        list[str],
        typer.Argument(
            help="a finished `datadiet score` run: OUT/scoring_<hash> (its run_dir; e.g. --method el2n@1,el2n@2 "
            "scores several epochs) or OUT/score_<hash>; or several, one per score epoch"
        ),
    ],
    keep: Annotated[
        str, typer.Option("--keep", help="comma-separated fraction(s) of the training set KEPT, each in (0, 1)")
    ] = f"{DEFAULT_SEEDS_KEEP:g}",
    target: Annotated[
        float, typer.Option("--target", help="share of the reference's kept set a cheaper setting must keep")
    ] = DEFAULT_SEEDS_TARGET,
    method: Annotated[
        Optional[str], typer.Option("--method", help="the method to advise on when the run scored several")
    ] = None,
    draws: Annotated[
        int, typer.Option("--draws", help="random subsets of seeds per number of seeds (all when fewer exist)")
    ] = DEFAULT_SEED_DRAWS,
    json_: JsonOpt = False,
):
    """How many score seeds, how early: how the kept set moves with 1, 2, 4, 8 seeds and the score epoch."""
    advice = seeds_advice(run_dirs, method=method, keep=parse_floats("keep", keep), target=target, draws=draws)
    if json_:
        emit_json(advice)
        return
    stdout.print(
        f"{advice['method']} on {advice['dataset'].get('name', '?')}: {len(advice['seeds'])} seeds, "
        f"epoch(s) {', '.join(f'{e:g}' for e in advice['epochs'])}; overlap = the share of the reference's kept "
        "set that the setting keeps too"
    )
    stdout.print(_seeds_table(advice["rows"]))
    stdout.print(
        "other N: the mean of N seeds the setting does not use, at the last epoch (a conservative estimate); "
        "all N*: the mean of all seeds, the setting's own included (optimistic, never chosen; all seeds at the last "
        "epoch are the reference itself)"
    )
    for a in advice["advice"]:
        stdout.print(a["sentence"] + ".")


def _seeds_table(rows: list[dict]) -> Table:
    t = Table("epoch", "seeds", "kept", "reference", "draws", "overlap mean", "overlap worst", "Spearman mean")
    for r in rows:
        ref = f"other {r['reference_seeds']}" if r["comparison"] == "disjoint" else f"all {r['reference_seeds']}*"
        ref = "given" if r["comparison"] == "given" else ref
        t.add_row(
            f"{r['epoch']:g}",
            str(r["seeds"]),
            f"{100 * r['keep']:g}%",
            ref,
            str(r["draws"]),
            f"{100 * r['overlap_mean']:.1f}%",
            f"{100 * r['overlap_min']:.1f}%",
            f"{r['spearman_mean']:.3f}",
        )
    return t


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
            help="also write the pruned dataset: .npz (folder:PATH, npy:DIR, parquet:DIR: a new folder in that format)",
        ),
    ] = None,
    balanced_by: Annotated[
        Optional[str],
        typer.Option("--balanced-by", help="class or group: keep every class's (group's) share; implies --balanced"),
    ] = None,
    data: Annotated[DataOptions, DATA],
    unverified: UnverifiedOpt = False,
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
        unverified=unverified,
        **select,
        **data.options,
    )
    if json_:
        emit_json(result)
        return
    for kind in ("class", "group"):  # per group too when the data has groups (--balanced-by group balances them)
        if result[f"per_{kind}"] is not None:
            t = Table(kind, "total", "kept", "kept %")
            for r in result[f"per_{kind}"]:
                t.add_row(str(r["name"]), str(r["total"]), str(r["kept"]), f"{100 * r['kept_fraction']:.1f}")
            stdout.print(t)
    stdout.print(f"kept {result['kept']} of {result['total']} examples ({select['strategy']}) -> {result['indices']}")
    if result["bytes_per_example"]:
        storage = result["storage"]
        stdout.print(
            f"storage: {storage['bytes_kept'] / 1e6:.2f} MB kept, {storage['bytes_saved'] / 1e6:.2f} MB saved "
            f"({result['bytes_per_example']} bytes per raw example)"
        )
    if result.get("export_storage"):
        disk = result["export_storage"]
        stdout.print(
            f"export: {disk['bytes_kept'] / 1e6:.2f} MB of training data kept on disk, {disk['bytes_saved'] / 1e6:.2f} "
            f"MB saved -> {disk['path']}"
        )


@app.command()
@options
def sweep(
    dataset: DatasetArg,
    *,
    plan: Annotated[dict, SWEEP],
    select: Annotated[
        dict,
        SELECT.helped(strategy="selection for scored methods: " + ", ".join(s for s in STRATEGIES if s != "random")),
    ],
    tcfg: Annotated[TrainConfig, TRAIN.helped(epochs="epochs of full-data training")],
    run: Annotated[Where, RUN],
    data: Annotated[DataOptions, DATA],
    unverified: UnverifiedOpt = False,
    json_: JsonOpt = False,
):
    """Score, prune to each fraction, train on each subset, compare against random pruning."""
    cfg = SweepConfig(train=tcfg, **plan, **select, unverified_tables=unverified)
    spec = data.spec(dataset)
    with run.open_executor() as ex, multi_progress() as new_bar:
        dev = run.resolved_device()
        res = run_sweep(spec, cfg, out=run.out, progress=new_bar, command=_command_line(), executor=ex, device=dev)
    _say_resumed(res.resume)
    report = res.path / "report.md"
    summary = {**res.overview(), "report": str(report), **_validation(dataset_description({}, spec.load()))}
    if json_:
        emit_json(summary)
        return
    full = res.full_data_accuracy()
    stdout.print(
        f"test accuracy (%) by fraction pruned, {spec.name}, {tcfg.model}, budget {cfg.budget} "
        f"(mean over {cfg.seeds} seed(s); column 0.0 is full-data training):"
    )
    stdout.print(accuracy_table(res.results).to_string())
    if "val_accuracy" in res.results.columns:
        stdout.print("validation accuracy (%), the one to choose on (test accuracy above is only reported):")
        stdout.print(accuracy_table(res.results, column="val_accuracy").to_string())
    if full is not None:
        stdout.print(f"full-data test accuracy: {full:.4f}")
    stdout.print(f"figure: {res.figures['accuracy']}")
    counts = res.verdict_counts()
    stdout.print(
        f"verdicts: {', '.join(f'{n} {v}' for v, n in counts.items())} (claims with their intervals: report's Verdicts)"
    )
    stdout.print(f"report: {report}")


def _validation(dataset: dict) -> dict:
    """``{"validation": {fraction, seed, examples}}`` from a summary's dataset entry, ``{}`` without one."""
    return {"validation": dataset["validation"]} if "validation" in dataset else {}


def _command_line() -> str:
    """This run's command line, as the run directory records it."""
    return "datadiet " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _scores(path: str | None, spec, unverified: bool):
    """The ``--scores`` table as given, or, taken ``--unverified-tables``, read and checked here (its
    length and labels) so the experiment does not ask for its provenance."""
    return read_score_table(path, dataset=spec.load(), unverified=True) if path and unverified else path


def _run(experiment, run: Where):
    """Run an experiment where ``run`` says, with progress bars; its :class:`ExperimentResult`."""
    experiment.plan(run.out)  # refuse bad steps, subsets and tables before any progress bar
    with run.open_executor() as ex, multi_progress() as new_bar:
        res = run_experiment(
            experiment,
            out=run.out,
            executor=ex,
            device=run.resolved_device(),
            progress=new_bar,
            command=_command_line(),
        )
    _say_resumed(res.summary["resume"])
    return res


def _say_resumed(counts: dict[str, int]) -> None:
    """One line on stderr when a run picked up earlier work: how many jobs resumed an interrupted
    attempt and how many had finished earlier (nothing for a run that did everything anew)."""
    resumed, earlier = counts.get("resumed", 0), counts.get("finished earlier", 0)
    if resumed or earlier:
        print(
            f"datadiet: resumed {resumed} interrupted job(s) where they stopped, reused {earlier} finished "
            f"earlier, ran {counts.get('new', 0)} new",
            file=sys.stderr,
        )


@app.command()
@options
def lottery(
    dataset: DatasetArg,
    *,
    imp: Annotated[dict, LOTTERY],
    scores: ScoresOpt = None,
    unverified: UnverifiedOpt = False,
    tcfg: Annotated[TrainConfig, TRAIN],
    run: Annotated[Where, RUN],
    data: Annotated[DataOptions, UNGROUPED_DATA],
    json_: JsonOpt = False,
):
    """Iterative magnitude pruning with rewinding (lottery tickets), with random baselines."""
    cfg = LotteryConfig(train=tcfg, **imp)
    spec = data.spec(dataset)
    res = _run(LotteryExperiment(spec, cfg, _scores(scores, spec, unverified)), run)
    summary = {k: res.summary[k] for k in ("results", "figures", "accuracy")}
    summary.update(run_dir=str(res.folder), **_validation(res.summary["dataset"]))
    if json_:
        emit_json(summary)
        return
    t = Table("condition", "level", "sparsity", f"test accuracy (mean of {cfg.replicates})")
    for r in summary["accuracy"]:
        t.add_row(r["condition"], str(r["level"]), f"{r['sparsity']:.3f}", f"{r['test_accuracy']:.4f}")
    stdout.print(t)
    stdout.print(f"results: {summary['results']}")
    stdout.print(f"figure: {res.figures['accuracy']}")


@app.command()
@options
def lmc(
    dataset: DatasetArg,
    *,
    connect: Annotated[dict, LMC],
    scores: ScoresOpt = None,
    unverified: UnverifiedOpt = False,
    tcfg: Annotated[TrainConfig, TRAIN],
    run: Annotated[Where, RUN],
    data: Annotated[DataOptions, UNGROUPED_DATA],
    json_: JsonOpt = False,
):
    """Linear mode connectivity: the error barrier between copies trained from step k with other data orders."""
    cfg = LmcConfig(train=tcfg, **connect)
    spec = data.spec(dataset)
    res = _run(LmcExperiment(spec, cfg, _scores(scores, spec, unverified)), run)
    keys = ("results", "scores", "figures", "error_barrier", "train_ce_barrier_mean")
    summary = {**{k: res.summary[k] for k in keys}, "run_dir": str(res.folder), **_validation(res.summary["dataset"])}
    if json_:
        emit_json(summary)
        return
    stdout.print(
        f"test-error barrier from step {cfg.from_step}: {100 * summary['error_barrier']:.2f} points "
        f"(mean over {cfg.replicates} replicate(s)); per-example train CE barrier at 0.5: "
        f"{summary['train_ce_barrier_mean']:.4f}"
    )
    stdout.print(f"per-example barrier score table: {summary['scores']}")
    stdout.print(f"figure: {res.figures['path']}")


@app.command()
@options
def study(
    name: Annotated[
        str,
        typer.Argument(
            help=f"{' or '.join(STUDIES)}: diet (does the diet pay for itself?), lottery (lottery tickets on a data diet)"
        ),
    ],
    *,
    results: Annotated[
        str, typer.Option("--results", help="folder the study's tables, figures and report go to (RESULTS/<study>)")
    ] = "results",
    only: Annotated[Optional[str], typer.Option("--only", help="lottery: one setting only (mnist1d)")] = None,
    run: Annotated[Where, RUN],
    json_: JsonOpt = False,
):
    """Run (or resume) a study; its tables, figures, report.md and summary.json go to RESULTS/<study>/."""
    done = {}
    for exp in study_experiments(name, results=results, only=only):
        res = _run(exp, run)
        done[res.folder.name] = {"report": res.summary["report"], "minutes": res.summary["seconds"] / 60}
    if json_:
        emit_json({"studies": done})
        return
    for folder, r in done.items():
        stdout.print(f"{folder}: {r['minutes']:.1f} min of jobs, report {r['report']}")


@app.command()
@options
def reproduce(
    *,
    quick: Annotated[
        bool, typer.Option("--quick/--full", help="quick: an MLP, minutes on 2 cores; full: the diet study's CNN")
    ] = True,
    results: Annotated[str, typer.Option("--results", help="folder the report goes to (RESULTS/reproduce[-quick])")] = (
        "results"
    ),
    run: Annotated[Where, RUN],
    json_: JsonOpt = False,
):
    """Each data-diet finding as the paper states it, measured here, with its verdict (established or not)."""
    exp = Reproduction(QUICK if quick else FULL, results, _command_line())
    res = _run(exp, run)
    findings = res.summary["findings"]
    counts = {v: sum(f["verdict"] == v for f in findings) for v in ("established", "not established", "refuted")}
    if json_:
        emit_json({"report": res.summary["report"], "findings": findings, "verdicts": counts})
        return
    for f in findings:
        stdout.print(f"{f['verdict']:>16}: {f['claim']}")
    stdout.print(f"verdicts: {', '.join(f'{n} {v}' for v, n in counts.items())}")
    stdout.print(f"report: {res.summary['report']}")


@app.command()
def report(
    run_dir: Annotated[str, typer.Argument(help="a sweep directory (OUT/sweep_<hash>)")],
    markdown: Annotated[
        bool, typer.Option("--markdown", help="also print the accuracy table (mean ± std over seeds) as markdown")
    ] = False,
    json_: JsonOpt = False,
):
    """Draw the figures again and write RUN_DIR/report.md: accuracy table, figures, per-class effects, compute."""
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


def _flags(command: str) -> dict[str, str]:
    """The options of ``command`` by the Python names that messages use: parameter (and the config
    field it sets) -> flag, e.g. ``balanced_by`` -> ``--balanced-by``."""
    cmd = typer.main.get_command(app).commands.get(command)
    options = [p for p in getattr(cmd, "params", ()) if p.param_type_name == "option" and p.name]
    flags = {p.name: max(p.opts, key=lambda o: (o.startswith("--"), len(o))) for p in options}
    for info in app.registered_commands:
        if (info.name or info.callback.__name__) == command:
            for group in getattr(info.callback, "option_groups", {}).values():
                for o in group.opts:
                    flags.setdefault(o.name, o.flag.split("/")[0])
    return flags


INTERRUPTED = 130  # the shell's exit status for a process stopped by Ctrl-C (128 + SIGINT)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        args = ["--help"]
    try:
        status = app(args=args, prog_name="datadiet", standalone_mode=False)
    except DataDietError as e:
        msg = " ".join(str(e).splitlines())  # the convention is one line; hold it even if a message slips
        print(f"datadiet: error: {with_flags(msg, _flags(args[0]))}", file=sys.stderr)
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
        status = INTERRUPTED
    if status == INTERRUPTED:  # typer turns Ctrl-C into this exit code and returns it
        print("datadiet: interrupted; re-run the same command to resume", file=sys.stderr)
    return status if isinstance(status, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
