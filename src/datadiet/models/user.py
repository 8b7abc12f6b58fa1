"""Your own model: ``package.module:factory`` on your ``PYTHONPATH``, a factory, or a module instance.

``factory(input_shape, num_classes)`` returns a freshly initialised ``torch.nn.Module``. It is
called with torch's global RNG seeded by the run's ``init_seed`` (and restored after), so a factory
that initialises through torch is deterministic per seed like the built-in models.

A model is named in run keys by its spec and a hash of its source (:func:`source_files`): the whole
source of the package the factory lives in, and of every module or package it imports from the same
folder (found by reading the import statements, so the key does not depend on what else this process
imported). Editing any of them gives new run directories instead of reusing results of the old
code. Imports by string (``importlib.import_module``) and data files are not followed. A factory
passed as a Python object becomes ``module:qualname`` when that name imports back to it (so Ray workers can build it too); otherwise (a lambda, a local function, a
function of ``__main__``) it is registered in this process only as ``local:qualname``. A module
instance (``nn.Module``) starts every run from a copy of its own weights (``instance:Class``, keyed
by the hash of its class's source and its weights; ``init_seed`` does not change them).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib
import inspect
import os
import re
import sysconfig
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from datadiet.errors import DataDietError

SPEC = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
LOCAL_PREFIXES = ("local:", "instance:")
_LOCAL: dict[str, tuple[Callable[..., nn.Module], str]] = {}  # in-process models: spec -> (factory, hash)


def is_user_model(name) -> bool:
    """Whether ``name`` names a user model (``module:factory``, or one registered in this process)."""
    return isinstance(name, str) and (bool(SPEC.match(name)) or name.startswith(LOCAL_PREFIXES))


def _resolve(spec: str) -> Callable[..., nn.Module]:
    module_name, _, attr = spec.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except Exception as e:  # ModuleNotFoundError, or whatever the user's module raises on import
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataDietError(
            f"cannot import model module {module_name!r} ({type(e).__name__}: {why}); is it on PYTHONPATH?"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise DataDietError(f"model module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise DataDietError(f"model {spec!r} is not callable: factory(input_shape, num_classes) -> nn.Module")
    return obj


def _unit(root: Path, name: str) -> list[Path]:
    """The source files of the top-level module or package ``name`` in ``root`` (none if not there)."""
    if (root / name / "__init__.py").is_file():
        return sorted(p for p in (root / name).rglob("*.py") if p.is_file())
    return [root / f"{name}.py"] if (root / f"{name}.py").is_file() else []


def _imported_names(path: Path) -> set[str]:
    """The top-level names ``path`` imports (absolute imports, anywhere in the file)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.partition(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def _installed(root: Path) -> bool:
    """Whether ``root`` holds installed or standard-library code (its sibling imports are not followed)."""
    paths = sysconfig.get_paths()
    shared = {Path(paths[k]).resolve() for k in ("purelib", "platlib", "stdlib", "platstdlib") if k in paths}
    return root in shared or root.name in ("site-packages", "dist-packages")


def source_files(path: str | Path) -> list[Path]:
    """The files a user model's key covers, for the module file ``path``: its whole top-level package
    (or the module alone), and each module or package of the same folder that any of these import,
    followed transitively. Installed packages cover their own source only."""
    path = Path(path).resolve()
    root, top = path.parent, path.stem
    while (root / "__init__.py").is_file():  # climb to the folder that holds the top-level package
        root, top = root.parent, root.name
    files = _unit(root, top) or [path]
    if _installed(root):
        return files
    seen, todo = {top}, list(files)
    while todo:
        for name in sorted(_imported_names(todo.pop()) - seen):
            seen.add(name)
            unit = _unit(root, name)
            files += unit
            todo += unit
    return sorted(set(files))


_HASHES: dict[str, tuple[list[Path], tuple, str]] = {}  # path -> (files, their stamp, hash): configs are many


def _stamp(files: list[Path]) -> tuple:
    """What changes when a file or folder of ``files`` changes (a new module in a folder included)."""
    paths = sorted(set(files) | {f.parent for f in files})
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)


def _files_hash(path: str | Path) -> str:
    key = str(path)
    if key in _HASHES:
        files, stamp, h = _HASHES[key]
        try:
            if _stamp(files) == stamp:
                return h
        except OSError:
            pass
    files = source_files(path)
    root = Path(os.path.commonpath([f.parent for f in files]))
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.relative_to(root)}\0".encode())
        digest.update(f.read_bytes())
        digest.update(b"\0")
    _HASHES[key] = (files, _stamp(files), digest.hexdigest()[:12])
    return _HASHES[key][2]


def _file_hash(fn) -> str:
    try:
        return _files_hash(inspect.getsourcefile(fn))
    except (TypeError, OSError):
        try:
            data = inspect.getsource(fn).encode()
        except (TypeError, OSError):
            data = repr(fn).encode()
    return hashlib.sha256(data).hexdigest()[:12]


def source_hash(name: str) -> str:
    """The hash of the user model's source that goes into run keys."""
    if name.startswith(LOCAL_PREFIXES):
        if name not in _LOCAL:
            raise DataDietError(
                f"model {name!r} was registered in another process; put its factory in an importable module "
                "(package.module:factory) to run it elsewhere"
            )
        return _LOCAL[name][1]
    return _file_hash(_resolve(name))


def as_model_name(model) -> str:
    """A model name for configs: a string as it is; a factory or an ``nn.Module`` instance as a spec."""
    if isinstance(model, str):
        return model
    if isinstance(model, nn.Module):
        weights = hashlib.sha256()
        for k, v in model.state_dict().items():
            weights.update(k.encode())
            weights.update(v.detach().cpu().contiguous().numpy().tobytes())
        h = hashlib.sha256((_file_hash(type(model)) + weights.hexdigest()).encode()).hexdigest()[:12]
        spec = f"instance:{type(model).__qualname__}:{h}"
        frozen = copy.deepcopy(model).cpu()
        _LOCAL[spec] = (lambda input_shape, num_classes: copy.deepcopy(frozen), h)
        return spec
    if callable(model):
        module, qual = getattr(model, "__module__", None), getattr(model, "__qualname__", "")
        if module and module != "__main__" and "<" not in qual:
            spec = f"{module}:{qual}"
            try:
                if _resolve(spec) is model:
                    return spec
            except DataDietError:
                pass
        h = _file_hash(model)
        spec = f"local:{qual or type(model).__name__}:{h}"
        _LOCAL[spec] = (model, h)
        return spec
    raise DataDietError(
        f"model must be a name, package.module:factory, a factory or an nn.Module, got {type(model).__name__}"
    )


def _reason(e: Exception) -> str:
    """What the user's code raised, on one line: ``TypeError: its first line`` (the type alone if empty)."""
    why = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}{': ' + why if why else ''}"


def build_user_model(name: str, input_shape, num_classes: int, *, seed: int, expected_hash: str | None = None):
    """Call the user's factory with torch's RNG seeded by ``seed``; checks what it returns."""
    if name.startswith(LOCAL_PREFIXES):
        source_hash(name)  # the one-line error for a model of another process
        factory, h = _LOCAL[name]
    else:
        factory, h = _resolve(name), None
    if expected_hash and (h or source_hash(name)) != expected_hash:
        raise DataDietError(
            f"model {name!r}: its source changed since the run was planned (hash {expected_hash}, now "
            f"{h or source_hash(name)}); plan the run again"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = factory(tuple(int(s) for s in input_shape), int(num_classes))
        except DataDietError:
            raise
        except Exception as e:
            raise DataDietError(
                f"model {name!r} failed to build for input shape {tuple(input_shape)} and {num_classes} classes "
                f"({_reason(e)})"
            ) from None
    if not isinstance(model, nn.Module):
        raise DataDietError(f"model {name!r} must return a torch.nn.Module, got {type(model).__name__}")
    check_output(name, model, input_shape, num_classes)
    return model


PROBE = 2  # examples in the batch a user's model is checked on


def check_output(name: str, model: nn.Module, input_shape, num_classes: int) -> None:
    """A user's model must have trainable parameters and map a batch ``(N, *input_shape)`` to logits
    ``(N, num_classes)``: checked on a batch of zeros, in eval mode without gradients (weights, buffers
    and the global RNG unchanged)."""
    if not any(p.requires_grad for p in model.parameters()):
        raise DataDietError(f"model {name!r} has no trainable parameters")
    shape = (PROBE, *(int(s) for s in input_shape))
    modes = [(m, m.training) for m in model.modules()]
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            out = model.eval()(torch.zeros(shape))
    except Exception as e:
        raise DataDietError(f"model {name!r} failed on a batch of shape {shape} ({_reason(e)})") from None
    finally:
        for m, training in modes:
            m.training = training
    if not isinstance(out, torch.Tensor):
        raise DataDietError(
            f"model {name!r} must return a tensor of logits (N, {num_classes}), got {type(out).__name__}"
        )
    if tuple(out.shape) != (PROBE, int(num_classes)) or not out.is_floating_point():
        raise DataDietError(
            f"model {name!r} returns {out.dtype} of shape {tuple(out.shape)} for a batch of {PROBE}; expected "
            f"logits of shape ({PROBE}, {num_classes}), one per class"
        )
