"""Run directories named by a hash of the config that affects results (open_lth style)."""

from datadiet.runs.environment import runtime_info
from datadiet.runs.rundir import (
    RunDir,
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    atomic_torch_save,
    config_hash,
    read_json,
    read_parquet_file,
    to_jsonable,
)

__all__ = [
    "RunDir",
    "atomic_save_npy",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "atomic_torch_save",
    "config_hash",
    "read_json",
    "read_parquet_file",
    "runtime_info",
    "to_jsonable",
]
