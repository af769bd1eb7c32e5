"""Deterministic weight initialisation of the zoo models from a ``torch.Generator``.

The models are built on the ``meta`` device (no memory, no draw from the global RNG), moved to the CPU with
``to_empty`` and then every parameter and buffer is set here, so the same seed gives the same weights on any
machine and building a model never touches torch's global random state.
"""

from __future__ import annotations

import torch
from torch import nn


def initialise_(model: nn.Module, generator: torch.Generator) -> None:
    """Set every parameter and buffer of ``model`` in place.

    Convolutions and linear layers: He (Kaiming) normal weights, fan-in, ReLU gain (He et al. 2015), drawn
    from ``generator`` in module order; zero biases. Batch normalisation: identity (weight 1, bias 0, running
    mean 0, running variance 1). Any other parameter or buffer is a programming error and raises
    ``RuntimeError``.

    Args:
        model: module whose tensors are allocated on the CPU (contents arbitrary).
        generator: CPU generator; consumed in a fixed order.
    """
    handled: set[int] = set()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu", generator=generator)
                handled.add(id(module.weight))
                if module.bias is not None:
                    module.bias.zero_()
                    handled.add(id(module.bias))
            elif isinstance(module, nn.BatchNorm2d):
                for tensor, value in (
                    (module.weight, 1.0),
                    (module.bias, 0.0),
                    (module.running_mean, 0.0),
                    (module.running_var, 1.0),
                    (module.num_batches_tracked, 0),
                ):
                    if tensor is not None:
                        tensor.fill_(value)
                        handled.add(id(tensor))
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if id(tensor) not in handled:
            raise RuntimeError(f"zoo initialisation does not know how to set {name!r}")
