"""Jobs: keys, planning (de-duplicated, dependencies first), skipping, journal, specs rebuilt elsewhere."""

import json
import pickle
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from datadiet.errors import DataDietError
from datadiet.experiments import (
    CheckpointJob,
    Context,
    DatasetSpec,
    ScoreJob,
    SelectJob,
    SweepConfig,
    SweepSpec,
    TrainJob,
    as_spec,
    closure,
    levels,
    run_job,
    train_in_run_dir,
)
from datadiet.runs import RunDir
from datadiet.training import TrainConfig

TCFG = TrainConfig(model="mlp", epochs=2, batch_size=32)


def journal(out):
    return [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]


def test_plan_is_deduplicated_by_key_and_ordered_by_dependencies(tiny_images):
    cfg = SweepConfig(
        methods=("random", "el2n", "grand", "grand@0"), fractions=(0.0, 0.3, 0.5), seeds=2, train=TCFG, score_seeds=3
    )
    spec = SweepSpec(as_spec(tiny_images), cfg)
    cells, jobs = spec.cells(), spec.plan()
    assert len(cells) == 4 * 3 * 2
    kinds = Counter(j.kind for j in jobs)
    # full data: one run per seed shared by the 4 methods; pruned: 4 methods x 2 fractions x 2 seeds
    assert kinds["train"] == 2 + 4 * 2 * 2
    assert kinds["select"] == 4 * 2 * 2
    assert kinds["score"] == 3  # random has no scoring job
    # el2n and grand score at epoch 2 from the same 3 training runs; grand@0 needs 3 at initialisation
    assert kinds["ckpt"] == 3 + 3
    assert len({j.key() for j in jobs}) == len(jobs)
    position = {j.key(): i for i, j in enumerate(jobs)}
    for j in jobs:
        assert all(position[d.key()] < position[j.key()] for d in j.deps())
    lv = levels(jobs)
    assert [sorted({j.kind for j in level}) for level in lv] == [
        ["ckpt", "select", "train"],  # scoring runs, random selections, full-data runs
        ["score", "train"],  # scores; training on random subsets
        ["select"],
        ["train"],
    ]


def test_keys_are_run_directory_names_and_stay_what_they_were(tiny_images, tmp_path):
    spec = as_spec(tiny_images)
    job = TrainJob(spec, TCFG)
    old = RunDir(
        tmp_path,
        "train",
        {"dataset": {"name": "tiny", "fingerprint": tiny_images.fingerprint}, "train": TCFG, "subset": None},
    )
    assert job.key() == old.path.name  # full-data runs keep the directories of earlier versions
    assert job == TrainJob(as_spec(tiny_images), TCFG) and hash(job) == hash(TrainJob(as_spec(tiny_images), TCFG))
    assert job.key() != TrainJob(spec, TCFG.with_seed(1)).key()
    sel = SelectJob(spec, keep=0.5, strategy="random", seed=0)
    assert TrainJob(spec, TCFG, sel).key() not in (
        job.key(),
        TrainJob(spec, TCFG, SelectJob(spec, keep=0.5, strategy="random", seed=1)).key(),
    )
    # options a strategy does not use do not change its key
    assert SelectJob(spec, keep=0.5, strategy="random", offset=0.2).key() == sel.key()


def test_run_names_cannot_escape_the_output_root(tmp_path):
    for kind in ("../up", "a/b", "/abs", "", "A", "x" * 40):
        with pytest.raises(DataDietError, match="run kind"):
            RunDir(tmp_path, kind, {})
    rd = RunDir(tmp_path, "train", {"name": "../../etc"}).create()
    assert rd.path.parent == tmp_path and rd.path.name.startswith("train_")


def test_a_finished_job_never_runs_again_and_the_journal_says_so(tiny_images, tmp_path):
    job = TrainJob(as_spec(tiny_images), TCFG)
    first = run_job(job, Context(tmp_path))
    again = run_job(job, Context(tmp_path))
    assert first["resumed"] == "new" and again["resumed"] == "finished earlier"
    assert again["test_accuracy"] == first["test_accuracy"]
    events = [(e["event"], e["key"]) for e in journal(tmp_path)]
    assert events == [("start", job.key()), ("done", job.key())]
    assert not (tmp_path / job.key() / "state.pt").exists()  # the resume state goes once the result is written


def test_a_failing_job_leaves_no_result_and_runs_again(tiny_images, tmp_path):
    spec = as_spec(tiny_images)
    bad = SelectJob(spec, keep=0.0, strategy="random")  # keeps nothing
    with pytest.raises(DataDietError, match="prunes every example"):
        run_job(bad, Context(tmp_path))
    assert not bad.is_done(tmp_path)
    assert [e["event"] for e in journal(tmp_path)] == ["start"]


def test_given_subsets_are_keyed_by_their_indices(tiny_images, tmp_path):
    idx = np.arange(0, 256, 2)
    a = train_in_run_dir(tiny_images, TCFG, tmp_path, subset=idx)
    b = train_in_run_dir(tiny_images, TCFG, tmp_path, subset=idx[::-1].copy())  # same set, other order
    c = train_in_run_dir(tiny_images, TCFG, tmp_path, subset=idx[1:])
    assert a["run_dir"] == b["run_dir"] != c["run_dir"]
    assert b["resumed"] == "finished earlier" and a["train_size"] == 128
    np.testing.assert_array_equal(np.load(f"{a['run_dir']}/subset.npy"), idx)


def test_dataset_specs_rebuild_the_data_in_another_process_and_refuse_other_data(tmp_path):
    spec = DatasetSpec("digits", label_noise=0.1, noise_seed=3).resolve()
    job = ScoreJob(spec, SweepConfig(train=TCFG).score_config("el2n"))
    blob = tmp_path / "job.pkl"
    blob.write_bytes(pickle.dumps(job))
    code = (
        "import pickle, sys; j = pickle.load(open(sys.argv[1], 'rb')); "
        "ds = j.data.load(); print(j.key(), ds.fingerprint, int(ds.noisy.sum()))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(blob)], capture_output=True, text=True, check=True)
    key, fingerprint, noisy = out.stdout.split()
    assert key == job.key() and fingerprint == spec.fingerprint and int(noisy) == round(0.1 * spec.load().num_train)
    assert [d.kind for d in job.deps()] == ["ckpt", "ckpt"]
    assert isinstance(job.deps()[0], CheckpointJob)
    other = DatasetSpec("digits", fingerprint="0123456789abcdef")
    with pytest.raises(DataDietError, match="data differs between machines"):
        other.load()


def test_closure_includes_dependencies_once(tiny_images):
    spec = as_spec(tiny_images)
    score = ScoreJob(spec, SweepConfig(train=TCFG, score_seeds=2).score_config("el2n"))
    sels = [SelectJob(spec, keep=0.5, seed=s, scores=score) for s in range(3)]
    jobs = closure([TrainJob(spec, TCFG, s) for s in sels])
    assert Counter(j.kind for j in jobs) == {"ckpt": 2, "score": 1, "select": 3, "train": 3}
