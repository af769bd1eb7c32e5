"""A model as a chain of split units: an ``nn.Sequential``'s children, or the nodes of a ``torch.fx`` trace that
form a single chain.

A model whose trace is not a chain (branches, skip connections) is profiled as a DAG
(:mod:`nomasplit.measure.graph`); :func:`as_network` tells which of the two a model is.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.fx
from torch import nn

from nomasplit.errors import InputError
from nomasplit.measure.graph import NotAChainError, trace_graph


def unit_names(module: nn.Sequential) -> list[str]:
    """Profile names of the units: the child's name, or ``<index>_<Class>`` where that name is an index."""
    names = []
    for child_name, child in module.named_children():
        names.append(f"{child_name}_{type(child).__name__}" if child_name.isdigit() else child_name)
    return names


class _Input:
    """Marks where a call unit's input goes among the arguments of the traced call."""

    def __repr__(self) -> str:
        return "<input>"

    # One marker only: copies (``copy.deepcopy`` of a model before a dtype change) must stay the marker.
    def __copy__(self) -> _Input:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Input:
        return self

    def __reduce__(self) -> str:
        return "_INPUT"


_INPUT = _Input()


def _substitute(value: Any, replacement: Any) -> Any:
    if value is _INPUT:
        return replacement
    if isinstance(value, tuple | list):
        return type(value)(_substitute(item, replacement) for item in value)
    if isinstance(value, dict):
        return {key: _substitute(item, replacement) for key, item in value.items()}
    return value


def _mark_input(value: Any) -> Any:
    """Replace the (single, previous) fx node among a call's arguments by :data:`_INPUT`."""
    if isinstance(value, torch.fx.Node):
        return _INPUT
    if isinstance(value, tuple | list):
        return type(value)(_mark_input(item) for item in value)
    if isinstance(value, dict):
        return {key: _mark_input(item) for key, item in value.items()}
    return value


class CallUnit(nn.Module):
    """A split unit made of one function or method call taken from a ``torch.fx`` trace (e.g. ``flatten``)."""

    def __init__(self, kind: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.kind = kind
        self.target = target
        self.call_args = args
        self.call_kwargs = kwargs

    def forward(self, unit_input: torch.Tensor) -> Any:
        args = _substitute(self.call_args, unit_input)
        kwargs = _substitute(self.call_kwargs, unit_input)
        if self.kind == "call_method":
            receiver, *rest = args
            return getattr(receiver, self.target)(*rest, **kwargs)
        return self.target(*args, **kwargs)

    def extra_repr(self) -> str:
        target = self.target if isinstance(self.target, str) else getattr(self.target, "__name__", self.target)
        return f"{self.kind}={target}, args={self.call_args!r}, kwargs={self.call_kwargs!r}"


def as_chain(model: nn.Module, *, what: str = "model") -> nn.Sequential:
    """The model as an ``nn.Sequential`` of split units.

    An ``nn.Sequential`` is returned as it is (its direct children are the units). Any other module is traced
    with ``torch.fx.symbolic_trace``; the trace must be a single chain (one tensor input, each operation using
    only the previous one's output, nothing else using it, one tensor returned). Each traced operation becomes
    a unit: a leaf module call becomes that module, a function or method call (``torch.flatten``, ``x.view``)
    a :class:`CallUnit`. Units are named after the trace's node names.

    Raises:
        InputError: not a module, an empty chain, untraceable, several inputs or outputs
            (:func:`nomasplit.measure.graph.trace_graph`); :class:`~nomasplit.measure.graph.NotAChainError` for
            a graph that is not a chain (branches, skip connections, direct use of parameters), which
            :func:`as_network` profiles as a DAG.
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"{what} is a {type(model).__name__}, not a torch.nn.Module")
    if isinstance(model, nn.Sequential):
        if len(model) == 0:
            raise InputError(f"{what} is an empty nn.Sequential: there is nothing to split")
        return model
    traced = trace_graph(model, what=what)
    nodes = list(traced.graph.nodes)
    placeholders = [node for node in nodes if node.op == "placeholder"]
    previous = placeholders[0]
    units: OrderedDict[str, nn.Module] = OrderedDict()
    for node in nodes:
        if node.op == "placeholder":
            continue
        if node.op == "get_attr":
            raise NotAChainError(
                f"{what} is not a chain of modules: it uses the parameter or buffer {node.target!r} directly"
            )
        if len(previous.users) != 1:
            raise NotAChainError(
                f"{what} is not a chain: the output of {previous.name!r} is used {len(previous.users)} times "
                "(a branch or skip connection)"
            )
        if node.all_input_nodes != [previous]:
            inputs = [item.name for item in node.all_input_nodes]
            raise NotAChainError(
                f"{what} is not a chain: {node.name!r} takes {inputs}, not just the output of {previous.name!r}"
            )
        if node.op == "output":
            if node.args[0] is not previous:
                raise InputError(f"{what} is not a chain: it must return one tensor, not {node.args[0]!r}")
            break
        marked_args = _mark_input(node.args)
        marked_kwargs = _mark_input(dict(node.kwargs))
        if node.op == "call_module":
            units[node.name] = traced.get_submodule(str(node.target))
            if marked_args != (_INPUT,) or marked_kwargs:
                raise InputError(f"{what} is not a chain: module call {node.name!r} takes extra arguments")
        else:
            units[node.name] = CallUnit(node.op, node.target, tuple(marked_args), dict(marked_kwargs))
        previous = node
    if not units:
        raise InputError(f"{what} has no operations: there is nothing to split")
    return nn.Sequential(units)


def as_network(model: nn.Module, *, what: str = "model") -> nn.Module:
    """``model`` as a chain (:func:`as_chain`) when it is one, else the model itself, checked to trace as a DAG."""
    try:
        return as_chain(model, what=what)
    except NotAChainError:
        trace_graph(model, what=what)
        return model


def is_dag(module: nn.Module) -> bool:
    """True for a model profiled as a graph (:func:`~nomasplit.measure.profile.profile_network`): not an
    ``nn.Sequential`` chain."""
    return not isinstance(module, nn.Sequential)
