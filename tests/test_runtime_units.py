"""Runtime pieces without a server: wire format, shaping, prediction, weights, inputs."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from torch import nn

from nomasplit import zoo
from nomasplit.errors import InputError
from nomasplit.runtime.device import load_input, random_input
from nomasplit.runtime.models import load_weights, load_zoo_model, prepare_model, weights_fingerprint
from nomasplit.runtime.prediction import predict_latency, predict_latency_from_units
from nomasplit.runtime.protocol import (
    WIRE_DTYPES,
    ProtocolError,
    TensorHeader,
    decode_tensor,
    encode_tensor,
    parse_shape,
    parse_tensor_header,
)
from nomasplit.runtime.shaping import chunk_bytes_for, paced_chunks, transfer_time_s


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.int64, torch.uint8])
def test_encode_decode_round_trip(dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(3)
    tensor = (torch.randn(2, 3, 5, generator=generator) * 50).to(dtype)
    body, header = encode_tensor(tensor)
    assert len(body) == header.num_bytes == tensor.numel() * tensor.element_size()
    back = decode_tensor(body, parse_tensor_header(*header.to_headers().values()))
    assert back.dtype == dtype and torch.equal(back, tensor)


def test_body_is_little_endian_c_order() -> None:
    tensor = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float32)
    body, _ = encode_tensor(tensor)
    assert body == np.array([1, 2, 3, 4], dtype="<f4").tobytes()


def test_decode_rejects_wrong_length() -> None:
    header = TensorHeader("float32", (1, 4))
    with pytest.raises(ProtocolError) as short:
        decode_tensor(b"\0" * 15, header)
    assert short.value.status == 400 and short.value.code == "truncated_body"
    with pytest.raises(ProtocolError) as long:
        decode_tensor(b"\0" * 17, header)
    assert long.value.status == 413


@pytest.mark.parametrize("text", ["", "a,b", "1,-3", "1,,2", ",".join(["1"] * 9), "1.5"])
def test_parse_shape_rejects_malformed(text: str) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_shape(text)
    assert error.value.status == 400


def test_parse_header_rejects_unknown_dtype() -> None:
    with pytest.raises(ProtocolError) as error:
        parse_tensor_header("complex64", "1,2")
    assert error.value.status == 422 and "float32" in error.value.detail
    assert set(WIRE_DTYPES) >= {"float32"}


def test_paced_chunks_take_the_air_time() -> None:
    data = bytes(range(256)) * 40  # 10 240 bytes
    rate_bps = 8 * 10_240 / 0.1  # 0.1 s of air time
    started = time.perf_counter()
    chunks = list(paced_chunks(data, rate_bps))
    elapsed_s = time.perf_counter() - started
    assert b"".join(chunks) == data
    assert len(chunks) == math.ceil(len(data) / chunk_bytes_for(rate_bps))
    assert transfer_time_s(len(data), rate_bps) == pytest.approx(0.1)
    assert 0.1 <= elapsed_s < 0.25
    assert list(paced_chunks(data, None)) == [data]


def test_prediction_matches_the_formula_by_hand() -> None:
    profile = zoo.load_bundled_profile("nin")
    flops = [layer.flops for layer in profile.layers]
    bits = [profile.input_bits] + [layer.output_bits for layer in profile.layers]
    c_dev, c_edge, up, down = 2e9, 5e9, 3e6, 7e6
    for split in range(profile.num_layers + 1):
        device = sum(flops[:split]) / c_dev
        edge = sum(flops[split:]) / c_edge
        link = bits[split] / up + profile.result_bits / down if split < profile.num_layers else 0.0
        predicted = predict_latency(
            profile,
            split,
            device_flops_per_s=c_dev,
            edge_flops_per_s=c_edge,
            uplink_bps=up,
            downlink_bps=down,
        )
        assert predicted.total_s == pytest.approx(device + edge + link, rel=1e-12)
        units = [0.001 * (index + 1) for index in range(profile.num_layers)]
        by_units = predict_latency_from_units(profile, split, units, uplink_bps=up, downlink_bps=down)
        assert by_units.total_s == pytest.approx(sum(units) + link, rel=1e-12)


def _small_model(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))


def test_prepare_model_records_shapes() -> None:
    model = prepare_model("small", _small_model(0), (1, 3, 6, 6))
    assert model.split_shapes == ((1, 3, 6, 6), (1, 4, 6, 6), (1, 4, 6, 6), (1, 144), (1, 5))
    assert model.num_units == 4


def test_weights_file_round_trip_and_mismatch(tmp_path) -> None:
    from safetensors.torch import save_file

    source = zoo.build_model("nin", seed=7)
    path = tmp_path / "nin.safetensors"
    save_file({key: value.contiguous() for key, value in source.state_dict().items()}, str(path))
    loaded = load_zoo_model("nin", seed=0, weights=path)
    assert loaded.weights_sha256 == weights_fingerprint(source)
    assert loaded.weights_sha256 != load_zoo_model("nin", seed=0).weights_sha256
    with pytest.raises(InputError, match="keys do not match"):
        load_weights(zoo.build_model("vgg16"), path)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="not a readable safetensors"):
        load_weights(source, tmp_path / "junk.safetensors")


def test_load_input_npy_and_safetensors(tmp_path) -> None:
    from safetensors.torch import save_file

    model = prepare_model("small", _small_model(0), (1, 3, 6, 6))
    tensor = random_input(model, 5)
    np.save(tmp_path / "x.npy", tensor.numpy()[0])  # without the batch dimension
    assert torch.equal(load_input(tmp_path / "x.npy", model), tensor)
    save_file({"input": tensor}, str(tmp_path / "x.safetensors"))
    assert torch.equal(load_input(tmp_path / "x.safetensors", model), tensor)
    np.save(tmp_path / "bad.npy", np.zeros((1, 3, 5, 5), dtype=np.float32))
    with pytest.raises(InputError, match="shape"):
        load_input(tmp_path / "bad.npy", model)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError):
        load_input(tmp_path / "obj.npy", model)


@pytest.mark.parametrize("layout", ["C", "fortran", "big-endian", "int16", "version-2"])
def test_read_npy_gives_the_array_saved(tmp_path, layout: str) -> None:
    """``nomasplit.io.read_npy`` reads the data after its own header checks: same values as ``np.load``, in
    every layout numpy writes."""
    from nomasplit.io import read_npy

    array = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) / 7
    path = tmp_path / "x.npy"
    if layout == "fortran":
        array = np.asfortranarray(array)
    elif layout == "big-endian":
        array = array.astype(">f8")
    elif layout == "int16":
        array = (array * 100).astype(np.int16)
    if layout == "version-2":
        with path.open("wb") as handle:
            np.lib.format.write_array(handle, array, version=(2, 0))
    else:
        np.save(path, array)
    read = read_npy(path)
    assert read.dtype == array.dtype and read.shape == array.shape
    assert np.array_equal(read, np.load(path, allow_pickle=False))


def _raw_safetensors(path, header: dict, data: bytes):
    import json

    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    return path


@pytest.mark.parametrize(
    ("header", "data_bytes", "message"),
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, 12, "4 bytes follow the last tensor's data"),
        (
            {
                "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
            },
            12,
            "tensor 'b' begins at byte 8 of the data, expected 4",
        ),
        ({"a": {"dtype": "X9", "shape": [1], "data_offsets": [0, 4]}}, 4, "dtype X9 is unknown"),
        ({"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, 4, "must be a list of integers >= 0"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, 4, "must be [begin, end]"),
        ({"a": {"dtype": "F32", "shape": [1]}}, 4, "must be an object with dtype, shape and data_offsets"),
        ({"__metadata__": {"format": 1}}, 0, "__metadata__ must map names to strings"),
    ],
)
def test_safetensors_header_must_describe_the_file(tmp_path, header: dict, data_bytes: int, message: str) -> None:
    from nomasplit.io import read_safetensors_header

    path = _raw_safetensors(tmp_path / "x.safetensors", header, bytes(data_bytes))
    with pytest.raises(InputError) as info:
        read_safetensors_header(path, what="--weights", limit_field="max_weights_bytes")
    assert str(info.value).startswith(f"--weights {path}: ") and message in str(info.value)


def test_safetensors_header_reads_what_safetensors_writes(tmp_path) -> None:
    from safetensors.torch import save_file

    from nomasplit.io import TensorEntry, read_safetensors, read_safetensors_header

    tensors = {"w": torch.zeros(3, 4, dtype=torch.float16), "n": torch.arange(5), "b": torch.ones(2, dtype=torch.bool)}
    path = tmp_path / "x.safetensors"
    save_file(tensors, str(path), metadata={"made_by": "test"})
    entries = read_safetensors_header(path, what="--weights", limit_field="max_weights_bytes")
    assert entries == {
        "w": TensorEntry("float16", (3, 4), 24),
        "n": TensorEntry("int64", (5,), 40),
        "b": TensorEntry("bool", (2,), 2),
    }
    loaded = read_safetensors(path, what="--weights", limit_field="max_weights_bytes", check=lambda entries: ["n"])
    assert list(loaded) == ["n"] and torch.equal(loaded["n"], tensors["n"])
