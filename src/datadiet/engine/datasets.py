"""Datasets as job inputs: a spec any process rebuilds the data from, and the copies executors ship.

A :class:`DatasetSpec` names a registered dataset (or ``npz:PATH``, ``folder:PATH``) with its options
and the content fingerprint planning fixed; every job holds one, so a worker in another process
loads exactly the data the plan was made on, or refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from datadiet.data import load_dataset
from datadiet.data.dataset import Dataset
from datadiet.data.groups import apply_grouping
from datadiet.data.sources import LazySource
from datadiet.data.split import check_val_fraction, split_validation
from datadiet.errors import DataDietError
from datadiet.validation import check_positive_int


@dataclass(frozen=True)
class DatasetSpec:
    """How to rebuild a dataset in any process: a registered name (or ``npz:PATH``) and its options.

    ``fingerprint`` is the content fingerprint the data must have (set by :meth:`resolve` when a job
    is planned); a worker whose copy differs refuses to run instead of computing on other data.
    ``data`` carries an in-memory :class:`Dataset` (see :meth:`of`): it is used as is in-process and
    shipped by value to Ray workers; it is not part of the spec's identity (the fingerprint is).
    ``groups`` names a grouping of :data:`datadiet.data.groups.GROUPINGS` applied on load (None: the
    data's own groups, if any). Groups change no training, so they are not part of :meth:`key`.
    ``val_fraction`` > 0 holds out a stratified validation part of the training set, drawn by
    ``val_seed`` (:func:`datadiet.data.split.split_validation`); it changes the fingerprint, hence
    every key. At their defaults both fields are left out of the spec's JSON (``omit_default``), so
    the keys of specs without a validation part are what they were before these fields existed.
    """

    name: str
    data_dir: str | None = None
    label_noise: float = 0.0
    noise_seed: int = 0
    samples: int | None = None
    fingerprint: str | None = None
    data: Dataset | None = field(default=None, compare=False, repr=False)
    groups: str | None = field(default=None, metadata={"omit_default": True})
    val_fraction: float = field(default=0.0, metadata={"omit_default": True})
    val_seed: int = field(default=0, metadata={"omit_default": True})
    test_samples: int | None = field(default=None, metadata={"omit_default": True})

    def __post_init__(self):
        object.__setattr__(self, "val_fraction", check_val_fraction(self.val_fraction))
        object.__setattr__(self, "val_seed", check_positive_int("val_seed", self.val_seed, allow_zero=True))

    @classmethod
    def of(cls, dataset: Dataset | LazySource) -> DatasetSpec:
        """The spec of a dataset given by the API: in memory (user arrays, test fixtures), or a lazy source
        (:func:`~datadiet.data.sources.from_torch_lazy`, ...), whose inputs the spec's Dataset reads
        lazily (:meth:`~datadiet.data.sources.LazySource.to_lazy_dataset`)."""
        if isinstance(dataset, LazySource):
            dataset = dataset.to_lazy_dataset()
        if not isinstance(dataset, Dataset):
            raise DataDietError(f"dataset must be a datadiet Dataset or DatasetSpec, got {type(dataset).__name__}")
        return cls(name=dataset.name, fingerprint=dataset.fingerprint, data=dataset)

    def load(self) -> Dataset:
        if self.data is not None:
            ds = self.data
        elif self.fingerprint is not None and self.fingerprint in _SHIPPED:
            ds = _SHIPPED[self.fingerprint]  # sent to this worker by its executor
        else:
            ds = load_dataset(
                self.name,
                data_dir=self.data_dir,
                label_noise=self.label_noise,
                noise_seed=self.noise_seed,
                samples=self.samples,
                val_fraction=self.val_fraction,
                val_seed=self.val_seed,
                test_samples=self.test_samples,
            )
        ds = self._split(ds)
        if self.fingerprint is not None and ds.fingerprint != self.fingerprint:
            raise DataDietError(
                f"dataset {self.name!r} here has fingerprint {ds.fingerprint}, but the job was planned on "
                f"{self.fingerprint}: the data differs between machines"
            )
        if self.groups is not None:
            ds = apply_grouping(ds, self.groups)
        return ds

    def _split(self, ds: Dataset) -> Dataset:
        """``ds`` with this spec's validation part (in-memory data given unsplit is split here)."""
        if self.val_fraction == 0:
            return ds
        if ds.x_val is None:
            return split_validation(ds, self.val_fraction, self.val_seed)
        if (ds.val_fraction, ds.val_seed) != (self.val_fraction, self.val_seed):
            raise DataDietError(
                f"dataset {self.name!r} already has a validation part (val_fraction={ds.val_fraction:g}, "
                f"val_seed={ds.val_seed}), not the spec's val_fraction={self.val_fraction:g}, val_seed={self.val_seed}"
            )
        return ds

    def resolve(self) -> DatasetSpec:
        """This spec with the fingerprint of the data it loads (planning fixes what every job reads)."""
        return self if self.fingerprint is not None else replace(self, fingerprint=self.load().fingerprint)

    def key(self) -> dict:
        """The part that affects results: the name and the content fingerprint (noise included)."""
        if self.fingerprint is None:
            raise DataDietError("DatasetSpec.key() needs a resolved spec (call resolve() first)")
        return {"name": self.name, "fingerprint": self.fingerprint}


_SHIPPED: dict[str, Dataset] = {}  # datasets an executor sent to this process, by fingerprint


def receive_dataset(dataset: Dataset) -> None:
    """Keep a dataset an executor sent here, so specs with its fingerprint load it without rebuilding."""
    _SHIPPED[dataset.fingerprint] = dataset


def shipped(fingerprint: str) -> bool:
    return fingerprint in _SHIPPED


def as_spec(dataset: Dataset | LazySource | DatasetSpec) -> DatasetSpec:
    """A resolved :class:`DatasetSpec` from a spec, a dataset or a lazy source."""
    return (dataset if isinstance(dataset, DatasetSpec) else DatasetSpec.of(dataset)).resolve()
