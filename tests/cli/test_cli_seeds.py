"""``datadiet seeds``: the seeds advisor on a tiny digits score run (two epochs, four seeds)."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from datadiet.selection import select
from tests.cli.conftest import last_json, run_cli

SCORE = ["score", "digits", "--method", "el2n@1,el2n@2", "--epochs", "2", "--seeds", "4", "--model", "mlp"]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    p = run_cli(*SCORE, "--no-figures", "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    return out, last_json(p)["run_dir"]


def _naive_overlap(tables: dict, epoch, m: int, keep: float) -> float:
    """Mean over every m-subset of seeds of |kept(mean of the subset at epoch) & kept(mean of the other
    seeds at the last epoch)| / k, the kept sets as select() keeps them."""
    last = tables[max(tables)]
    overlaps = []
    for sub in itertools.combinations(range(4), m):
        cand = tables[epoch][[f"seed_{s}" for s in sub]].to_numpy().mean(axis=1)
        ref = last[[f"seed_{s}" for s in range(4) if s not in sub]].to_numpy().mean(axis=1)
        a, b = set(select(ref, keep=keep)), set(select(cand, keep=keep))
        overlaps.append(len(a & b) / len(a))
    return float(np.mean(overlaps))


def test_seeds_json_has_the_rows_and_the_sentence(scored):
    out, run_dir = scored
    p = run_cli("seeds", run_dir, "--keep", "0.5", "--json")
    assert p.returncode == 0, p.stderr
    got = last_json(p)
    assert got["method"] == "el2n" and got["epochs"] == [1, 2] and got["seeds"] == [0, 1, 2, 3]
    tables = {e: pd.read_parquet(path) for e, path in ((int(e), f"{d}/scores.parquet") for e, d in got["runs"].items())}
    assert got["num_examples"] == len(tables[1]) == len(tables[2])
    assert got["target"] == 0.95 and got["keep"] == [0.5]
    rows = pd.DataFrame(got["rows"])
    assert list(zip(rows["epoch"], rows["seeds"])) == [(1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (2, 4)]
    assert list(rows["comparison"]) == ["disjoint", "disjoint", "nested"] * 2
    assert list(rows["draws"]) == [4, 6, 1] * 2  # every subset: C(4, 1), C(4, 2), C(4, 4)
    for _, r in rows[rows["comparison"] == "disjoint"].iterrows():
        assert r["overlap_mean"] == pytest.approx(_naive_overlap(tables, r["epoch"], int(r["seeds"]), 0.5))
    assert rows.iloc[-1]["overlap_mean"] == 1.0 and rows.iloc[-1]["trivial"]
    sentence = got["sentence"]
    assert sentence.startswith("for this data, ") and "at 50% kept" in sentence and "draws" in sentence
    chosen = got["advice"][0]["chosen"]
    if chosen is not None:  # the sentence names the chosen setting, which reaches the target
        assert chosen["overlap_mean"] >= 0.95 and f"{chosen['seeds']} seed" in sentence
    else:
        assert "no cheaper setting keeps 95%" in sentence
    # the same two epochs named as two score runs, one per epoch; and a lower target is reached
    config = json.loads((out / run_dir.split("/")[-1] / "config.json").read_text())
    per_epoch = [str(out / k) for k in config["scores"]]
    again = last_json(run_cli("seeds", *per_epoch, "--json"))
    assert again["rows"] == got["rows"]
    easy = last_json(run_cli("seeds", run_dir, "--target", "0.5", "--json"))
    assert easy["advice"][0]["chosen"]["seeds"] == 1 and easy["advice"][0]["chosen"]["epoch"] == 1
    assert easy["sentence"].startswith("for this data, 1 seed at epoch 1 keeps ")


def test_seeds_prints_the_table_and_the_sentence(scored):
    _, run_dir = scored
    p = run_cli("seeds", run_dir, "--keep", "0.3,0.5", "--draws", "3")
    assert p.returncode == 0, p.stderr
    assert "overlap" in p.stdout and "other 3" in p.stdout and "all 4*" in p.stdout
    sentences = [line for line in p.stdout.splitlines() if line.startswith("for this data, ")]
    assert len(sentences) == 2 and "at 30% kept" in sentences[0] and "at 50% kept" in sentences[1]
    assert "mean over 3 draws" in p.stdout  # C(4, 1) = 4 > 3: drawn


@pytest.mark.parametrize(
    "setup, message",
    [
        ("missing", "run directory not found"),
        ("empty", "is not a finished `datadiet score` run"),
        ("corrupt", "corrupt JSON file"),
        ("keep", "--keep must be in (0, 1), got 1.5"),
        ("target", "--target must be in [0, 1], got 1.5"),
    ],
)
def test_bad_run_dir_exits_2_with_one_line(tmp_path, scored, setup, message):
    target = tmp_path / "nothing"
    args = []
    if setup == "empty":
        target.mkdir()
    elif setup == "corrupt":
        target.mkdir()
        (target / "scores.parquet").write_bytes(b"not parquet")
        (target / "summary.json").write_text("{not json")
    elif setup in ("keep", "target"):
        target, args = scored[1], [f"--{setup}", "1.5"]
    p = run_cli("seeds", target, *args, "--json")
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], p.stderr
    assert "Traceback" not in p.stderr and not p.stdout.strip()


def test_several_methods_or_one_seed_are_refused(tmp_path, scored):
    out, _ = scored
    p = run_cli(
        "score", "digits", "--method", "random,input-norm", "--seeds", "1", "--no-figures", "--out", out, "--json"
    )
    assert p.returncode == 0, p.stderr
    run_dir = last_json(p)["run_dir"]
    several = run_cli("seeds", run_dir)
    assert (
        several.returncode == 2
        and "several methods (input-norm, random); choose one, e.g. --method input-norm" in several.stderr
    )
    one = run_cli("seeds", run_dir, "--method", "random")
    assert one.returncode == 2 and "at least 2 score seeds" in one.stderr
    assert len(one.stderr.strip().splitlines()) == 1
