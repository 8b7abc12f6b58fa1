"""README.md's results blocks are generated from the committed results, and agree with report.md."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import datadiet.stages  # noqa: F401  (defines every job kind)
from datadiet import readme
from datadiet.engine.jobs import Job
from datadiet.experiments.sweep import write_report
from datadiet.tables import full_data_rows

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted(p.parent for p in (ROOT / "results").glob("*/results.parquet"))


def test_there_are_committed_results():
    assert COMMITTED, "no results/*/results.parquet"


def test_readme_check_passes_on_the_committed_readme():
    p = subprocess.run(
        [sys.executable, "-m", "datadiet.readme", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, f"README.md is stale; run python -m datadiet.readme\n{p.stdout}{p.stderr}"


def test_every_block_is_in_the_readme_and_every_folder_has_a_table():
    text = (ROOT / "README.md").read_text()
    for name in readme.BLOCKS:
        assert f"\n<!-- results:{name} -->\n" in text and f"\n<!-- /results:{name} -->\n" in text, name
    tables = {
        b.keywords["folder"]
        for b in readme.BLOCKS.values()
        if b.func in (readme.table_block, readme.diet_block, readme.reproduce_block)
    }
    assert {f"results/{d.name}" for d in COMMITTED} <= tables


def test_readme_results_section_has_no_hand_typed_accuracies():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Results\n") :]
    section = section[: section.index("\n### Finding mislabeled examples")]
    prose = re.sub(r"<!-- results:([\w.-]+) -->\n.*?<!-- /results:\1 -->", "", section, flags=re.S)
    prose = re.sub(r"```.*?```", "", prose, flags=re.S)  # commands
    assert not re.findall(r"\d+\.\d+", prose), "numbers in README prose must come from a generated block"


@pytest.mark.parametrize("folder", COMMITTED, ids=[d.name for d in COMMITTED])
def test_report_accuracy_table_equals_the_parquet_means(folder, tmp_path):
    for name in ("results.parquet", "summary.json"):
        if (folder / name).exists():
            shutil.copy(folder / name, tmp_path / name)
    report = write_report(tmp_path).read_text()
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## Test accuracy (%) by fraction pruned"))
    assert "budget: equal" in lines[start]
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            table.append([c.strip() for c in line.strip("|").split("|")])
    header, rows = table[0], table[2:]
    fractions = [float(h.rstrip("%")) / 100 for h in header[1:]]
    res = pd.read_parquet(folder / "results.parquet")
    full = full_data_rows(res)["test_accuracy"]
    seen = 0
    for method, *cells in rows:
        for f, cell in zip(fractions, cells):
            accs = (
                full
                if f == 0
                else res.loc[(res["method"] == method) & (res["fraction"].round(6) == round(f, 6)), "test_accuracy"]
            )
            if not len(accs):
                assert cell == ""
                continue
            # the same run under every method: the parquet's per-method mean at fraction 0 is the pooled one
            if f == 0:
                per_method = res.loc[(res["method"] == method) & (res["fraction"] == 0), "test_accuracy"]
                if len(per_method):
                    assert f"{100 * per_method.mean():.2f}" == f"{100 * accs.mean():.2f}"
                else:  # a study's derived rows (el2n-window) show the pooled full-data runs without rows of their own
                    seen -= 1
            m = re.fullmatch(r"(\d+\.\d\d)(?: ± (\d+\.\d\d))? \(n=(\d+)\)", cell)
            assert m, cell
            assert m.group(1) == f"{100 * accs.mean():.2f}", (method, f, cell)
            assert int(m.group(3)) == len(accs)
            if len(accs) > 1:
                assert m.group(2) == f"{100 * accs.std(ddof=1):.2f}", (method, f, cell)
            else:
                assert m.group(2) is None
            seen += 1
    assert seen == res.groupby(["method", "fraction"]).ngroups


def test_check_reports_a_stale_block_and_the_rewrite_fixes_it(tmp_path, capsys):
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- results:headline -->")
    stale = text[:start] + re.sub(r"\d\d\.\d\d", "12.34", text[start:], count=1)
    assert stale != text
    path = tmp_path / "README.md"
    path.write_text(stale)
    assert readme.main(["--check", "--root", str(ROOT), "--readme", str(path)]) == 1
    out = capsys.readouterr().out
    assert "block 'headline' is stale" in out and "12.34" in out
    assert path.read_text() == stale  # --check changes nothing
    assert readme.main(["--root", str(ROOT), "--readme", str(path)]) == 0
    assert path.read_text() == text
    assert readme.main(["--check", "--root", str(ROOT), "--readme", str(path)]) == 0


def test_unknown_or_unclosed_block_is_an_error(tmp_path, capsys):
    path = tmp_path / "README.md"
    path.write_text("# x\n\n<!-- results:nope -->\n<!-- /results:nope -->\n")
    assert readme.main(["--check", "--root", str(ROOT), "--readme", str(path)]) == 2
    assert "nope" in capsys.readouterr().err
    path.write_text("# x\n\n<!-- results:headline -->\nold\n")
    assert readme.main(["--root", str(ROOT), "--readme", str(path)]) == 2
    assert "no closing" in capsys.readouterr().err


def test_headline_puts_equal_steps_next_to_equal_epochs():
    block = readme.BLOCKS["headline"](ROOT)
    lines = block.splitlines()
    header = next(line for line in lines if line.startswith("| |"))
    assert "equal steps" in header and "equal epochs" in header
    labels = [line.split("|")[1].strip() for line in lines if line.startswith("| ") and not line.startswith("| |")]
    assert labels == [
        "setup",
        "full data",
        "EL2N, 50% pruned",
        "random, 50% pruned",
        "EL2N vs full: matches?",
        "EL2N vs random: beats?",
        "report",
    ]
    setup = next(line for line in lines if line.startswith("| setup |"))
    assert "budget: equal steps" in setup and "budget: equal epochs" in setup
    diff = next(line for line in lines if line.startswith("| EL2N vs random"))
    assert re.search(r"[+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\] (established|not established|refuted)", diff)


def test_the_readme_loop_example_runs(tmp_path):
    """The "your own loop" example, taken from README.md as it stands, scores, prunes and retrains."""
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- example:own-loop -->\n```python\n") + len("<!-- example:own-loop -->\n```python\n")
    code = text[start : text.index("```", start)]
    assert 20 <= len(code.strip().splitlines()) <= 40
    (tmp_path / "loop.py").write_text(code)
    p = subprocess.run([sys.executable, "loop.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    m = re.search(r"full data (\d\.\d+), hardest half (\d\.\d+), forgotten at least once: (\d\.\d+)", p.stdout)
    assert m, p.stdout
    full, half, forgotten = map(float, m.groups())
    assert full > 0.8 and half > 0.7 and 0 < forgotten < 1


def _job_kinds(cls) -> set[str]:
    """The kinds of the package's jobs (not of jobs that tests define for themselves)."""
    kinds = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("datadiet."):
            kinds.add(sub.kind)
        kinds |= _job_kinds(sub)
    return kinds


def test_the_run_directory_table_lists_every_folder_the_code_makes():
    """Every job kind (ckpt, score, ..., rewind, imp, lmc) and every experiment's folder (scoring, sweep,
    lottery, lmcrun) has its row in README's table of run directories."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("### Run directories") :]
    table = table[: table.index("\n\n", table.index("| directory |"))]
    sources = (ROOT / "src" / "datadiet" / "experiments").rglob("*.py")
    folders = {k for p in sources for k in re.findall(r"RunDir\(out, \"([\w-]+)\"", p.read_text())}
    kinds = (_job_kinds(Job) - {"job"}) | folders
    assert {"rewind", "imp", "lmc", "lottery", "lmcrun"} <= kinds
    missing = sorted(k for k in kinds if f"| `{k}_<hash>` |" not in table)
    assert not missing, f"README's run-directory table lacks {missing}"
