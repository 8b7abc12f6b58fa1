"""The studies: experiments that answer the papers' questions at CPU scale and write a report to
``RESULTS/NAME`` (``datadiet study diet|lottery``)."""

from __future__ import annotations

from pathlib import Path

from datadiet.errors import DataDietError
from datadiet.experiments.studies.diet import DietStudy
from datadiet.experiments.studies.lottery import MNIST1D, LotteryStudy
from datadiet.validation import check_choice

LOTTERY_SETTINGS = {s.data.name: s for s in (MNIST1D,)}


def _diet(results: Path, only: str | None) -> list:
    if only is not None:
        raise DataDietError(f"only applies to the lottery study, got only={only!r} with study 'diet'")
    return [DietStudy(results=results)]


def _lottery(results: Path, only: str | None) -> list:
    names = list(LOTTERY_SETTINGS) if only is None else [check_choice("only", only, LOTTERY_SETTINGS)]
    return [LotteryStudy(LOTTERY_SETTINGS[n], results) for n in names]


STUDIES = {"diet": _diet, "lottery": _lottery}


def study_experiments(name: str, *, results: str | Path = "results", only: str | None = None) -> list:
    """The experiments of study ``name`` (``diet`` or ``lottery``), writing to ``RESULTS/<study folder>``."""
    check_choice("study", name, STUDIES)
    return STUDIES[name](Path(results), only)


__all__ = ["STUDIES", "DietStudy", "LotteryStudy", "study_experiments"]
