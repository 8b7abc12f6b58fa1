"""Executors: the same jobs give the same tables in-process and on a real local Ray instance
(bound to 127.0.0.1, started and stopped here); a killed Ray worker's job is retried and resumes."""

import os
import signal
import sys
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd
import pytest

from datadiet.errors import DataDietError
from datadiet.experiments import (
    Context,
    DatasetSpec,
    InProcess,
    RayExecutor,
    SweepConfig,
    TrainJob,
    make_executor,
    run_jobs,
    run_sweep,
)
from datadiet.runs import RunDir
from datadiet.training import TrainConfig

ray = pytest.importorskip("ray", reason="the ray extra (pip install 'datadiet[ray]')")

TCFG = TrainConfig(model="mlp", epochs=2, batch_size=64)
# wall-clock columns and the folder they ran in differ between two runs; everything else must not
VARIES = ["train_seconds", "scoring_seconds", "run_dir"]


@pytest.fixture(scope="module")
def ray_executor():
    ex = RayExecutor(workers=2, threads=1)
    yield ex
    ex.close()
    assert not ray.is_initialized()


def test_a_sweep_on_ray_gives_the_in_process_table(ray_executor, tmp_path):
    data = DatasetSpec("digits")  # rebuilt by each worker from its spec
    cfg = SweepConfig(
        methods=("random", "el2n", "forgetting"),
        fractions=(0.0, 0.5),
        seeds=2,
        train=TCFG,
        score_seeds=2,
        score_epoch=1,
    )
    here = run_sweep(data, cfg, out=tmp_path / "here", executor=InProcess(threads=1)).results
    there = run_sweep(data, cfg, out=tmp_path / "ray", executor=ray_executor).results
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}  # traffic stays on this machine
    assert len(here) == 3 * 2 * 2
    pd.testing.assert_frame_equal(here.drop(columns=VARIES), there.drop(columns=VARIES))
    pids = {e for e in _journal_pids(tmp_path / "ray")}
    assert os.getpid() not in pids and len(pids) >= 2  # the jobs ran in (at least two) Ray workers


def _journal_pids(out):
    import json

    return [json.loads(line)["pid"] for line in (out / "journal.jsonl").read_text().splitlines()]


@dataclass(frozen=True)
class KilledOnce(TrainJob):
    """A training job whose first attempt dies by SIGKILL half-way (after its first epoch's resume state)."""

    kind: ClassVar[str] = "killedonce"

    def run(self, rd: RunDir, ctx: Context) -> dict:
        flag = rd.file("killed-once")
        if not flag.exists():
            from datadiet.engine.weights import RunDirCheckpointer
            from datadiet.training import train

            def die_after_first_epoch(done, total):
                if done == total // 2 + 1:  # the first epoch's resume state is saved by then
                    flag.write_text("x")
                    os.kill(os.getpid(), signal.SIGKILL)

            train(
                self.data.load(), self.train, checkpointer=RunDirCheckpointer(rd.path), progress=die_after_first_epoch
            )
        return super().run(rd, ctx)


def test_a_killed_ray_worker_has_its_job_retried_and_resumed(ray_executor, tmp_path):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the job class lives in this test file
    data = DatasetSpec("digits").resolve()
    job = KilledOnce(data, TCFG)
    [result] = ray_executor.map([job], Context(tmp_path))
    assert result["resumed"] == "resumed"  # the retry found the first attempt's resume state
    straight = run_jobs([TrainJob(data, TCFG)], ctx=Context(tmp_path / "straight"), executor=InProcess(threads=1))
    assert result["test_accuracy"] == straight[TrainJob(data, TCFG).key()]["test_accuracy"]
    assert (tmp_path / job.key() / "killed-once").exists()


def test_a_job_error_on_ray_is_the_jobs_own_error(ray_executor, tmp_path):
    from datadiet.experiments import SelectJob

    bad = SelectJob(DatasetSpec("digits").resolve(), keep=0.0, strategy="random")
    with pytest.raises(DataDietError, match="prunes every example"):
        ray_executor.map([bad], Context(tmp_path))


def test_executor_options_are_checked():
    with pytest.raises(DataDietError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(DataDietError, match="apply to executor 'ray' only"):
        make_executor("inprocess", workers=2)
    with pytest.raises(DataDietError, match="workers must be"):
        RayExecutor(workers=0)
