"""``datadiet`` command line. Every command takes ``--json`` (one JSON object, last stdout line).

Bad input prints one line on stderr and exits 2.
"""

from __future__ import annotations

import shlex
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from datadiet.cli.common import emit_json, progress_bar, stdout
from datadiet.defaults import DEFAULT_CCS_BINS, DEFAULT_SCORE_EPOCH
from datadiet.errors import DataDietError

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
DataDirOpt = Annotated[Optional[str], typer.Option("--data-dir", help="folder with the dataset's files")]
NoiseOpt = Annotated[float, typer.Option("--label-noise", help="fraction of training labels to corrupt (seeded)")]
NoiseSeedOpt = Annotated[int, typer.Option("--noise-seed", help="seed of the label noise")]
SamplesOpt = Annotated[Optional[int], typer.Option("--samples", help="mnist1d: number of examples to generate")]
OutOpt = Annotated[str, typer.Option("--out", help="root folder for run directories")]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="model name (see `datadiet models`), or package.module:factory on your PYTHONPATH "
        "(factory(input_shape, num_classes) returns the nn.Module)",
    ),
]
WidthOpt = Annotated[float, typer.Option("--width", help="width multiplier of the model")]


def _dataset(name, data_dir, label_noise, noise_seed, samples, groups=None):
    """The dataset's spec, resolved (loaded once here: bad names and options fail before any work)."""
    from datadiet.experiments import DatasetSpec

    spec = DatasetSpec(
        name, data_dir=data_dir, label_noise=label_noise, noise_seed=noise_seed, samples=samples, groups=groups
    ).resolve()
    if groups is not None:
        spec.load()  # an unknown grouping fails here
    return spec


GroupsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--groups",
        help="per-group accuracy by a computed grouping (brightness: quartiles of image brightness); "
        "an npz's g_train/g_test are used without it",
    ),
]


DeviceOpt = Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda")]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="inprocess (default) or ray: run the jobs as Ray tasks")]
AddressOpt = Annotated[
    Optional[str],
    typer.Option("--address", help="ray: an existing cluster (HOST:PORT or auto); default: a local instance"),
]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", help="ray: jobs run at once (default: the CPU cores)")]
ThreadsOpt = Annotated[
    Optional[int],
    typer.Option("--threads", help="torch threads per job (default: in-process unchanged; ray: cores / workers)"),
]


def _executor(executor, address, workers, threads):
    from datadiet.experiments import make_executor

    return make_executor(executor, address=address, workers=workers, threads=threads)


def _command() -> str:
    """The command line that ran, for summaries and reports."""
    return "datadiet " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _device(device):
    from datadiet.training.device import resolve_device

    return resolve_device(device)


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


def _train_config(model, width, epochs, steps, batch_size, lr, seed, augment, schedule, weight_decay):
    from datadiet.training import TrainConfig

    cfg = TrainConfig(
        model=model,
        width=width,
        epochs=epochs,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        augment=augment,
        schedule=schedule,
        weight_decay=weight_decay,
    )
    return cfg.with_seed(seed)


EpochsOpt = Annotated[int, typer.Option("--epochs", help="passes over the (sub)set")]
StepsOpt = Annotated[Optional[int], typer.Option("--steps", help="optimiser steps (overrides --epochs)")]
BatchOpt = Annotated[int, typer.Option("--batch-size")]
LrOpt = Annotated[float, typer.Option("--lr", help="peak learning rate")]
SeedOpt = Annotated[int, typer.Option("--seed", help="seed for init, data order and augmentation")]
AugOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--augment/--no-augment",
        help="the dataset's crop/flip augmentation (default: the dataset's choice; on for CIFAR, off for (Fashion-)MNIST)",
    ),
]
ScheduleOpt = Annotated[str, typer.Option("--schedule", help="onecycle, cosine, step or constant")]
WdOpt = Annotated[float, typer.Option("--weight-decay")]


@app.command()
def train(
    dataset: Annotated[str, typer.Argument(help="dataset name, or npz:PATH")],
    model: ModelOpt = "cnn",
    epochs: EpochsOpt = 8,
    steps: StepsOpt = None,
    batch_size: BatchOpt = 128,
    lr: LrOpt = 0.05,
    width: WidthOpt = 1.0,
    seed: SeedOpt = 0,
    augment: AugOpt = None,
    schedule: ScheduleOpt = "onecycle",
    weight_decay: WdOpt = 5e-4,
    out: OutOpt = "runs",
    data_dir: DataDirOpt = None,
    label_noise: NoiseOpt = 0.0,
    noise_seed: NoiseSeedOpt = 0,
    samples: SamplesOpt = None,
    subset: Annotated[
        Optional[str],
        typer.Option("--subset", help="train on the examples an index file from `datadiet prune` keeps (.npy/.txt)"),
    ] = None,
    device: DeviceOpt = "auto",
    json_: JsonOpt = False,
):
    """Train a model on a dataset and report test accuracy overall and per class."""
    from datadiet.experiments import train_in_run_dir
    from datadiet.experiments.prune import read_kept

    cfg = _train_config(model, width, epochs, steps, batch_size, lr, seed, augment, schedule, weight_decay)
    dev = _device(device)
    ds = _dataset(dataset, data_dir, label_noise, noise_seed, samples)
    kept = None if subset is None else read_kept(subset, ds.load())  # refuses an index file of other data
    with progress_bar(f"train {model} on {ds.name}") as cb:
        summary = train_in_run_dir(ds, cfg, out, subset=kept, progress=cb, device=dev)
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
def score(
    dataset: Annotated[str, typer.Argument(help="dataset name, or npz:PATH")],
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
    seeds: Annotated[int, typer.Option("--seeds", help="independent initialisations to average over")] = 4,
    model: ModelOpt = "cnn",
    epochs: Annotated[
        int, typer.Option("--epochs", help="length of the training schedule the scoring runs follow")
    ] = 8,
    batch_size: BatchOpt = 128,
    lr: LrOpt = 0.05,
    width: WidthOpt = 1.0,
    augment: AugOpt = None,
    schedule: ScheduleOpt = "onecycle",
    weight_decay: WdOpt = 5e-4,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="write diagnostic PNGs")] = True,
    out: OutOpt = "runs",
    data_dir: DataDirOpt = None,
    label_noise: NoiseOpt = 0.0,
    noise_seed: NoiseSeedOpt = 0,
    samples: SamplesOpt = None,
    device: DeviceOpt = "auto",
    executor: ExecutorOpt = "inprocess",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    json_: JsonOpt = False,
):
    """Score every training example, averaged over independent initialisations (higher = harder)."""
    from datadiet.cli.common import multi_progress
    from datadiet.experiments import ScoreConfig, ScoreExperiment, run_experiment
    from datadiet.scores import parse_method
    from datadiet.validation import check_epoch, parse_list

    specs = parse_list("method", method)
    parsed = [parse_method(m, score_epoch=epoch) for m in specs]
    tcfg = _train_config(model, width, epochs, None, batch_size, lr, 0, augment, schedule, weight_decay)
    configs = [
        ScoreConfig(method=m, epoch=t, seeds=tuple(range(seeds)) if seeds > 0 else (), train=tcfg) for m, t in parsed
    ]
    dev = _device(device)
    spec = _dataset(dataset, data_dir, label_noise, noise_seed, samples)
    exp = ScoreExperiment(spec, tuple(configs), figures=figures)
    with multi_progress(quiet=False) as new_bar, _executor(executor, address, workers, threads) as ex:
        res = run_experiment(exp, out=out, progress=new_bar, executor=ex, device=dev, command=_command())
    results = res.summary["methods"]
    summary = {
        "scores": res.summary["scores"],
        "methods": results,
        "dataset": spec.name,
        "epoch": check_epoch("epoch", epoch),
        "seeds": seeds,
        "run_dir": str(res.folder),
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
def prune(
    scores: Annotated[str, typer.Argument(help="a score table (scores.parquet) written by `datadiet score`")],
    keep: Annotated[float, typer.Option("--keep", help="fraction of the training set to KEEP, in [0, 1]")],
    out: Annotated[str, typer.Option("--out", help="where to write the kept indices (.npy or .txt)")],
    strategy: Annotated[str, typer.Option("--strategy", help="hardest, easiest, window, random or ccs")] = "hardest",
    offset: Annotated[
        float, typer.Option("--offset", help="window: fraction of the hardest examples to skip first")
    ] = 0.0,
    balanced: Annotated[
        bool, typer.Option("--balanced/--no-balanced", help="prune every class by the same fraction")
    ] = False,
    hard_cutoff: Annotated[
        float, typer.Option("--hard-cutoff", help="ccs: fraction of the hardest examples to drop")
    ] = 0.0,
    bins: Annotated[int, typer.Option("--bins", help="ccs: number of score strata")] = DEFAULT_CCS_BINS,
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
    groups: GroupsOpt = None,
    data_dir: DataDirOpt = None,
    label_noise: NoiseOpt = 0.0,
    noise_seed: NoiseSeedOpt = 0,
    samples: SamplesOpt = None,
    json_: JsonOpt = False,
):
    """Keep a fraction of the training set by score; report what was kept per class and the storage saved."""
    from datadiet.experiments.prune import prune as prune_table

    result = prune_table(
        scores,
        keep=keep,
        out=out,
        strategy=strategy,
        offset=offset,
        balanced=balanced or balanced_by is not None,
        hard_cutoff=hard_cutoff,
        bins=bins,
        seed=seed,
        dataset=dataset,
        data_dir=data_dir,
        label_noise=label_noise,
        noise_seed=noise_seed,
        samples=samples,
        export=export,
        balanced_by=balanced_by or "class",
        groups=groups,
    )
    if json_:
        emit_json(result)
        return
    t = Table("class", "total", "kept", "kept %")
    for r in result["per_class"]:
        t.add_row(str(r["name"]), str(r["total"]), str(r["kept"]), f"{100 * r['kept_fraction']:.1f}")
    stdout.print(t)
    stdout.print(f"kept {result['kept']} of {result['total']} examples ({strategy}) -> {result['indices']}")
    if result["bytes_per_example"]:
        storage = result["storage"]
        stdout.print(
            f"storage: {storage['bytes_kept'] / 1e6:.2f} MB kept, {storage['bytes_saved'] / 1e6:.2f} MB saved "
            f"({result['bytes_per_example']} bytes per raw example)"
        )


@app.command()
def sweep(
    dataset: Annotated[str, typer.Argument(help="dataset name, or npz:PATH")],
    methods: Annotated[
        str,
        typer.Option(
            "--methods",
            help="comma-separated scoring methods; random is random pruning; rs2 and infobatch prune dynamically "
            "inside each run (their fraction: the compute saved); table:PATH prunes by a score table",
        ),
    ] = "random,el2n,grand",
    fractions: Annotated[
        str, typer.Option("--fractions", help="comma-separated fractions PRUNED, each in [0, 1)")
    ] = "0,0.3,0.5,0.7",
    seeds: Annotated[int, typer.Option("--seeds", help="training seeds per (method, fraction)")] = 1,
    epochs: Annotated[int, typer.Option("--epochs", help="epochs of full-data training")] = 8,
    score_epoch: Annotated[
        float,
        typer.Option(
            "--score-epoch",
            help="epoch at which model-based methods score, may be fractional (forgetting and AUM count over the whole schedule unless METHOD@T)",
        ),
    ] = DEFAULT_SCORE_EPOCH,
    score_seeds: Annotated[int, typer.Option("--score-seeds", help="initialisations averaged per score")] = 2,
    score_model: Annotated[
        Optional[str],
        typer.Option("--score-model", help="proxy model for the scoring runs (default: the trained model), e.g. mlp"),
    ] = None,
    score_width: Annotated[
        Optional[float],
        typer.Option("--score-width", help="width multiplier of the scoring model (e.g. 0.25: a narrow proxy)"),
    ] = None,
    budget: Annotated[
        str,
        typer.Option("--budget", help="epochs (same epochs, pruning saves compute) or steps (same optimiser steps)"),
    ] = "epochs",
    strategy: Annotated[
        str, typer.Option("--strategy", help="selection for scored methods: hardest, easiest, window, ccs")
    ] = "hardest",
    offset: Annotated[float, typer.Option("--offset", help="window: fraction of the hardest to skip")] = 0.0,
    balanced: Annotated[
        bool, typer.Option("--balanced/--no-balanced", help="prune every class by the same fraction")
    ] = False,
    hard_cutoff: Annotated[
        float,
        typer.Option("--hard-cutoff", help="ccs: fraction of the hardest examples dropped first (likely mislabeled)"),
    ] = 0.0,
    bins: Annotated[int, typer.Option("--bins", help="ccs: number of score strata")] = DEFAULT_CCS_BINS,
    model: ModelOpt = "cnn",
    batch_size: BatchOpt = 128,
    lr: LrOpt = 0.05,
    width: WidthOpt = 1.0,
    augment: AugOpt = None,
    schedule: ScheduleOpt = "onecycle",
    weight_decay: WdOpt = 5e-4,
    out: OutOpt = "runs",
    data_dir: DataDirOpt = None,
    label_noise: NoiseOpt = 0.0,
    noise_seed: NoiseSeedOpt = 0,
    samples: SamplesOpt = None,
    groups: GroupsOpt = None,
    device: DeviceOpt = "auto",
    executor: ExecutorOpt = "inprocess",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    json_: JsonOpt = False,
):
    """Score, prune to each fraction, train on each subset, compare against random pruning."""
    from datadiet.cli.common import multi_progress
    from datadiet.experiments import SweepConfig, run_sweep
    from datadiet.plots import accuracy_table
    from datadiet.validation import parse_floats, parse_list

    tcfg = _train_config(model, width, epochs, None, batch_size, lr, 0, augment, schedule, weight_decay)
    cfg = SweepConfig(
        methods=tuple(parse_list("methods", methods)),
        fractions=tuple(parse_floats("fractions", fractions)),
        seeds=seeds,
        train=tcfg,
        score_epoch=score_epoch,
        score_seeds=score_seeds,
        score_model=score_model,
        score_width=score_width,
        budget=budget,
        strategy=strategy,
        offset=offset,
        balanced=balanced,
        hard_cutoff=hard_cutoff,
        bins=bins,
    )
    dev = _device(device)
    spec = _dataset(dataset, data_dir, label_noise, noise_seed, samples, groups)
    with multi_progress() as new_bar, _executor(executor, address, workers, threads) as ex:
        res = run_sweep(spec, cfg, out=out, progress=new_bar, command=_command(), executor=ex, device=dev)
    report = res.path / "report.md"
    summary = {**res.overview(), "report": str(report)}
    if json_:
        emit_json(summary)
        return
    full = res.full_data_accuracy()
    stdout.print(
        f"test accuracy (%) by fraction pruned, {spec.name}, {model}, budget {budget} "
        f"(mean over {seeds} seed(s); column 0.0 is full-data training):"
    )
    stdout.print(accuracy_table(res.results).to_string())
    if full is not None:
        stdout.print(f"full-data test accuracy: {full:.4f}")
    stdout.print(f"figure: {res.figures['accuracy']}")
    stdout.print(f"report: {report}")


LevelsOpt = Annotated[int, typer.Option("--levels", help="IMP levels after the dense level 0")]
PretrainOpt = Annotated[
    str,
    typer.Option(
        "--pretrain", help="data of the pre-training steps: full, random:N, easy:N or hard:N (class-balanced)"
    ),
]
ScoresOpt = Annotated[Optional[str], typer.Option("--scores", help="score table (scores.parquet) for easy:N / hard:N")]
ReplicatesOpt = Annotated[int, typer.Option("--replicates", help="independent seeds")]


@app.command()
def lottery(
    dataset: Annotated[str, typer.Argument(help="dataset name, or npz:PATH")],
    model: ModelOpt = "cnn",
    levels: LevelsOpt = 3,
    rate: Annotated[float, typer.Option("--rate", help="fraction of the remaining weights pruned per level")] = 0.2,
    rewind_step: Annotated[
        int, typer.Option("--rewind-step", help="k: train k steps, then rewind every level to them (0 = init)")
    ] = 0,
    pretrain: PretrainOpt = "full",
    scores: ScoresOpt = None,
    replicates: ReplicatesOpt = 1,
    exclude: Annotated[
        Optional[str], typer.Option("--exclude", help="comma-separated layer names kept dense (e.g. the output layer)")
    ] = None,
    branches: Annotated[
        bool,
        typer.Option("--branches/--no-branches", help="random pruning and random re-initialisation baselines"),
    ] = True,
    epochs: EpochsOpt = 8,
    batch_size: BatchOpt = 128,
    lr: LrOpt = 0.05,
    width: WidthOpt = 1.0,
    augment: AugOpt = None,
    schedule: ScheduleOpt = "onecycle",
    weight_decay: WdOpt = 5e-4,
    out: OutOpt = "runs",
    data_dir: DataDirOpt = None,
    label_noise: NoiseOpt = 0.0,
    noise_seed: NoiseSeedOpt = 0,
    samples: SamplesOpt = None,
    device: DeviceOpt = "auto",
    executor: ExecutorOpt = "inprocess",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    json_: JsonOpt = False,
):
    """Iterative magnitude pruning with rewinding (lottery tickets), with random baselines."""
    from datadiet.cli.common import multi_progress
    from datadiet.experiments import run_experiment
    from datadiet.experiments.lottery import LotteryConfig, LotteryExperiment
    from datadiet.validation import parse_list

    tcfg = _train_config(model, width, epochs, None, batch_size, lr, 0, augment, schedule, weight_decay)
    cfg = LotteryConfig(
        train=tcfg,
        levels=levels,
        rate=rate,
        rewind_step=rewind_step,
        pretrain=pretrain,
        exclude=tuple(parse_list("exclude", exclude)) if exclude is not None else (),
        replicates=replicates,
        branches=branches,
    )
    dev = _device(device)
    exp = LotteryExperiment(_dataset(dataset, data_dir, label_noise, noise_seed, samples), cfg, scores)
    exp.plan()  # refuse bad steps, subsets and tables before any progress bar
    with multi_progress() as new_bar, _executor(executor, address, workers, threads) as ex:
        res = run_experiment(exp, out=out, executor=ex, device=dev, progress=new_bar, command=_command())
    keys = ("results", "figures", "accuracy")
    summary = {**{k: res.summary[k] for k in keys}, "run_dir": str(res.folder)}
    if json_:
        emit_json(summary)
        return
    t = Table("condition", "level", "sparsity", f"test accuracy (mean of {replicates})")
    for r in summary["accuracy"]:
        t.add_row(r["condition"], str(r["level"]), f"{r['sparsity']:.3f}", f"{r['test_accuracy']:.4f}")
    stdout.print(t)
    stdout.print(f"results: {summary['results']}")
    stdout.print(f"figure: {res.figures['accuracy']}")


@app.command()
def lmc(
    dataset: Annotated[str, typer.Argument(help="dataset name, or npz:PATH")],
    model: ModelOpt = "cnn",
    from_step: Annotated[int, typer.Option("--from-step", help="k: the copies start from the network at step k")] = 0,
    pretrain: PretrainOpt = "full",
    scores: ScoresOpt = None,
    copies: Annotated[int, typer.Option("--copies", help="networks trained from step k (pairs compared)")] = 2,
    replicates: ReplicatesOpt = 1,
    epochs: EpochsOpt = 8,
    batch_size: BatchOpt = 128,
    lr: LrOpt = 0.05,
    width: WidthOpt = 1.0,
    augment: AugOpt = None,
    schedule: ScheduleOpt = "onecycle",
    weight_decay: WdOpt = 5e-4,
    out: OutOpt = "runs",
    data_dir: DataDirOpt = None,
    label_noise: NoiseOpt = 0.0,
    noise_seed: NoiseSeedOpt = 0,
    samples: SamplesOpt = None,
    device: DeviceOpt = "auto",
    executor: ExecutorOpt = "inprocess",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    json_: JsonOpt = False,
):
    """Linear mode connectivity: the error barrier between copies trained from step k with other data orders."""
    from datadiet.cli.common import multi_progress
    from datadiet.experiments import run_experiment
    from datadiet.experiments.lottery import LmcConfig, LmcExperiment

    tcfg = _train_config(model, width, epochs, None, batch_size, lr, 0, augment, schedule, weight_decay)
    cfg = LmcConfig(train=tcfg, from_step=from_step, pretrain=pretrain, copies=copies, replicates=replicates)
    dev = _device(device)
    exp = LmcExperiment(_dataset(dataset, data_dir, label_noise, noise_seed, samples), cfg, scores)
    exp.plan()  # refuse bad steps, subsets and tables before any progress bar
    with multi_progress() as new_bar, _executor(executor, address, workers, threads) as ex:
        res = run_experiment(exp, out=out, executor=ex, device=dev, progress=new_bar, command=_command())
    keys = ("results", "scores", "figures", "error_barrier", "train_ce_barrier_mean")
    summary = {**{k: res.summary[k] for k in keys}, "run_dir": str(res.folder)}
    if json_:
        emit_json(summary)
        return
    stdout.print(
        f"test-error barrier from step {from_step}: {100 * summary['error_barrier']:.2f} points "
        f"(mean over {replicates} replicate(s)); per-example train CE barrier at 0.5: "
        f"{summary['train_ce_barrier_mean']:.4f}"
    )
    stdout.print(f"per-example barrier score table: {summary['scores']}")
    stdout.print(f"figure: {res.figures['path']}")


@app.command()
def study(
    name: Annotated[str, typer.Argument(help="diet (does the diet pay for itself?) or lottery (lottery tickets)")],
    results: Annotated[
        str, typer.Option("--results", help="folder the study's tables, figures and report go to")
    ] = "results",
    only: Annotated[
        Optional[str], typer.Option("--only", help="lottery: one setting only (mnist1d or fashion-mnist)")
    ] = None,
    out: OutOpt = "runs",
    device: DeviceOpt = "auto",
    executor: ExecutorOpt = "inprocess",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    json_: JsonOpt = False,
):
    """Run (or resume) a study and write its report to RESULTS/NAME/ (the committed results/ come from these)."""
    from datadiet.cli.common import multi_progress
    from datadiet.experiments import run_experiment
    from datadiet.experiments.studies import study_experiments

    experiments = study_experiments(name, results=results, only=only)
    dev = _device(device)
    done = {}
    with multi_progress() as new_bar, _executor(executor, address, workers, threads) as ex:
        for exp in experiments:
            res = run_experiment(exp, out=out, executor=ex, device=dev, progress=new_bar, command=_command())
            done[res.folder.name] = {"report": res.summary["report"], "minutes": res.summary["seconds"] / 60}
    if json_:
        emit_json({"studies": done})
        return
    for folder, r in done.items():
        stdout.print(f"{folder}: {r['minutes']:.1f} min of jobs, report {r['report']}")


@app.command()
def report(
    run_dir: Annotated[str, typer.Argument(help="a sweep directory (OUT/sweep_<hash>)")],
    markdown: Annotated[
        bool, typer.Option("--markdown", help="also print the accuracy table (mean ± std over seeds) as markdown")
    ] = False,
    json_: JsonOpt = False,
):
    """Draw the figures again and write RUN_DIR/report.md: accuracy table, figures, per-class effects, compute."""
    from datadiet.experiments.sweep import load_sweep, write_report
    from datadiet.reports import accuracy_markdown

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
