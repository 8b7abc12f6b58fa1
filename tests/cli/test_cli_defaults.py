"""The CLI's options and their defaults come from the config dataclasses: ``datadiet X --help`` and the
API cannot disagree. Introspects the click commands typer builds (no subprocess)."""

import inspect

import pytest
import typer

from datadiet.cli.main import app
from datadiet.cli.options import LMC, LOTTERY, SCORE_SEEDS, SELECT, SWEEP, TRAIN, TRAIN_ALL, UNGROUPED_DATA, Where
from datadiet.defaults import DEFAULT_DEVICE, DEFAULT_OUT, DEFAULT_SCORE_EPOCH
from datadiet.experiments import DatasetSpec, ScoreConfig, SweepConfig, make_executor
from datadiet.experiments.lottery import LmcConfig, LotteryConfig
from datadiet.experiments.prune import prune as prune_table
from datadiet.experiments.seeds import seeds_advice
from datadiet.training import TrainConfig
from datadiet.training.device import resolve_device

CLICK = typer.main.get_command(app)
CALLBACKS = {info.callback.__name__: info.callback for info in app.registered_commands}

# the defaults as an API user meets them: objects built with no arguments
INSTANCES = {
    TrainConfig: TrainConfig(),
    DatasetSpec: DatasetSpec("digits"),
    SweepConfig: SweepConfig(),
    ScoreConfig: ScoreConfig("el2n"),
    LotteryConfig: LotteryConfig(),
    LmcConfig: LmcConfig(),
    Where: Where(),
}

GENERATED = [
    (command, group, opt)
    for command, callback in CALLBACKS.items()
    for group in getattr(callback, "option_groups", {}).values()
    for opt in group.opts
]


def _params(command: str) -> dict:
    return {p.name: p for p in CLICK.commands[command].params}


def test_every_command_with_configuration_generates_its_options():
    with_groups = {c for c, cb in CALLBACKS.items() if getattr(cb, "option_groups", None)}
    assert with_groups == {"train", "score", "prune", "sweep", "lottery", "lmc", "study", "reproduce"}
    assert len(GENERATED) > 100


@pytest.mark.parametrize("command, group, opt", GENERATED, ids=[f"{c}{o.flag.split('/')[0]}" for c, _, o in GENERATED])
def test_cli_default_is_the_dataclass_default(command, group, opt):
    param = _params(command)[opt.pname]
    value = getattr(INSTANCES[group.source], opt.name)
    assert param.default == (opt.show(value) if opt.show else value)
    assert opt.flag.split("/")[0] in param.opts


def test_no_command_retypes_a_generated_option():
    """An option whose flag a group defines is the group's in every command that has it (prune's
    --out, its index file, and --seed, of random and ccs selection, are other options)."""
    flags = {o.flag.split("/")[0] for _, _, o in GENERATED}
    generated = {(c, o.pname) for c, _, o in GENERATED}
    own = {
        (command, p.name)
        for command in CALLBACKS
        for p in CLICK.commands[command].params
        if set(p.opts) & flags and (command, p.name) not in generated
    }
    assert own == {("prune", "out"), ("prune", "seed")}


def test_device_default_is_the_api_constant():
    commands = [c for c in CALLBACKS if "device" in _params(c)]
    assert sorted(commands) == ["lmc", "lottery", "reproduce", "score", "study", "sweep", "train"]
    for c in commands:
        assert _params(c)["device"].default == DEFAULT_DEVICE == "auto"
    assert inspect.signature(resolve_device).parameters["device"].default == DEFAULT_DEVICE
    # and every API entry point that runs work: the same one default
    from datadiet.engine import Context, run_experiment
    from datadiet.experiments import run_lmc, run_lottery, run_sweep, score_dataset, score_methods, train_in_run_dir

    for fn in (run_experiment, run_sweep, score_dataset, score_methods, run_lottery, run_lmc, train_in_run_dir):
        assert inspect.signature(fn).parameters["device"].default == DEFAULT_DEVICE, fn.__name__
    assert Context.__dataclass_fields__["device"].default == DEFAULT_DEVICE


def test_where_defaults_are_the_executor_api_defaults():
    executor = inspect.signature(make_executor).parameters
    w = Where()
    assert (w.out, w.device) == (DEFAULT_OUT, DEFAULT_DEVICE)
    assert (w.executor, w.address, w.workers, w.threads) == tuple(
        executor[k].default for k in ("name", "address", "workers", "threads")
    )


def test_omitting_every_flag_builds_the_default_configs():
    """The objects the CLI builds from its defaults are the dataclasses' own (so the same run keys)."""

    def built(group):
        return group.take({o.pname: group.default(o) for o in group.opts})

    assert built(TRAIN_ALL) == built(TRAIN) == TrainConfig()
    assert SweepConfig(train=built(TRAIN), **built(SWEEP), **built(SELECT)) == SweepConfig()
    assert LotteryConfig(train=built(TRAIN), **built(LOTTERY)) == LotteryConfig()
    assert LmcConfig(train=built(TRAIN), **built(LMC)) == LmcConfig()
    assert ScoreConfig("el2n", train=built(TRAIN), **built(SCORE_SEEDS)) == ScoreConfig("el2n")
    assert DatasetSpec("digits", **built(UNGROUPED_DATA).options) == DatasetSpec("digits")


def test_score_epoch_default_is_the_api_default():
    """``score --epoch`` has no dataclass default (ScoreConfig.epoch None means the method's own);
    for the model-based methods it applies to, both are DEFAULT_SCORE_EPOCH."""
    assert _params("score")["epoch"].default == DEFAULT_SCORE_EPOCH == ScoreConfig("el2n").epoch


def test_prune_defaults_are_the_prune_functions():
    api = inspect.signature(prune_table).parameters
    cli = _params("prune")
    shared = [n for n in cli if n in api and api[n].default is not inspect.Parameter.empty]
    assert len(shared) >= 12
    for name in shared:
        expected = api[name].default
        if name == "balanced_by":  # the CLI's None means "class", the function's default
            assert (cli[name].default or "class") == expected
        else:
            assert cli[name].default == expected, name


def test_seeds_defaults_are_the_advisor_function():
    api = inspect.signature(seeds_advice).parameters
    cli = _params("seeds")
    assert cli["keep"].default == f"{api['keep'].default:g}"
    for name in ("target", "method", "draws"):
        assert cli[name].default == api[name].default, name
