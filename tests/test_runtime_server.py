"""The edge server against malformed, unauthorised and concurrent requests (a small model, loopback only)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import torch
from torch import nn

from nomasplit.runtime.client import EdgeClient, EdgeError
from nomasplit.runtime.device import device_part, local_output, random_input, run_split
from nomasplit.runtime.models import RunnableModel, prepare_model
from nomasplit.runtime.server import EdgeServerThread, EdgeSettings

TOKEN = "test-token-0123456789abcdef"


def _small_model() -> RunnableModel:
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 10)
    )
    return prepare_model("small", module, (1, 3, 8, 8))


@pytest.fixture(scope="module")
def small() -> RunnableModel:
    return _small_model()


@pytest.fixture(scope="module")
def server(small: RunnableModel) -> Iterator[EdgeServerThread]:
    settings = EdgeSettings(token=TOKEN, max_body_bytes=4096, max_inflight=16, request_timeout_s=1.0)
    with EdgeServerThread({"small": small}, settings) as running:
        yield running


def _headers(dtype: str = "float32", shape: str = "1,8,8,8", token: str | None = TOKEN) -> dict[str, str]:
    headers = {"X-Nomasplit-Dtype": dtype, "X-Nomasplit-Shape": shape}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _assert_still_serving(server: EdgeServerThread, small: RunnableModel) -> None:
    inputs = random_input(small, 1)
    with EdgeClient(server.url, TOKEN) as client:
        report, _ = run_split(small, 1, inputs, client=client)
    assert report.matches and report.max_abs_diff <= 1e-6


def test_every_split_round_trips(server: EdgeServerThread, small: RunnableModel) -> None:
    inputs = random_input(small, 2)
    reference = local_output(small, inputs)
    with EdgeClient(server.url, TOKEN) as client:
        for split in range(small.num_units + 1):
            report, output = run_split(small, split, inputs, client=client, reference=reference)
            assert report.matches, split
            assert torch.allclose(output, reference, rtol=1e-5, atol=1e-6)
            expected_up = 0 if split == small.num_units else 4 * torch.Size(small.split_shapes[split]).numel()
            assert report.uplink_bytes == expected_up
            assert report.downlink_bytes == (0 if split == small.num_units else 40)


BODY_OK = bytes(4 * 8 * 8 * 8)  # split 1 takes [1, 8, 8, 8] float32


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "code"),
    [
        ("/v1/infer/small/1", _headers(token=None), BODY_OK, 401, "missing_token"),
        ("/v1/infer/small/1", _headers(token="wrong-token-0123456789abcdef"), BODY_OK, 403, "wrong_token"),
        ("/v1/infer/small/1", {**_headers(), "Authorization": "Basic " + TOKEN}, BODY_OK, 403, "wrong_token"),
        ("/v1/infer/resnet/1", _headers(), BODY_OK, 404, "unknown_model"),
        ("/v1/infer/small/5", _headers(), BODY_OK, 422, "split_out_of_range"),
        ("/v1/infer/small/99", _headers(), BODY_OK, 422, "split_out_of_range"),
        ("/v1/infer/small/x", _headers(), BODY_OK, 422, "split_out_of_range"),
        ("/v1/infer/small/1", _headers(), BODY_OK * 3, 413, "body_too_large"),  # above max_body_bytes
        ("/v1/infer/small/1", _headers(dtype="float64", shape="1,8,8,4"), BODY_OK, 422, "wrong_dtype"),
        ("/v1/infer/small/1", _headers(dtype="complex64"), BODY_OK, 422, "wrong_dtype"),
        ("/v1/infer/small/1", _headers(shape="1,8,4,16"), BODY_OK, 422, "wrong_shape"),
        ("/v1/infer/small/1", _headers(shape="1;8;8;8"), BODY_OK, 400, "malformed_shape"),
        ("/v1/infer/small/1", {"Authorization": f"Bearer {TOKEN}"}, BODY_OK, 400, "missing_dtype"),
        ("/v1/infer/small/1", _headers(), BODY_OK[:-4], 400, "truncated_body"),
        ("/v1/infer/small/1", _headers(), BODY_OK + b"\0" * 4, 413, "body_too_large"),
        ("/v1/infer/small/0", _headers(shape="1,3,8,8"), bytes(8192), 413, "body_too_large"),
        ("/v1/nothing", _headers(), b"", 404, "http_error"),
        ("/v1/health", _headers(token=None), b"", 401, "missing_token"),
    ],
)
def test_malformed_requests_get_4xx_json(
    server: EdgeServerThread,
    small: RunnableModel,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    code: str,
) -> None:
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        method = "GET" if path.endswith("health") else "POST"
        response = http.request(method, path, headers=headers, content=body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error"] == code and payload["detail"]
    _assert_still_serving(server, small)


def test_bad_downlink_rate(server: EdgeServerThread, small: RunnableModel) -> None:
    with EdgeClient(server.url, TOKEN) as client:
        intermediate = device_part(small, 1, random_input(small, 0))
        for rate, code in [(1.0, "bad_downlink_rate"), (float("nan"), "bad_downlink_rate"), (1e3, None)]:
            if code is None:
                # 40 bytes at 1 kbit/s is 0.32 s: within the 1 s limit.
                assert client.infer("small", 1, intermediate, downlink_bps=rate).downlink_s >= 0.3
                continue
            with pytest.raises(EdgeError) as error:
                client.infer("small", 1, intermediate, downlink_bps=rate)
            assert error.value.status == 422 and error.value.code == code


def test_stalled_body_times_out(server: EdgeServerThread, small: RunnableModel) -> None:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10.0) as sock:
        head = (
            f"POST /v1/infer/small/1 HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {TOKEN}\r\n"
            "X-Nomasplit-Dtype: float32\r\nX-Nomasplit-Shape: 1,8,8,8\r\n"
            f"Content-Length: {len(BODY_OK)}\r\n\r\n"
        )
        sock.sendall(head.encode() + BODY_OK[:100])  # then nothing: the body never completes
        started = time.perf_counter()
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        waited_s = time.perf_counter() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer
    assert 0.9 <= waited_s < 5.0
    _assert_still_serving(server, small)


def test_concurrent_clients_all_correct(server: EdgeServerThread, small: RunnableModel) -> None:
    failures: list[str] = []

    def client_run(index: int) -> None:
        inputs = random_input(small, 100 + index)
        reference = local_output(small, inputs)
        with EdgeClient(server.url, TOKEN) as client:
            for split in range(small.num_units):
                report, _ = run_split(small, split, inputs, client=client, reference=reference)
                if not report.matches:
                    failures.append(f"client {index} split {split}: {report.max_abs_diff}")

    threads = [threading.Thread(target=client_run, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60.0)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


def test_inflight_limit_answers_503(small: RunnableModel) -> None:
    settings = EdgeSettings(token=TOKEN, max_inflight=1, request_timeout_s=5.0)
    intermediate = device_part(small, 1, random_input(small, 0))
    with EdgeServerThread({"small": small}, settings) as running:
        slow_done = threading.Event()

        def slow_request() -> None:
            with EdgeClient(running.url, TOKEN) as client:
                client.infer("small", 1, intermediate, downlink_bps=1e3)  # 0.32 s of paced answer
            slow_done.set()

        thread = threading.Thread(target=slow_request)
        thread.start()
        time.sleep(0.1)
        with EdgeClient(running.url, TOKEN) as client:
            with pytest.raises(EdgeError) as error:
                client.infer("small", 1, intermediate)
            assert error.value.status == 503 and error.value.code == "busy"
            thread.join(timeout=10.0)
            assert slow_done.is_set()
            assert client.infer("small", 1, intermediate).output.shape == (1, 10)


def test_settings_reject_short_token() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="at least 16"):
        EdgeSettings(token="short")


def test_models_endpoint_describes_shapes_and_weights(server: EdgeServerThread, small: RunnableModel) -> None:
    with EdgeClient(server.url, TOKEN) as client:
        described = client.models()["models"]["small"]
    assert described["weights_sha256"] == small.weights_sha256
    assert described["split_shapes"][1] == "1,8,8,8"
    assert described["num_units"] == 5
