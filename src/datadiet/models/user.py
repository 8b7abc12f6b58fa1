"""Your own model: ``package.module:factory`` on your ``PYTHONPATH``, a factory, or a module instance.

``factory(input_shape, num_classes)`` returns a freshly initialised ``torch.nn.Module``. It is
called with torch's global RNG seeded by the run's ``init_seed`` (and restored after), so a factory
that initialises through torch is deterministic per seed like the built-in models.

A model is named in run keys by its spec and a hash of its source: for ``package.module:factory``
the bytes of the module's file, so editing the file gives new run directories instead of reusing
results of the old code. A factory passed as a Python object becomes ``module:qualname`` when that
name imports back to it (so Ray workers can build it too); otherwise (a lambda, a local function, a
function of ``__main__``) it is registered in this process only as ``local:qualname``. A module
instance (``nn.Module``) starts every run from a copy of its own weights (``instance:Class``, keyed
by the hash of its class's source and its weights; ``init_seed`` does not change them).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import inspect
import re
from collections.abc import Callable

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


def _file_hash(fn) -> str:
    try:
        path = inspect.getsourcefile(fn)
        with open(path, "rb") as f:
            data = f.read()
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
            why = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise DataDietError(
                f"model {name!r} failed to build for input shape {tuple(input_shape)} and {num_classes} classes "
                f"({type(e).__name__}{': ' + why if why else ''})"
            ) from None
    if not isinstance(model, nn.Module):
        raise DataDietError(f"model {name!r} must return a torch.nn.Module, got {type(model).__name__}")
    return model
