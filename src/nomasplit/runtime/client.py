"""HTTP client of the edge server, used by the device: send a tensor, get the result and the timings."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from nomasplit.data.files import format_validation_error
from nomasplit.errors import InputError, NomasplitError
from nomasplit.io import parse_json
from nomasplit.runtime.protocol import (
    CONTENT_TYPE,
    HEADER_DOWNLINK_BPS,
    HEADER_DTYPE,
    HEADER_EDGE_COMPUTE_S,
    HEADER_EDGE_QUEUE_S,
    HEADER_SHAPE,
    HEALTH_PATH,
    INFER_PATH,
    MODELS_PATH,
    ProtocolError,
    decode_tensor,
    encode_payload,
    parse_tensor_header,
)
from nomasplit.runtime.shaping import paced_chunks, transfer_time_s

TOKEN_ENV = "NOMASPLIT_TOKEN"

#: Largest answer the client reads from an edge: an inference result (VGG16's is 4 kB), or 1 MiB of JSON.
DEFAULT_MAX_ANSWER_BYTES = 256 * 2**20
MAX_JSON_ANSWER_BYTES = 2**20
#: Longest Retry-After the client honours [s].
MAX_RETRY_AFTER_S = 60.0
#: Overall deadline of one request when the caller names none (``device run --timeout-s``, ``edge loadtest
#: --timeout-s``) [s].
DEFAULT_TIMEOUT_S = 120.0
#: Longest overall deadline accepted [s]: one day.
MAX_TIMEOUT_S = 86400.0


def check_timeout_s(value: float, option: str = "--timeout-s") -> float:
    """``value`` as a deadline in seconds, or :class:`InputError` naming ``option`` unless finite, > 0 and at most
    :data:`MAX_TIMEOUT_S`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_TIMEOUT_S:  # NaN too
        raise InputError(
            f"{option} {value!r} is out of range: a number of seconds > 0 and at most {MAX_TIMEOUT_S:g} (one day)"
        )
    return float(value)


def token_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The shared secret from ``NOMASPLIT_TOKEN``; raise :class:`InputError` if it is not set."""
    environ = os.environ if environ is None else environ
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise InputError(
            f"{TOKEN_ENV} is not set: edge and device share a secret token; set the same value on both, e.g. "
            f"export {TOKEN_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if not (token.isascii() and token.isprintable()):
        raise InputError(
            f"{TOKEN_ENV} holds characters other than printable ASCII: an HTTP header carries only those; use e.g. "
            f"$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


class ServedModelInfo(BaseModel):
    """One served model in the edge's ``/v1/models`` answer (the fields the device reads; others are ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    num_units: int
    weights_sha256: str


class EdgeLimits(BaseModel):
    """The edge's limits in its ``/v1/models`` answer."""

    model_config = ConfigDict(extra="ignore", strict=True)

    max_inflight: int | None = None
    max_body_bytes: int | None = None


class ModelsAnswer(BaseModel):
    """The edge's ``/v1/models`` answer, validated before the device uses it (an answer of another shape is a
    ``bad_answer`` :class:`EdgeError`, not a crash)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    models: dict[str, ServedModelInfo]
    limits: EdgeLimits = EdgeLimits()


class HealthAnswer(BaseModel):
    """The edge's ``/v1/health`` answer."""

    model_config = ConfigDict(extra="ignore", strict=True)

    status: str


class EdgeError(NomasplitError):
    """The edge answered with an error, or could not be reached.

    Attributes:
        status: HTTP status (``None`` if there was no answer).
        code: the server's error code, e.g. ``"wrong_shape"`` (``"unreachable"`` without an answer).
        detail: the server's message.
    """

    def __init__(self, status: int | None, code: str, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"edge answered {status} {code}: {detail}" if status is not None else f"edge: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class EdgeReply:
    """The edge's result and where the time went, as the device sees it.

    Attributes:
        output: the result tensor (units ``s+1..F`` applied).
        uplink_s: from sending the request to its last body byte leaving (paced at the uplink rate if shaped).
        edge_queue_s: the edge's wait for a compute worker (reported by the edge).
        edge_compute_s: the edge's forward pass (reported by the edge).
        downlink_s: from the answer's headers to its last byte (paced at the downlink rate if shaped).
        other_s: the rest of ``total_s``: HTTP parsing, decoding, loopback.
        total_s: the whole round trip.
        uplink_bytes: payload bytes sent (the tensor body).
        downlink_bytes: payload bytes received.
    """

    output: torch.Tensor
    uplink_s: float
    edge_queue_s: float
    edge_compute_s: float
    downlink_s: float
    other_s: float
    total_s: float
    uplink_bytes: int
    downlink_bytes: int


def _retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (the delay form), capped at :data:`MAX_RETRY_AFTER_S`; None if absent or odd."""
    value = response.headers.get("retry-after", "").strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 6):
        return None
    return min(float(value), MAX_RETRY_AFTER_S)


def _error_from(response: httpx.Response, content: bytes) -> EdgeError:
    """The edge's error answer as an :class:`EdgeError`: its ``error`` and ``detail`` if the answer is a JSON
    object (read with the input rules: no deep nesting, no key twice), else the answer's first 200 characters."""
    retry_after = _retry_after_s(response)
    try:
        body = parse_json(content.decode("utf-8"), "the edge's error answer")
    except (InputError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        return EdgeError(
            response.status_code, str(body.get("error", "error")), str(body.get("detail", "")), retry_after
        )
    return EdgeError(response.status_code, "error", content[:200].decode("utf-8", "replace"), retry_after)


def _read_capped(response: httpx.Response, limit: int, what: str) -> bytes:
    """The body of a streamed answer, refusing (EdgeError) one longer than ``limit`` bytes before reading it."""
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise EdgeError(response.status_code, "answer_too_large", f"{what} declares {declared} bytes, limit {limit}")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise EdgeError(
                response.status_code, "answer_too_large", f"{what} is longer than the limit of {limit} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


# --- the overall deadline -----------------------------------------------------------------------------------------
# httpx's timeouts bound each socket operation (connect, one read, one write), not a request: an edge that sends
# its status line, headers or body one byte per second never trips them. The client's transport runs on a network
# backend that caps every socket wait at the time left before the request's deadline, so the whole request
# (host name lookup, connect, request, status line, headers, body) ends by then, however the edge trickles.
# The host name lookup is the operating system's resolver (getaddrinfo), which no timeout of Python's reaches
# (glibc waits resolv.conf's timeout x attempts per name server, 5 s x 2 by default, more with search domains):
# it runs in a daemon thread, and the request stops waiting for it when the time is up.

#: Largest slice of a body written in one socket wait (each slice's wait is capped anew at the time left).
_WRITE_SLICE_BYTES = 64 * 1024


class _Deadline(threading.local):
    """When (``time.monotonic()``) the request in progress on this thread must be complete; ``None`` outside one."""

    at: float | None = None

    def cap(self, timeout: float | None, error: type[Exception]) -> float | None:
        """``timeout`` of one socket wait, shortened to the time left; raise ``error`` if none is left."""
        if self.at is None:
            return timeout
        left_s = self.at - time.monotonic()
        if left_s <= 0:
            raise error("the request's overall deadline has passed")
        return left_s if timeout is None else min(timeout, left_s)

    @property
    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits at most until the request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        for start in range(0, len(view), _WRITE_SLICE_BYTES):
            piece = view[start : start + _WRITE_SLICE_BYTES]
            self._stream.write(piece, self._deadline.cap(timeout, httpcore.WriteTimeout))  # type: ignore[arg-type]

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        secure = self._stream.start_tls(
            ssl_context, server_hostname, self._deadline.cap(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(secure, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def resolve_host(host: str, port: int, wait_s: float | None) -> list[str]:
    """The addresses of ``host`` for a TCP connection, in the resolver's order; an IP address as it is.

    The lookup (``socket.getaddrinfo``) runs in a daemon thread, and the caller waits for it at most ``wait_s``
    seconds (``None``: as long as it takes): past that, ``httpcore.ConnectTimeout``. A lookup cannot be
    cancelled: its thread is left to end when the resolver gives up; it holds no lock or socket of the client,
    and a daemon thread does not hold up the process's exit.

    Raises:
        httpcore.ConnectTimeout: no answer within ``wait_s``.
        httpcore.ConnectError: the name does not resolve.
    """
    try:
        ipaddress.ip_address(host.partition("%")[0])
        return [host]
    except ValueError:
        pass
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def look_up() -> None:
        try:
            outcome["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:  # socket.gaierror, and any other failure of the lookup
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=look_up, name=f"nomasplit-resolve-{host}", daemon=True).start()
    if not done.wait(wait_s):
        raise httpcore.ConnectTimeout(f"looking up the host name {host!r}: no answer within {wait_s:.3g} s")
    if "error" in outcome:
        raise httpcore.ConnectError(f"looking up the host name {host!r}: {outcome['error']}")
    addresses: list[str] = []
    for *_, sockaddr in outcome["addresses"]:
        if str(sockaddr[0]) not in addresses:
            addresses.append(str(sockaddr[0]))
    if not addresses:
        raise httpcore.ConnectError(f"looking up the host name {host!r}: no address")
    return addresses


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's blocking sockets, with every wait held to :attr:`deadline` (one per client): the host name
    lookup (:func:`resolve_host`), each connection attempt, each read and write."""

    def __init__(self) -> None:
        self.deadline = _Deadline()
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve_host(host, port, self.deadline.cap(timeout, httpcore.ConnectTimeout))
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:  # as socket.create_connection, each attempt within the time left
            attempt_s = self.deadline.cap(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._backend.connect_tcp(address, port, attempt_s, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self.deadline)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        timeout = self.deadline.cap(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options), self.deadline)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport (its request and response handling, its exceptions) on a :class:`_DeadlineBackend`.

    ``secure``: the client talks https (the CA bundle is loaded, once); for http the TLS context is an empty one
    that would refuse any peer (it is never used, and costs nothing to make: a load test starts many clients)."""

    def __init__(self, backend: _DeadlineBackend, socket_options: list[tuple[int, int, int]], secure: bool) -> None:
        context = httpx.create_ssl_context(trust_env=False) if secure else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        super().__init__(verify=context, trust_env=False, socket_options=socket_options)
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):  # httpx keeps its pool there
            raise RuntimeError(f"httpx {httpx.__version__}: its transport has no connection pool to replace")
        self._pool = httpcore.ConnectionPool(
            ssl_context=context, socket_options=socket_options, network_backend=backend
        )


class EdgeClient:
    """Talks to one edge server. Use as a context manager, or call :meth:`close`.

    Every request has one overall deadline, ``timeout_s`` from its start: connecting, sending, and receiving the
    status line, the headers and the whole body must all be done by then, however slowly the edge trickles any of
    them (``EdgeError`` with code ``"deadline"`` past it). A shaped transfer adds its air time: the uplink's
    (``8 * len(body) / uplink_bps``) and, once the headers declare its length, the paced downlink's.

    Args:
        url: ``http://host:port`` of the edge.
        token: the shared secret (see :func:`token_from_env`).
        timeout_s: the overall deadline of each request [s] (and so of the host name lookup and of each
            connect, read and write in it), in (0, :data:`MAX_TIMEOUT_S`]; ``None``: :data:`DEFAULT_TIMEOUT_S`.
        max_answer_bytes: longest inference answer read (longer ones are refused unread, ``answer_too_large``).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout_s: float | None = None,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"--edge {url!r} must be an http:// or https:// URL")
        timeout_s = check_timeout_s(
            DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s, "the edge client's timeout_s"
        )
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_answer_bytes = max_answer_bytes
        self._backend = _DeadlineBackend()
        # TCP_NODELAY: the request's headers and body are separate writes; with Nagle's algorithm the body
        # would wait for the peer's delayed ACK of the headers (about 40 ms on Linux).
        transport = _DeadlineTransport(
            self._backend, [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)], secure=self.url.startswith("https://")
        )
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            trust_env=False,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> EdgeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _deadline(self, seconds: float, doing: str) -> Iterator[_Deadline]:
        """Within: every socket wait of this thread's request ends by ``seconds`` from now (extend it through
        the yielded :class:`_Deadline`); an httpx error becomes an :class:`EdgeError` naming ``doing`` (code
        ``deadline`` once the time is up, else ``unreachable``)."""
        deadline = self._backend.deadline
        began = time.monotonic()
        deadline.at = began + seconds
        try:
            yield deadline
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.TimeoutException) and deadline.passed:
                assert deadline.at is not None
                raise EdgeError(
                    None,
                    "deadline",
                    f"{doing}: no complete answer from {self.url} within the overall deadline of "
                    f"{deadline.at - began:.3g} s",
                ) from None
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                raise EdgeError(None, "unreachable", f"{doing}: cannot reach {self.url}: {exc}") from None
            raise EdgeError(None, "unreachable", f"{doing}: the exchange with {self.url} broke off: {exc}") from None
        finally:
            deadline.at = None

    def _get(self, path: str, answer: type[BaseModel]) -> dict[str, Any]:
        """``GET path``: the JSON answer, validated as ``answer`` (the edge's answer as sent, once valid)."""
        with self._deadline(self.timeout_s, f"GET {path}"), self._http.stream("GET", path) as response:
            content = _read_capped(response, MAX_JSON_ANSWER_BYTES, f"the answer to GET {path}")
        if response.status_code != 200:
            raise _error_from(response, content)
        try:
            data = parse_json(content.decode("utf-8"), f"GET {path}")
            answer.model_validate(data)
        except (InputError, UnicodeDecodeError) as exc:
            raise EdgeError(response.status_code, "bad_answer", f"GET {path}: the answer is not JSON ({exc})") from None
        except ValidationError as exc:
            raise EdgeError(
                response.status_code, "bad_answer", format_validation_error(exc, f"GET {path}: unexpected answer")
            ) from None
        return dict(data)

    def health(self) -> dict[str, Any]:
        """``GET /v1/health``, validated as :class:`HealthAnswer`."""
        return self._get(HEALTH_PATH, HealthAnswer)

    def models(self) -> dict[str, Any]:
        """``GET /v1/models``: served models (units, shapes, weight fingerprints) and limits, validated as
        :class:`ModelsAnswer`."""
        return self._get(MODELS_PATH, ModelsAnswer)

    def infer(
        self,
        model: str,
        split: int,
        tensor: torch.Tensor | Mapping[str, torch.Tensor],
        *,
        uplink_bps: float | None = None,
        downlink_bps: float | None = None,
    ) -> EdgeReply:
        """Run units ``split+1..F`` of ``model`` on the edge.

        Args:
            model: served model name.
            split: ``s`` in ``0..F-1``; ``tensor`` is the output of unit ``s`` (the raw input if ``s = 0``).
            tensor: the intermediate tensor, batch included; for a DAG model, the live tensors by name.
            uplink_bps: pace the sent body at this rate (``None``: as fast as the link goes).
            downlink_bps: ask the edge to pace its answer at this rate.

        Raises:
            EdgeError: the edge rejected the request, could not be reached, or did not answer in full within
                the overall deadline (``timeout_s`` plus the shaped air time of the body and the answer).
        """
        body, request_headers = encode_payload(tensor)
        marks: dict[str, float] = {}

        def paced_body() -> Iterator[bytes]:
            yield from paced_chunks(body, uplink_bps)
            marks["uplink_done"] = time.perf_counter()

        headers = {**request_headers, "Content-Type": CONTENT_TYPE, "Content-Length": str(len(body))}
        if downlink_bps is not None:
            headers[HEADER_DOWNLINK_BPS] = repr(float(downlink_bps))
        request = self._http.build_request(
            "POST", INFER_PATH.format(model=model, split=split), content=paced_body(), headers=headers
        )
        uplink_air_s = transfer_time_s(len(body), uplink_bps) if uplink_bps else 0.0
        with self._deadline(self.timeout_s + uplink_air_s, f"POST {request.url.path}") as deadline:
            started = time.perf_counter()
            response = self._http.send(request, stream=True)
            try:
                headers_at = time.perf_counter()
                declared = response.headers.get("content-length", "")
                if downlink_bps and declared.isascii() and declared.isdigit() and deadline.at is not None:
                    deadline.at += transfer_time_s(min(int(declared), self.max_answer_bytes), downlink_bps)
                if response.status_code != 200:
                    raise _error_from(response, _read_capped(response, MAX_JSON_ANSWER_BYTES, "the error answer"))
                payload = _read_capped(response, self.max_answer_bytes, "the answer")
                finished = time.perf_counter()
            finally:
                response.close()
        try:
            out_header = parse_tensor_header(response.headers.get(HEADER_DTYPE), response.headers.get(HEADER_SHAPE))
            output = decode_tensor(payload, out_header)
            edge_compute_s = float(response.headers.get(HEADER_EDGE_COMPUTE_S, "nan"))
            edge_queue_s = float(response.headers.get(HEADER_EDGE_QUEUE_S, "nan"))
        except (ProtocolError, ValueError) as exc:
            raise EdgeError(200, "bad_answer", f"the edge's answer is malformed: {exc}") from None
        uplink_s = marks.get("uplink_done", headers_at) - started
        downlink_s = finished - headers_at
        total_s = finished - started
        return EdgeReply(
            output=output,
            uplink_s=uplink_s,
            edge_queue_s=edge_queue_s,
            edge_compute_s=edge_compute_s,
            downlink_s=downlink_s,
            other_s=total_s - uplink_s - edge_queue_s - edge_compute_s - downlink_s,
            total_s=total_s,
            uplink_bytes=len(body),
            downlink_bytes=len(payload),
        )
