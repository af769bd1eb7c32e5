"""The device's side of split inference: run units ``1..s``, offload the rest, check the local model."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from nomasplit.data import ModelProfile, Plan, Scenario
from nomasplit.errors import InputError
from nomasplit.io import TensorEntry, read_npy, read_safetensors, shown
from nomasplit.runtime.client import EdgeClient
from nomasplit.runtime.models import RunnableModel
from nomasplit.runtime.prediction import PredictedLatency


class SplitRunReport(BaseModel):
    """One split inference, measured: stage times, bytes on the wire, and agreement with the local model.

    Times are wall-clock seconds on this host. ``profile_*_bytes`` are the profile's ``w(s)/8`` and ``m/8``
    (``None`` without a profile); the payload bytes must equal them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    split: int
    num_units: int
    offloaded: bool = Field(description="split < F: something went to the edge")
    uplink_bps: float | None
    downlink_bps: float | None
    device_compute_s: float
    uplink_s: float
    edge_queue_s: float
    edge_compute_s: float
    downlink_s: float
    other_s: float = Field(description="HTTP, decoding and loopback time not in the stages above")
    total_s: float
    uplink_bytes: int
    downlink_bytes: int
    profile_uplink_bytes: float | None
    profile_downlink_bytes: float | None
    output_shape: list[int]
    max_abs_diff: float = Field(description="max |split output - full local output|")
    matches: bool = Field(description="torch.allclose(split output, full local output, rtol, atol)")
    rtol: float
    atol: float
    weights_sha256: str


def random_input(model: RunnableModel, seed: int) -> torch.Tensor:
    """A standard-normal input of the model's shape from ``torch.Generator().manual_seed(seed)``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(model.input_shape, generator=generator, dtype=torch.float32).to(model.dtype)


def _input_checker(path: Path, model: RunnableModel) -> Callable[[TensorEntry], None]:
    """A check of an input file's declared tensor (its header only): the model's input shape, with or without the
    batch dimension, and a numeric dtype."""
    expected = tuple(model.input_shape)

    def check(entry: TensorEntry) -> None:
        if entry.shape not in (expected, expected[1:]):
            raise InputError(
                f"--input {shown(path)}: its header declares shape {list(entry.shape)}, model {model.name} takes "
                f"{list(expected)} (nothing was read)"
            )
        if not entry.dtype.startswith(("float", "int", "uint", "bfloat")):
            raise InputError(f"--input {shown(path)}: dtype {entry.dtype} is not numeric (integer or floating)")

    return check


def load_input(path: str | Path, model: RunnableModel) -> torch.Tensor:
    """Read an input tensor from ``.npy`` (no pickle) or ``.safetensors`` (one tensor, or the key ``input``).

    Read through the input boundary (:func:`nomasplit.io.read_npy`, :func:`nomasplit.io.read_safetensors`):
    the file's size is checked against ``FILE_LIMITS.max_input_tensor_bytes`` and its header (shape, dtype,
    keys) against the model before any data is read. A missing batch dimension is added.

    Raises:
        InputError: the file is missing, too large, unreadable or truncated, its dtype is not numeric, its
            shape is not the model's input shape, or it holds NaN or infinite values.
    """
    path = Path(path)
    check = _input_checker(path, model)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = read_npy(path, what="--input", check=check)
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))
    elif suffix == ".safetensors":

        def choose(entries: dict[str, TensorEntry]) -> list[str]:
            """The one tensor to load: ``input``, or the only one; checked before it is loaded."""
            if "input" in entries:
                name = "input"
            elif len(entries) == 1:
                name = next(iter(entries))
            else:
                names = ", ".join(repr(key) for key in sorted(entries)[:5]) + (" ..." if len(entries) > 5 else "")
                raise InputError(
                    f"--input {shown(path)}: holds {len(entries)} tensors ({names}); name the tensor 'input' or "
                    "keep only one"
                )
            check(entries[name])
            return [name]

        tensors = read_safetensors(path, what="--input", limit_field="max_input_tensor_bytes", check=choose)
        (tensor,) = tensors.values()
    else:
        raise InputError(f"--input {shown(path)}: expected a .npy or .safetensors file")
    expected = model.input_shape
    if tuple(tensor.shape) == expected[1:] and expected[0] == 1:
        tensor = tensor.unsqueeze(0)
    if tuple(tensor.shape) != expected:
        raise InputError(
            f"--input {shown(path)}: shape {list(tensor.shape)}, model {model.name} takes {list(expected)}"
        )
    if not torch.isfinite(tensor.to(torch.float64)).all():
        raise InputError(f"--input {shown(path)}: contains NaN or infinite values")
    return tensor.to(model.dtype).contiguous()


def local_output(model: RunnableModel, inputs: torch.Tensor) -> torch.Tensor:
    """The full model run locally: the reference the split result is checked against."""
    with torch.inference_mode():
        return model.module(inputs)


def device_part(model: RunnableModel, split: int, inputs: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
    """Units ``1..split`` on ``inputs``: the tensor a device sends at that split (a DAG model's live tensors by
    name)."""
    with torch.inference_mode():
        return model.head(split)(inputs)


def check_edge_weights(client: EdgeClient, model: RunnableModel) -> None:
    """Raise :class:`InputError` if the edge does not serve ``model`` with the same weights as the device."""
    served = client.models().get("models", {})
    if model.name not in served:
        raise InputError(f"the edge at {client.url} does not serve {model.name!r}; it serves {sorted(served)}")
    edge_sha = served[model.name].get("weights_sha256")
    if edge_sha != model.weights_sha256:
        raise InputError(
            f"the edge's weights of {model.name!r} (sha256 {str(edge_sha)[:12]}) differ from this device's "
            f"({model.weights_sha256[:12]}): start both with the same --seed or --weights"
        )


def run_split(
    model: RunnableModel,
    split: int,
    inputs: torch.Tensor,
    *,
    client: EdgeClient | None,
    uplink_bps: float | None = None,
    downlink_bps: float | None = None,
    reference: torch.Tensor | None = None,
    profile: ModelProfile | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-4,
) -> tuple[SplitRunReport, torch.Tensor]:
    """Run units ``1..split`` here and ``split+1..F`` on the edge, then compare with the full local model.

    Args:
        model: the device's copy of the model (same weights as the edge's).
        split: ``s`` in ``0..F``; ``s = F`` is Device-Only and needs no ``client``.
        inputs: input tensor of shape ``model.input_shape``.
        client: connection to the edge (``None`` only for ``s = F``).
        uplink_bps, downlink_bps: emulated link rates (``None``: unshaped loopback).
        reference: the full local output if already computed (else computed here, untimed).
        profile: the model's profile, for the expected bytes ``w(s)/8`` and ``m/8``.
        rtol, atol: tolerance of ``torch.allclose`` against the reference.

    Returns:
        ``(report, output)``.
    """
    num_units = model.num_units
    if not 0 <= split <= num_units:
        raise InputError(f"--split {split} is out of range: {model.name} has split points 0..{num_units}")
    if profile is not None and profile.num_layers != num_units:
        raise InputError(f"profile of {model.name} has {profile.num_layers} units, the model {num_units}")
    offloaded = split < num_units
    if offloaded and client is None:
        raise InputError(f"split {split} < {num_units} offloads to the edge: an edge URL is needed")
    started = time.perf_counter()
    with torch.inference_mode():
        intermediate = model.head(split)(inputs)
    device_compute_s = time.perf_counter() - started
    uplink_s = edge_queue_s = edge_compute_s = downlink_s = other_s = 0.0
    uplink_bytes = downlink_bytes = 0
    if offloaded:
        assert client is not None
        reply = client.infer(model.name, split, intermediate, uplink_bps=uplink_bps, downlink_bps=downlink_bps)
        output = reply.output
        uplink_s, edge_queue_s, edge_compute_s = reply.uplink_s, reply.edge_queue_s, reply.edge_compute_s
        downlink_s, other_s = reply.downlink_s, reply.other_s
        uplink_bytes, downlink_bytes = reply.uplink_bytes, reply.downlink_bytes
    else:
        # Device-Only: a DAG model's head returns its one live tensor, the result, by name.
        output = next(iter(intermediate.values())) if isinstance(intermediate, dict) else intermediate
    total_s = time.perf_counter() - started
    if reference is None:
        reference = local_output(model, inputs)
    if tuple(output.shape) != tuple(reference.shape):
        max_abs_diff = math.inf
        matches = False
    else:
        max_abs_diff = float((output.to(torch.float64) - reference.to(torch.float64)).abs().max())
        matches = bool(torch.allclose(output, reference, rtol=rtol, atol=atol))
    profile_up = profile_down = None
    if profile is not None and offloaded:
        profile_up = float(profile.upload_bits()[split]) / 8.0
        profile_down = float(profile.result_bits) / 8.0
    report = SplitRunReport(
        model=model.name,
        split=split,
        num_units=num_units,
        offloaded=offloaded,
        uplink_bps=uplink_bps if offloaded else None,
        downlink_bps=downlink_bps if offloaded else None,
        device_compute_s=device_compute_s,
        uplink_s=uplink_s,
        edge_queue_s=edge_queue_s,
        edge_compute_s=edge_compute_s,
        downlink_s=downlink_s,
        other_s=other_s,
        total_s=total_s,
        uplink_bytes=uplink_bytes,
        downlink_bytes=downlink_bytes,
        profile_uplink_bytes=profile_up,
        profile_downlink_bytes=profile_down,
        output_shape=list(output.shape),
        max_abs_diff=max_abs_diff,
        matches=matches,
        rtol=rtol,
        atol=atol,
        weights_sha256=model.weights_sha256,
    )
    return report, output


class PlanAssignment(BaseModel):
    """What a plan asks of one user: its model, split and the rates the system model predicts for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: int
    model: str
    split: int
    num_units: int
    uplink_bps: float | None = Field(description="R_i of the plan (None for a Device-Only user)")
    downlink_bps: float | None = Field(description="Phi_i of the plan (None for a Device-Only user)")
    workload_tasks: float = Field(description="k_i: the scenario's tasks per user; the runtime runs one")
    scenario_latency_per_task_s: float | None = Field(
        description="T_i / k_i: the scenario's predicted latency of one task, on the scenario's hardware"
    )
    compute_units: float | None = Field(default=None, description="r_i of the plan (None for Device-Only)")
    predicted: PredictedLatency | None = Field(
        default=None, description="per-task stages T_dev/k, T_up/k, T_edge/k, T_dn/k of the plan (system model)"
    )


def assignment_from_plan(scenario: Scenario, plan: Plan, user: int) -> PlanAssignment:
    """Split and rates of ``user`` under ``plan`` (rates from :func:`nomasplit.model.evaluate`).

    Raises:
        InputError: the plan does not fit the scenario, the user does not exist, or a rate is not positive.
    """
    from nomasplit.model import evaluate

    if not 0 <= user < scenario.num_users:
        raise InputError(f"--user {user} does not exist: the scenario has users 0..{scenario.num_users - 1}")
    plan.check_against(scenario)
    outcome = evaluate(scenario, plan).users[user]
    profile = scenario.profiles[scenario.user_profile[user]]
    tasks = float(scenario.workload_tasks[user])
    uplink_bps = downlink_bps = None
    if outcome.offloads:
        if not (outcome.uplink_rate_bps > 0 and outcome.downlink_rate_bps > 0):
            raise InputError(
                f"plan gives user {user} uplink rate {outcome.uplink_rate_bps:g} and downlink rate "
                f"{outcome.downlink_rate_bps:g} bit/s: both must be > 0 to offload"
            )
        uplink_bps, downlink_bps = outcome.uplink_rate_bps, outcome.downlink_rate_bps
    latency = None if outcome.latency_s is None else outcome.latency_s / tasks
    predicted = PredictedLatency(
        split=outcome.split,
        device_s=outcome.device_latency_s / tasks,
        edge_s=outcome.edge_latency_s / tasks,
        uplink_s=(outcome.uplink_latency_s or 0.0) / tasks,
        downlink_s=(outcome.downlink_latency_s or 0.0) / tasks,
        total_s=(latency if latency is not None else float("inf")),
    )
    return PlanAssignment(
        user=user,
        model=profile.model,
        split=outcome.split,
        num_units=profile.num_layers,
        uplink_bps=uplink_bps,
        downlink_bps=downlink_bps,
        workload_tasks=tasks,
        scenario_latency_per_task_s=latency,
        compute_units=next(d.compute_units for d in plan.users if d.user == user) if outcome.offloads else None,
        predicted=predicted,
    )
