"""The torch backend the model computes on: which torch device holds its tensors (``cpu`` by default, ``cuda``
when present and asked for) and how many CPU threads torch uses.

"Device" alone, in this project, is the user's phone (``device_flops_per_s``, ``nomasplit device run``); here
it is always a *torch* device.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from nomasplit.errors import InputError


def resolve_torch_device(name: str | torch.device) -> torch.device:
    """``'cpu'``, ``'cuda'`` or ``'cuda:N'`` as a torch device; InputError if unknown or not available here."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"{name!r} is not a torch device; allowed: cpu, cuda, cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"torch device {name!r} is not supported; allowed: cpu, cuda, cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"torch device {name!r} asked for, but CUDA is not available on this machine; use --torch-device cpu"
        )
    return device


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch's CPU kernels on ``count`` intra-op threads, restoring the previous number after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
