"""Run directories and atomic file writes.

A run directory is ``ROOT/<kind>_<hash>`` where the hash covers only the config fields that affect
results, so asking for the same work twice finds the finished stage and skips it, and an interrupted
run resumes in the same place. Every file is written to a temporary name in the same directory and
renamed into place, so a killed process never leaves a half-written result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from datadiet.errors import DataDietError


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, tuples, numpy scalars and paths to plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_jsonable(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not (f.metadata.get("omit_default") and getattr(obj, f.name) == f.default)
        }  # a field added later with omit_default leaves the keys of configs that do not use it unchanged
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def config_hash(config: Any, length: int = 12) -> str:
    """Stable hash of a config (dataclass or JSON-able value)."""
    text = json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import, before any thread could race on it


def _os_reason(e: OSError) -> str:
    return e.strerror or " ".join(str(e).split()) or type(e).__name__


def cannot_write(path: str | os.PathLike, e: OSError) -> DataDietError:
    """The one-line error for a file or folder that cannot be written (read-only, under a file, disk full)."""
    return DataDietError(f"cannot write to {path}: {_os_reason(e)}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file next to ``path``, fsync, then rename it into place.

    An OSError (folder not creatable, read-only, a regular file in the way, disk full) becomes a
    one-line :class:`DataDietError` ``cannot write to PATH: REASON``; the temporary file is removed
    and ``path`` keeps its old content (or stays absent).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise cannot_write(path, e) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600: give the file the mode open() would
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise cannot_write(path, e) from None
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n"
    return atomic_write_bytes(path, text.encode())


def atomic_write_parquet(path: str | os.PathLike, frame) -> Path:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_save_npy(path: str | os.PathLike, arr: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, arr)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> Path:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataDietError(f"file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataDietError(f"corrupt JSON file {path}: {e}") from None
    except OSError as e:
        raise DataDietError(f"cannot read {path}: {_os_reason(e)}") from None


def read_parquet_file(path: str | os.PathLike, what: str):
    """A parquet table a job wrote (``what`` names it in errors): missing or corrupt -> one line."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataDietError(f"{what} not found: {path}")
    try:
        return pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise DataDietError(f"corrupt {what} {path}: {type(e).__name__}") from None


_KIND = re.compile(r"[a-z][a-z0-9-]{0,31}")


class RunDir:
    """``root/<kind>_<hash(config)>`` with ``config.json`` and per-stage completion markers."""

    def __init__(self, root: str | os.PathLike, kind: str, config: Any):
        if not isinstance(kind, str) or not _KIND.fullmatch(kind):
            # the folder name is KIND_HASH, one path component: nothing a run is called can leave root
            raise DataDietError(f"run kind must be lowercase letters, digits and '-', got {kind!r}")
        self.config = to_jsonable(config)
        self.hash = config_hash(self.config)
        self.path = Path(root) / f"{kind}_{self.hash}"
        self.kind = kind

    def create(self) -> "RunDir":
        """Make the folder and write ``config.json`` (or check the one there matches).

        A folder that cannot be made or written raises ``DataDietError("cannot write to PATH: REASON")``.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise cannot_write(self.path, e) from None
        cfg = self.path / "config.json"
        if cfg.exists():
            stored = read_json(cfg)
            if stored != self.config:
                raise DataDietError(f"run directory {self.path} holds a different config.json")
        else:
            atomic_write_json(cfg, self.config)
        return self

    @contextmanager
    def lock(self) -> Iterator[RunDir]:
        """Hold this run directory exclusively (an advisory ``flock`` on ``.lock``).

        A second process that asks for a directory in use says so on stderr and waits; when it gets
        the lock it finds the first one's finished result, or the resume state of a run the first
        one left (killed processes release their lock), so two processes never train into one
        directory at once.
        """
        import fcntl

        try:
            fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise cannot_write(self.path / ".lock", e) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                who = f" (pid {holder})" if holder.isdigit() else ""
                sys.stderr.write(f"datadiet: {self.path} is in use by another process{who}; waiting for it\n")
                sys.stderr.flush()
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield self
        finally:
            os.close(fd)  # releases the lock

    def file(self, name: str) -> Path:
        return self.path / name

    def is_done(self, stage: str) -> bool:
        return (self.path / f"{stage}.done").exists()

    def mark_done(self, stage: str) -> None:
        atomic_write_bytes(self.path / f"{stage}.done", b"")

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"RunDir({str(self.path)!r})"
