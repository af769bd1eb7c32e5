"""Per-layer profile of a DNN split into a chain of units: the data the system model needs.

Notation (spec ``system-model.md``, "Profiles of a model with F layers"): ``f_delta`` is the FLOPs of unit
delta; ``D(s) = sum_{delta <= s} f_delta`` runs on the device when splitting after unit ``s``;
``w(s)`` is the size in bits of the tensor sent up (``w(0)`` is the raw input); ``m`` the result's size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from nomasplit.data.limits import PROFILE_LIMITS, check_limits

#: Optional profile fields written only when set (a profile without them has sizes at its dtype's width).
OPTIONAL_PRECISION_FIELDS = ("input_element_bits", "activation_element_bits")


class LayerProfile(BaseModel):
    """One split unit (for example conv + ReLU, or conv + ReLU + max-pool)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1, description="unit name, e.g. 'conv1_1+relu'")
    flops: float = Field(ge=0, allow_inf_nan=False, description="FLOPs of this unit (2 per multiply-accumulate)")
    output_bits: float = Field(gt=0, allow_inf_nan=False, description="size of the unit's output tensor in bits")
    output_shape: list[int] | None = Field(default=None, description="shape of the output tensor, batch 1")
    measured_latency_s: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="median measured latency on the profiling host"
    )


class ModelProfile(BaseModel):
    """A DNN as a chain of ``F`` split units with FLOPs and output sizes (measured from a PyTorch model)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    model: str = Field(min_length=1, description="model name, e.g. 'vgg16'")
    input_shape: list[int] | None = Field(default=None, description="input tensor shape, batch 1")
    dtype: str = Field(default="float32", description="dtype the model ran in (and of the sizes, unless below)")
    input_element_bits: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="bits per element of the raw input as the device sends it (e.g. 8 for a camera image); "
        "null: the dtype's width",
    )
    activation_element_bits: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="bits per element of the tensors sent at a split and of the result (e.g. 8 or 16 when "
        "quantised for the air); null: the dtype's width",
    )
    input_bits: float = Field(gt=0, allow_inf_nan=False, description="size of the raw input in bits: w(0)")
    result_bits: float = Field(gt=0, allow_inf_nan=False, description="size of the final result sent down: m")
    layers: list[LayerProfile] = Field(min_length=1, description="the F split units in execution order")
    source: dict[str, Any] = Field(default_factory=dict, description="how the profile was obtained")

    @model_validator(mode="after")
    def _unique_names(self) -> ModelProfile:
        check_limits(self, PROFILE_LIMITS)
        for index, layer in enumerate(self.layers):
            try:
                check_limits(layer, PROFILE_LIMITS)
            except ValueError as exc:
                raise ValueError(f"layers[{index}].{exc}") from None
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError("layer names must be unique within a profile")
        return self

    @model_serializer(mode="wrap")
    def _omit_absent_precision(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave out the precision fields when absent: a dtype-width profile's file (and the files and hashes of
        scenarios that embed it) stay as they were."""
        data: dict[str, Any] = handler(self)
        for name in OPTIONAL_PRECISION_FIELDS:
            if name in data and data[name] is None:
                del data[name]
        return data

    @property
    def num_layers(self) -> int:
        """``F``: the number of split units; split points are 0..F."""
        return len(self.layers)

    def cumulative_flops(self) -> np.ndarray:
        """``D(s)`` for ``s = 0..F``: FLOPs run on the device when splitting after unit ``s``. Shape ``[F+1]``."""
        return np.concatenate([[0.0], np.cumsum([layer.flops for layer in self.layers])])

    def upload_bits(self) -> np.ndarray:
        """``w(s)`` for ``s = 0..F``: bits sent up when splitting after unit ``s``; ``w(0)`` is the input.

        ``w(F)`` is the last unit's output, never sent (Device-Only sends nothing). Shape ``[F+1]``.
        """
        return np.array([self.input_bits] + [layer.output_bits for layer in self.layers], dtype=np.float64)

    @property
    def total_flops(self) -> float:
        """``Z = D(F)``."""
        return float(sum(layer.flops for layer in self.layers))
