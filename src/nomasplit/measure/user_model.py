"""A user's model by name: ``nomasplit profile --model package.module:attr``."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

from nomasplit.errors import InputError
from nomasplit.measure.chain import as_network


@contextmanager
def _working_directory_importable() -> Iterator[None]:
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def load_user_model(spec: str) -> nn.Module:
    """Import a user's model from ``package.module:attr``: a chain of split units, or the DAG model itself.

    ``attr`` (dotted names allowed, e.g. ``Models.small``) is an ``nn.Module`` instance or a callable taking
    no arguments that returns one (a factory function, or an ``nn.Module`` class). The module is imported
    with the current working directory importable. The model is put in eval mode and turned into a chain with
    :func:`~nomasplit.measure.chain.as_chain`; a model with branches or skip connections is returned as it is
    (after checking that ``torch.fx`` traces it, :func:`~nomasplit.measure.graph.trace_graph`), for
    :func:`~nomasplit.measure.profile.profile_network`.

    Raises:
        InputError: malformed spec, module not importable, attribute missing, not a module, untraceable,
            several inputs or outputs.
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise InputError(f"--model must look like package.module:attr; got {spec!r}")
    module_path, attr_path = spec.split(":")
    if not module_path.strip() or not attr_path.strip():
        raise InputError(f"--model must look like package.module:attr; got {spec!r}")
    try:
        with _working_directory_importable():
            imported = importlib.import_module(module_path)
    except ModuleNotFoundError as exc:
        raise InputError(f"--model {spec!r}: cannot import module {module_path!r} ({exc})") from None
    except Exception as exc:
        raise InputError(f"--model {spec!r}: importing {module_path!r} failed: {type(exc).__name__}: {exc}") from None
    obj: Any = imported
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise InputError(f"--model {spec!r}: {type(obj).__name__} {module_path!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise InputError(
                f"--model {spec!r} is a {type(obj).__name__}, not an nn.Module or a callable returning one"
            )
        try:
            obj = obj()
        except Exception as exc:
            raise InputError(f"--model {spec!r}: calling it failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(obj, nn.Module):
            raise InputError(f"--model {spec!r} returned a {type(obj).__name__}, not an nn.Module")
    return as_network(obj.eval(), what=f"--model {spec!r}")
