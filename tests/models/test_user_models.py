"""Your own model: package.module:factory from PYTHONPATH, a factory, or an nn.Module, everywhere a model name goes."""

import math
import textwrap

import pytest
import torch
from torch import nn

from datadiet.engine.weights import load_trained_model
from datadiet.errors import DataDietError
from datadiet.experiments import Context, DatasetSpec, TrainJob, run_job
from datadiet.models import build_model, check_model, is_user_model
from datadiet.models.user import source_files
from datadiet.runs import to_jsonable
from datadiet.scores import grand, grand_loop
from datadiet.training import TrainConfig, train
from tests.cli.conftest import last_json, run_cli


def small_net(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 16), nn.Tanh(), nn.Linear(16, num_classes))


def _write_module(root, body):
    pkg = root / "usermodels"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(textwrap.dedent(body))
    return root


TINY = """
    import math
    from torch import nn

    def tiny(input_shape, num_classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 32), nn.ReLU(), nn.Linear(32, num_classes))
"""


def test_cli_trains_and_scores_a_users_module_from_pythonpath(tmp_path):
    root = _write_module(tmp_path / "src", TINY)
    env = {"PYTHONPATH": str(root)}
    out = tmp_path / "runs"
    p = run_cli("train", "digits", "--model", "usermodels.nets:tiny", "--epochs", "2", "--out", out, "--json", env=env)
    assert p.returncode == 0, p.stderr
    first = last_json(p)
    assert first["test_accuracy"] > 0.5
    p = run_cli(
        "score", "digits", "--model", "usermodels.nets:tiny", "--method", "grand", "--epoch", "1", "--epochs", "2",
        "--seeds", "1", "--out", out, "--json", env=env,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert last_json(p)["methods"]["grand"]["scored_at"] == "epoch 1 of 2"
    # the same run again is reused; an edited module is a new run (its source hash is in the key)
    again = last_json(
        run_cli("train", "digits", "--model", "usermodels.nets:tiny", "--epochs", "2", "--out", out, "--json", env=env)
    )
    assert again["run_dir"] == first["run_dir"]
    _write_module(tmp_path / "src", TINY.replace("32", "24"))
    edited = last_json(
        run_cli("train", "digits", "--model", "usermodels.nets:tiny", "--epochs", "2", "--out", out, "--json", env=env)
    )
    assert edited["run_dir"] != first["run_dir"]
    for model, msg in (
        ("usermodels.nets:nope", "has no attribute 'nope'"),
        ("nosuchpkg.nets:tiny", "is it on PYTHONPATH?"),
    ):
        p = run_cli("train", "digits", "--model", model, "--out", out, env=env)
        assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr


def test_api_takes_a_factory_a_spec_or_a_module(tiny_images):
    spec = check_model(small_net)
    assert spec == "tests.models.test_user_models:small_net" and is_user_model(spec)
    cfg = TrainConfig(model=small_net, epochs=1, batch_size=64)
    assert cfg.model == spec and len(cfg.model_hash) == 12
    a, b = train(tiny_images, cfg), train(tiny_images, TrainConfig(model=spec, epochs=1, batch_size=64))
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    one, two = (build_model(spec, (1, 8, 8), 4, seed=s) for s in (0, 1))  # the seed fixes the initialisation
    assert not torch.equal(one[1].weight, two[1].weight)
    assert torch.equal(one[1].weight, build_model(small_net, (1, 8, 8), 4, seed=0)[1].weight)

    local = TrainConfig(model=lambda shape, k: small_net(shape, k), epochs=1)  # not importable: this process only
    assert local.model.startswith("local:")
    train(tiny_images, local)

    net = small_net((1, 8, 8), 4)
    inst = TrainConfig(model=net, epochs=1)
    assert inst.model.startswith("instance:Sequential:")
    built = build_model(inst.model, (1, 8, 8), 4, seed=5)  # its own weights, whatever the seed
    assert built is not net and torch.equal(built[1].weight, net[1].weight)


def test_grand_is_exact_on_a_user_model(tiny_images):
    model = build_model(small_net, tiny_images.input_shape, tiny_images.num_classes, seed=0)
    x, y = tiny_images.x_train[:20], tiny_images.y_train[:20]
    torch.testing.assert_close(torch.from_numpy(grand(model, x, y)), torch.from_numpy(grand_loop(model, x, y)))


def test_user_models_in_jobs_and_their_errors(tiny_images, tmp_path):
    spec = DatasetSpec.of(tiny_images).resolve()
    job = TrainJob(spec, TrainConfig(model=small_net, epochs=1, batch_size=64))
    assert "model_hash" in to_jsonable(job.config())["train"]
    assert "model_hash" not in to_jsonable(TrainJob(spec, TrainConfig(epochs=1)).config())["train"]  # keys unchanged
    run_job(job, Context(tmp_path))
    with pytest.raises(DataDietError, match="width applies to the built-in models only"):
        build_model(small_net, (1, 8, 8), 4, width=0.5)
    with pytest.raises(DataDietError, match="must return a torch.nn.Module"):
        build_model(lambda s, k: "not a model", (1, 8, 8), 4)
    with pytest.raises(DataDietError, match="failed to build"):
        build_model(lambda s, k: 1 / 0, (1, 8, 8), 4)
    with pytest.raises(DataDietError, match="unknown model 'nope'"):
        TrainConfig(model="nope")
    with pytest.raises(DataDietError, match="source changed"):
        build_model(small_net, (1, 8, 8), 4, source_hash="000000000000")


LAYERED = """
    import math
    from torch import nn
    from usermodels.layers import hidden
    import helpers

    def net(input_shape, num_classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), hidden()), nn.ReLU(),
                             nn.Linear(hidden(), helpers.classes(num_classes)))
"""


def test_a_user_models_key_covers_the_modules_it_imports(tmp_path):
    """Editing a module the factory's module imports (in its package or beside it) makes new runs; a
    state dict of another model is refused as one line, not a size-mismatch traceback."""
    root = _write_module(tmp_path / "src", LAYERED)
    (root / "usermodels" / "layers.py").write_text("def hidden():\n    return 16\n")
    (root / "helpers.py").write_text("def classes(k):\n    return k\n")
    (root / "unrelated.py").write_text("X = 1\n")
    env, out = {"PYTHONPATH": str(root)}, tmp_path / "runs"
    args = ("train", "digits", "--model", "usermodels.nets:net", "--epochs", "1", "--out", out, "--json")
    first = last_json(run_cli(*args, env=env))
    (root / "unrelated.py").write_text("X = 2\n")  # not imported: the same run
    assert last_json(run_cli(*args, env=env))["run_dir"] == first["run_dir"]
    (root / "usermodels" / "layers.py").write_text("def hidden():\n    return 24\n")
    second = last_json(run_cli(*args, env=env))
    assert second["run_dir"] != first["run_dir"] and second["resumed"] == "new"
    (root / "helpers.py").write_text("def classes(k):\n    return k  # edited\n")
    assert last_json(run_cli(*args, env=env))["run_dir"] not in (first["run_dir"], second["run_dir"])


def test_source_files_follow_imports_in_the_package_and_its_folder(tmp_path):
    root = _write_module(tmp_path, LAYERED)
    for name, text in (("usermodels/layers.py", ""), ("usermodels/spare.py", ""), ("helpers.py", "import more\n")):
        (root / name).write_text(text)
    (root / "more.py").write_text("import torch\n")
    (root / "unrelated.py").write_text("")
    found = {p.relative_to(root).as_posix() for p in source_files(root / "usermodels" / "nets.py")}
    assert found == {
        "usermodels/__init__.py", "usermodels/layers.py", "usermodels/nets.py", "usermodels/spare.py",
        "helpers.py", "more.py",
    }  # fmt: skip
    assert source_files(root / "more.py") == [root / "more.py"]


def test_a_saved_model_of_another_shape_is_one_line(tiny_images, tmp_path):
    torch.save(small_net((1, 8, 8), 4).state_dict(), tmp_path / "model.pt")
    cfg = TrainConfig(model=lambda s, k: nn.Sequential(nn.Flatten(), nn.Linear(math.prod(s), k)), epochs=1)
    with pytest.raises(DataDietError, match=r"does not fit model .*delete .* to redo it") as e:
        load_trained_model(cfg, tiny_images, tmp_path / "model.pt", "trained weights")
    assert "\n" not in str(e.value)


BAD_FACTORIES = """
    import math
    import torch
    from torch import nn

    def wide(input_shape, num_classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes + 3))

    class Pair(nn.Module):
        def __init__(self, d, k):
            super().__init__()
            self.fc = nn.Linear(d, k)

        def forward(self, x):
            return self.fc(x.flatten(1)), x

    def pair(input_shape, num_classes):
        return Pair(math.prod(input_shape), num_classes)

    def frozen(input_shape, num_classes):
        return nn.Flatten()

    def wrong_input(input_shape, num_classes):
        return nn.Linear(3, num_classes)
"""


def test_a_factorys_output_is_checked_on_one_batch_before_any_run(tmp_path):
    root = _write_module(tmp_path / "src", BAD_FACTORIES)
    env, out = {"PYTHONPATH": str(root)}, tmp_path / "runs"
    for factory, msg in (
        ("wide", "returns torch.float32 of shape (2, 13) for a batch of 2; expected logits of shape (2, 10)"),
        ("pair", "must return a tensor of logits (N, 10), got tuple"),
        ("frozen", "has no trainable parameters"),
        ("wrong_input", "failed on a batch of shape (2, 1, 8, 8) (RuntimeError: mat1 and mat2 shapes"),
    ):
        sweep = ("sweep", "digits", "--methods", "el2n", "--fractions", "0.5") if factory == "wide" else None
        for cmd in filter(None, (("train", "digits"), sweep)):
            p = run_cli(*cmd, "--model", f"usermodels.nets:{factory}", "--epochs", "2", "--out", out, env=env)
            assert p.returncode == 2 and msg in p.stderr, p.stderr
            assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr
    assert not out.exists() or not list(out.glob("*_*/"))  # refused before any run started
