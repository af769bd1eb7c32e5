"""Per-unit profiles of a chain DNN: FLOPs, output sizes and (optionally) measured latency.

A model is a chain of split units: the direct children of an ``nn.Sequential`` (the zoo models, or a user's
``nn.Sequential``), or the nodes of a ``torch.fx`` trace that form a single chain
(:func:`~nomasplit.measure.chain.as_chain`). The profile is what the system model needs (spec "Profiles of a
model with F layers"):

- ``flops`` of unit ``delta`` (``f_delta``): counted by ``torch.utils.flop_counter.FlopCounterMode`` while the
  unit runs on a real tensor. It counts 2 FLOPs per multiply-accumulate of the operators it knows:
  convolutions and matrix products (``mm``, ``addmm``, ``bmm``, attention). Everything else (bias add,
  batch norm, activations, pooling, padding, dropout, reshapes, softmax) counts 0, so a unit made only of
  such operators (a max-pool, a flatten) has 0 FLOPs.
- ``output_bits`` (``w(s)``): ``numel * bits per element`` of the unit's real output tensor; the input runs in
  the chosen dtype (float32 by default; float16, bfloat16, float64), so a float output has that dtype's width,
  unless ``activation_bits`` says how many bits per element the device sends (8 or 16 when quantised).
- ``input_bits`` (``w(0)``) of the input tensor in that dtype, or at ``input_bits`` per element (8 for a
  camera image), and ``result_bits`` (``m``) of the last output (at ``activation_bits`` if given).
- with ``measure=True``, ``measured_latency_s`` per unit on this host: warm-up runs, then the median of
  repeated runs, under ``torch.inference_mode`` with one intra-op thread.

The profile without measurement is a pure function of the model's structure, the input shape, the dtype and
the torch version: it holds no timestamp or hostname, so regenerating it gives the same JSON. A model that is
not a chain is profiled as a graph (:func:`profile_network` chooses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nomasplit.data.profile import LayerProfile, ModelProfile
from nomasplit.errors import InputError
from nomasplit.measure.chain import as_chain, is_dag, unit_names
from nomasplit.measure.graph import is_chain, profile_graph, trace_graph
from nomasplit.measure.options import (
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    check_profile_options,
    dtype_name,
    in_dtype,
    latency_source,
    profile_source,
    profiling_input,
    tensor_bits,
)
from nomasplit.measure.timing import median_latency_s
from nomasplit.model.backend import torch_threads


def profile_model(
    module: nn.Sequential,
    input_shape: Sequence[int],
    *,
    name: str,
    dtype: str | torch.dtype = torch.float32,
    measure: bool = False,
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    input_bits: int | None = None,
    activation_bits: int | None = None,
) -> ModelProfile:
    """Profile a chain model unit by unit.

    The input is a standard-normal tensor of ``input_shape`` in ``dtype`` (drawn from a ``torch.Generator``
    seeded with :data:`INPUT_SEED`); it runs through the units in order under ``torch.inference_mode``, each
    unit inside a ``FlopCounterMode``. The model is not changed (a copy is converted when ``dtype`` differs
    from its parameters' dtype).

    Args:
        module: the chain; its direct children are the split units.
        input_shape: input tensor shape including the batch dimension (batch 1 for the paper's profiles).
        name: model name recorded in the profile.
        dtype: dtype of the input and the weights, which sets the size in bits of float tensors.
        measure: also measure each unit's latency on this host (``measured_latency_s``).
        warmup: un-timed runs per unit before timing (``measure`` only), ``>= 0``.
        repeats: timed runs per unit, whose median is reported (``measure`` only), ``>= 1``.
        input_bits: bits per element of the raw input as sent (8: a camera image); None: the dtype's width.
        activation_bits: bits per element of every tensor sent at a split and of the result (the device and
            the edge may quantise differently from the dtype they compute in); None: the dtype's width.
            Sizes scale exactly: ``output_bits = numel * activation_bits``. FLOPs do not change.

    Returns:
        The profile: per unit ``flops`` (2 per multiply-accumulate), ``output_bits``, ``output_shape`` and,
        if measured, ``measured_latency_s`` [s]; ``input_bits`` = ``w(0)``, ``result_bits`` = ``m``.

    Raises:
        InputError: not an ``nn.Sequential`` with at least one unit, bad shape, dtype, counts or name, or a
            unit that fails on its input or does not return one non-empty tensor.
    """
    if not isinstance(module, nn.Sequential):
        raise InputError(f"model must be an nn.Sequential of split units (see as_chain); got {type(module).__name__}")
    if len(module) == 0:
        raise InputError("model has no units: an empty nn.Sequential cannot be split")
    shape, torch_dtype = check_profile_options(name, input_shape, dtype, warmup, repeats, input_bits, activation_bits)

    module = in_dtype(module, torch_dtype)
    model_input = profiling_input(shape, torch_dtype)
    names = unit_names(module)
    unit_inputs: list[torch.Tensor] = []
    layers: list[dict[str, Any]] = []
    current = model_input
    with torch.inference_mode():
        for index, (unit_name, unit) in enumerate(zip(names, module.children(), strict=True), start=1):
            unit_inputs.append(current)
            try:
                with FlopCounterMode(display=False) as counter:
                    output = unit(current)
            except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                raise InputError(
                    f"unit {index} ({unit_name!r}) fails on an input of shape {list(current.shape)}: {exc}"
                ) from None
            if not isinstance(output, torch.Tensor) or output.numel() == 0:
                raise InputError(
                    f"unit {index} ({unit_name!r}) must return one non-empty tensor to be a split point; "
                    f"got {type(output).__name__}"
                )
            layers.append(
                {
                    "name": unit_name,
                    "flops": float(counter.get_total_flops()),
                    "output_bits": float(tensor_bits(output, activation_bits)),
                    "output_shape": list(output.shape),
                }
            )
            current = output

    source = profile_source(torch_dtype, input_bits, activation_bits)
    if measure:
        with torch.inference_mode(), torch_threads(1):
            for layer, unit, unit_input in zip(layers, module.children(), unit_inputs, strict=True):
                layer["measured_latency_s"] = median_latency_s(unit, unit_input, warmup, repeats)
        source["latency"] = latency_source(
            "median of timed runs after warm-up runs, torch.inference_mode, time.perf_counter", warmup, repeats
        )
    return ModelProfile(
        model=name,
        input_shape=list(shape),
        dtype=dtype_name(torch_dtype),
        input_element_bits=input_bits,
        activation_element_bits=activation_bits,
        input_bits=float(tensor_bits(model_input, input_bits)),
        result_bits=layers[-1]["output_bits"],
        layers=[LayerProfile(**layer) for layer in layers],
        source=source,
    )


def profile_network(
    module: nn.Module, input_shape: Sequence[int], *, order: str | None = None, **options: Any
) -> ModelProfile:
    """Profile a chain (:func:`profile_model`) or a DAG model (:func:`nomasplit.measure.graph.profile_graph`).

    An ``nn.Sequential`` is a chain: its profile is exactly :func:`profile_model`'s (``order`` must be None).
    Any other module is traced; a trace that is a single chain is profiled as a chain of its nodes, anything
    else as a graph with the topological order ``order`` (default ``min-live``).

    Raises:
        InputError: as :func:`profile_model` or :func:`~nomasplit.measure.graph.profile_graph`; an order for a
            chain model.
    """
    if not is_dag(module) or is_chain(trace_graph(module)):
        if order is not None:
            raise InputError(f"--order {order!r} is for DAG models; {options.get('name', 'this model')} is a chain")
        return profile_model(as_chain(module), input_shape, **options)
    chosen: dict[str, Any] = {} if order is None else {"order": order}
    return profile_graph(module, input_shape, **chosen, **options)
