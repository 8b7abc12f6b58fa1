"""The commands' options, each defined once, with the defaults and types of the config dataclasses.

A :class:`Group` is a table of options (flag and help) for fields of one dataclass: ``TRAIN`` for
:class:`~datadiet.training.TrainConfig`, ``DATA`` for :class:`~datadiet.experiments.DatasetSpec`,
``SELECT`` and ``SWEEP`` for :class:`~datadiet.experiments.SweepConfig`, ``RUN`` for :class:`Where`
(out folder, device, executor). An option's default and type are read from its field, so
``datadiet train --help`` and ``TrainConfig()`` cannot disagree. A command names a group in its
signature, ``cfg: Annotated[TrainConfig, TRAIN]``; :func:`options` puts the group's options in that
parameter's place (typer reads ``__signature__``) and hands the body what the group builds from
their values (here a ``TrainConfig``).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import wraps
from typing import Annotated, Any, Optional

import typer

from datadiet.defaults import DEFAULT_DEVICE, DEFAULT_OUT
from datadiet.experiments import DatasetSpec, ScoreConfig, SweepConfig, make_executor
from datadiet.experiments.lottery import LmcConfig, LotteryConfig
from datadiet.selection import STRATEGIES
from datadiet.training import TrainConfig
from datadiet.training.device import resolve_device
from datadiet.validation import parse_floats, parse_ints, parse_list

_EXECUTOR = inspect.signature(make_executor).parameters  # the executor options' defaults
UNVERIFIED_HELP = (
    "use score tables that record no dataset (your own index,label,score tables: only their length and labels "
    "are checked); a table made on another dataset is refused regardless"
)


@dataclass(frozen=True)
class Where:
    """Where a command's jobs run and write: the run directories' root, the device, the executor."""

    out: str = DEFAULT_OUT
    device: str = DEFAULT_DEVICE
    executor: str = _EXECUTOR["name"].default
    address: str | None = _EXECUTOR["address"].default
    workers: int | None = _EXECUTOR["workers"].default
    threads: int | None = _EXECUTOR["threads"].default
    score_workers: int | None = _EXECUTOR["score_workers"].default

    def resolved_device(self) -> str:
        return resolve_device(self.device)

    def open_executor(self):
        return make_executor(
            self.executor,
            address=self.address,
            workers=self.workers,
            threads=self.threads,
            score_workers=self.score_workers,
        )


@dataclass(frozen=True)
class DataOptions:
    """A command's dataset options (:class:`DatasetSpec` fields); :meth:`spec` names the dataset."""

    options: dict = field(default_factory=dict)

    def spec(self, name: str) -> DatasetSpec:
        """The dataset's spec, resolved (loaded once here: bad names and options fail before any work)."""
        spec = DatasetSpec(name, **self.options).resolve()
        if self.options.get("groups") is not None:
            spec.load()  # an unknown grouping fails here
        return spec


@dataclass(frozen=True)
class Opt:
    """One option: ``name`` is the field it sets, ``flag`` and ``help`` what ``--help`` shows.

    ``param`` names the command's parameter when it is not the field's name; ``type`` is the
    option's type when not the field's; ``show`` turns the field's default into the option's
    (``(0.0, 0.3)`` -> ``"0,0.3"``) and ``parse`` the option's value into the field's.
    """

    name: str
    flag: str
    help: str | None = None
    param: str | None = None
    type: Any = None
    show: Callable[[Any], Any] | None = None
    parse: Callable[[Any], Any] | None = None

    @property
    def pname(self) -> str:
        return self.param or self.name


def _field_default(cls, name: str):
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"{cls.__name__}.{name} has no default for its command-line option")


def _cli_type(hint):
    """``X | None`` as ``Optional[X]``, the spelling every typer release reads."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return Optional[args[0]] if len(args) == 1 and len(typing.get_args(hint)) == 2 else hint


@dataclass(frozen=True)
class Group:
    """Options for fields of ``source`` (a dataclass); ``build`` makes the body's object of their values."""

    source: type
    opts: tuple[Opt, ...]
    build: Callable[[dict], Any] = dict

    def without(self, *pnames: str) -> Group:
        return replace(self, opts=tuple(o for o in self.opts if o.pname not in pnames))

    def helped(self, **texts: str) -> Group:
        """The same options, some with a command's own help text (by parameter name)."""
        return replace(self, opts=tuple(replace(o, help=texts.get(o.pname, o.help)) for o in self.opts))

    def default(self, opt: Opt):
        """The option's default: the field's, shown as the option takes it."""
        value = _field_default(self.source, opt.name)
        return opt.show(value) if opt.show else value

    def parameters(self) -> list[inspect.Parameter]:
        hints = typing.get_type_hints(self.source)
        return [
            inspect.Parameter(
                o.pname,
                inspect.Parameter.KEYWORD_ONLY,
                default=self.default(o),
                annotation=Annotated[o.type or _cli_type(hints[o.name]), typer.Option(o.flag, help=o.help)],
            )
            for o in self.opts
        ]

    def take(self, kwargs: dict):
        """Pops the group's option values from ``kwargs``; returns what ``build`` makes of them."""
        values = {}
        for o in self.opts:
            v = kwargs.pop(o.pname)
            values[o.name] = o.parse(v) if o.parse else v
        return self.build(values)


def _group_of(annotation) -> Group | None:
    return next((m for m in getattr(annotation, "__metadata__", ()) if isinstance(m, Group)), None)


def options(body):
    """The command ``body`` with each parameter annotated ``Annotated[T, GROUP]`` replaced by the group's
    options, in its place; the body receives the group's built object under that parameter's name."""
    sig = inspect.signature(body, eval_str=True)
    groups: dict[str, Group] = {}
    params: list[inspect.Parameter] = []
    for p in sig.parameters.values():
        group = _group_of(p.annotation)
        if group is None:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
        else:
            groups[p.name] = group
            params.extend(group.parameters())
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise TypeError(f"{body.__name__}: option groups repeat a parameter: {sorted(names)}")

    @wraps(body)
    def command(**kwargs):
        for name, group in groups.items():
            kwargs[name] = group.take(kwargs)
        return body(**kwargs)

    command.__signature__ = sig.replace(parameters=params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.option_groups = groups  # for the tests: which options come from which dataclass
    return command


def _train_config(values: dict) -> TrainConfig:
    seed = values.pop("init_seed", None)
    cfg = TrainConfig(**values)
    return cfg if seed is None else cfg.with_seed(seed)


def _joined(items) -> str | None:
    return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in items) or None


TRAIN_ALL = Group(
    TrainConfig,
    (
        Opt(
            "model",
            "--model",
            "model name (see `datadiet models`), or package.module:factory on your PYTHONPATH "
            "(factory(input_shape, num_classes) returns the nn.Module)",
        ),
        Opt("epochs", "--epochs", "passes over the (sub)set"),
        Opt("steps", "--steps", "optimiser steps (overrides --epochs)"),
        Opt("batch_size", "--batch-size"),
        Opt("lr", "--lr", "peak learning rate"),
        Opt("width", "--width", "width multiplier of the model"),
        Opt("init_seed", "--seed", "seed for init, data order and augmentation", param="seed"),
        Opt(
            "augment",
            "--augment/--no-augment",
            "the dataset's crop/flip augmentation (default: the dataset's choice; on for CIFAR, off for (Fashion-)MNIST)",
        ),
        Opt("schedule", "--schedule", "onecycle, cosine, step or constant"),
        Opt("weight_decay", "--weight-decay"),
    ),
    _train_config,
)
TRAIN = TRAIN_ALL.without("steps", "seed")  # commands whose jobs set the seeds and steps themselves

DATA = Group(
    DatasetSpec,
    (
        Opt("data_dir", "--data-dir", "folder with the dataset's files"),
        Opt("label_noise", "--label-noise", "fraction of training labels to corrupt (seeded)"),
        Opt("noise_seed", "--noise-seed", "seed of the label noise"),
        Opt("samples", "--samples", "mnist1d: number of examples to generate"),
        Opt("test_samples", "--test-samples", "mnist1d: a test set of this many new examples (default: the 20% split)"),
        Opt(
            "val_fraction",
            "--val-fraction",
            "fraction of the training set held out for validation, stratified by label (no run trains on it; "
            "every training run reports its validation accuracy, so choices need not look at test accuracy)",
        ),
        Opt("val_seed", "--val-seed", "seed of the validation split"),
        Opt(
            "groups",
            "--groups",
            "per-group accuracy by a computed grouping (brightness: quartiles of image brightness); "
            "an npz's g_train/g_test are used without it",
        ),
    ),
    DataOptions,
)
UNGROUPED_DATA = DATA.without("groups")

RUN = Group(
    Where,
    (
        Opt("out", "--out", "root folder for run directories"),
        Opt("device", "--device", "auto (CUDA when present), cpu or cuda"),
        Opt("executor", "--executor", "inprocess (default) or ray: run the jobs as Ray tasks"),
        Opt("address", "--address", "ray: an existing cluster (HOST:PORT or auto); default: a local instance"),
        Opt("workers", "--workers", "ray: jobs run at once (default: the CPU cores)"),
        Opt("threads", "--threads", "torch threads per job (default: in-process unchanged; ray: cores / workers)"),
    ),
    lambda values: Where(**values),
)
LOCAL = RUN.without("executor", "address", "workers", "threads")  # one job, in this process
SCORE_RUN = replace(
    RUN,
    opts=(
        *RUN.opts,
        Opt(
            "score_workers",
            "--score-workers",
            "score each seed's model in shards on this many Ray workers (jobs in-process; --address: a cluster; "
            "--threads: per worker); the same scores to the bit",
        ),
    ),
)

SELECT = Group(
    SweepConfig,
    (
        Opt("strategy", "--strategy", ", ".join(STRATEGIES[:-1]) + " or " + STRATEGIES[-1]),
        Opt("offset", "--offset", "window: fraction of the hardest examples to skip first"),
        Opt("balanced", "--balanced/--no-balanced", "prune every class by the same fraction"),
        Opt("hard_cutoff", "--hard-cutoff", "ccs: fraction of the hardest examples dropped first (likely mislabeled)"),
        Opt("bins", "--bins", "ccs: number of score strata"),
    ),
)

SWEEP = Group(
    SweepConfig,
    (
        Opt(
            "methods",
            "--methods",
            "comma-separated scoring methods; random is random pruning; rs2 and infobatch prune dynamically "
            "inside each run (their fraction: the compute saved); table:PATH prunes by a score table",
            type=str,
            show=_joined,
            parse=lambda text: tuple(parse_list("methods", text)),
        ),
        Opt(
            "fractions",
            "--fractions",
            "comma-separated fractions PRUNED, each in [0, 1)",
            type=str,
            show=_joined,
            parse=lambda text: tuple(parse_floats("fractions", text)),
        ),
        Opt("seeds", "--seeds", "training seeds per (method, fraction)"),
        Opt(
            "score_epoch",
            "--score-epoch",
            "epoch at which model-based methods score, may be fractional (forgetting and AUM count over the "
            "whole schedule unless METHOD@T)",
            type=float,
        ),
        Opt("score_seeds", "--score-seeds", "initialisations averaged per score"),
        Opt("score_model", "--score-model", "proxy model for the scoring runs (default: the trained model), e.g. mlp"),
        Opt("score_width", "--score-width", "width multiplier of the scoring model (e.g. 0.25: a narrow proxy)"),
        Opt("budget", "--budget", "epochs (same epochs, pruning saves compute) or steps (same optimiser steps)"),
        Opt(
            "margin",
            "--margin",
            "accuracy points within which the report's verdicts call a cell a match for full data (equivalence test)",
        ),
    ),
)

SCORE_SEEDS = Group(
    ScoreConfig,
    (
        Opt(
            "seeds",
            "--seeds",
            "independent initialisations to average over",
            type=int,
            show=len,
            parse=lambda n: tuple(range(n)) if n > 0 else (),
        ),
    ),
)

PRETRAIN = Opt(
    "pretrain", "--pretrain", "data of the pre-training steps: full, random:N, easy:N or hard:N (class-balanced)"
)
REPLICATES = Opt("replicates", "--replicates", "independent seeds")

LOTTERY = Group(
    LotteryConfig,
    (
        Opt("levels", "--levels", "IMP levels after the dense level 0"),
        Opt("rate", "--rate", "fraction of the remaining weights pruned per level"),
        Opt("rewind_step", "--rewind-step", "k: train k steps, then rewind every level to them (0 = init)"),
        PRETRAIN,
        REPLICATES,
        Opt(
            "exclude",
            "--exclude",
            "comma-separated layer names kept dense (e.g. the output layer)",
            type=Optional[str],
            show=_joined,
            parse=lambda text: tuple(parse_list("exclude", text)) if text is not None else (),
        ),
        Opt("branches", "--branches/--no-branches", "random pruning and random re-initialisation baselines"),
        Opt(
            "branch_levels",
            "--branch-levels",
            "comma-separated levels that get the random baselines (default: every level)",
            type=Optional[str],
            show=_joined,
            parse=lambda text: tuple(parse_ints("branch_levels", text)) if text is not None else (),
        ),
    ),
)

LMC = Group(
    LmcConfig,
    (
        Opt("from_step", "--from-step", "k: the copies start from the network at step k"),
        PRETRAIN,
        Opt("copies", "--copies", "networks trained from step k (pairs compared)"),
        REPLICATES,
    ),
)
