"""The edge server: runs units ``s+1..F`` of a served model on a tensor a device sends (HTTP, FastAPI +
uvicorn).

Safety, in the order a request meets it (each failure is a JSON ``{"error", "detail"}`` answer; the server
keeps serving):

0. Connection guard (:func:`_guarded_protocol`, in front of the app): a connection must deliver a complete
   request line and headers within ``header_timeout_s`` of opening (or of its previous answer), else it is
   closed; at most ``max_waiting_connections`` connections may be waiting for their headers at once, and a
   new one closes the oldest waiting one; headers above :data:`MAX_HEADER_BYTES` get 431. Unauthenticated
   answers (401, 403, 431) close the connection, so clients without the token cannot hold connections open
   and cannot exhaust uvicorn's connection limit.
1. Shared-secret token, ``Authorization: Bearer <token>``, compared in constant time (401 missing, 403
   wrong), before anything else is read.
2. Concurrency: at most ``max_inflight`` requests at once, streamed answers included; more get 503 at once.
3. Declared size: a ``Content-Length`` above ``max_body_bytes`` gets 413 before the body is read.
4. Model (404 unknown), split (422 outside ``0..F-1``), dtype and shape headers (400 missing or malformed,
   422 not what the model takes at that split), declared length against the shape (400 short, 413 long). A
   DAG model's split takes ``X-Nomasplit-Tensors`` instead of the shape: the names, order and shapes of the
   live tensors must be the ones ``/v1/models`` lists for that split (422 ``wrong_tensors``).
5. The body is read within ``request_timeout_s`` (408) and never beyond the expected length (413), then
   decoded with ``numpy.frombuffer`` (no pickle).
6. The answer is paced at the ``X-Nomasplit-Downlink-Bps`` rate when asked, if within the rate bounds and if
   the paced answer fits within ``request_timeout_s`` (422 otherwise).

Compute runs in a small thread pool (``compute_workers``) so the event loop keeps answering other requests."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import math
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from nomasplit.runtime.models import RunnableModel
from nomasplit.runtime.protocol import (
    CONTENT_TYPE,
    HEADER_DOWNLINK_BPS,
    HEADER_DTYPE,
    HEADER_EDGE_COMPUTE_S,
    HEADER_EDGE_QUEUE_S,
    HEADER_SHAPE,
    HEADER_TENSORS,
    HEALTH_PATH,
    INFER_PATH,
    MODELS_PATH,
    ProtocolError,
    TensorHeader,
    TensorList,
    decode_tensor,
    decode_tensors,
    encode_tensor,
    format_shape,
    format_tensors,
    parse_dtype,
    parse_tensor_header,
    parse_tensors,
    tensors_num_bytes,
    wire_dtype_name,
)
from nomasplit.runtime.shaping import MAX_RATE_BPS, MIN_RATE_BPS, apaced_chunks, check_rate, transfer_time_s

MIN_TOKEN_CHARS = 16

#: Largest request line plus headers accepted (431 above), as h11's limit on an incomplete request.
MAX_HEADER_BYTES = 16 * 1024


class EdgeSettings(BaseModel):
    """Limits and secret of an edge server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr = Field(description="shared secret every request must present as a Bearer token")
    max_body_bytes: int = Field(default=64 * 2**20, ge=1, le=2**34, description="largest request body accepted")
    max_inflight: int = Field(default=8, ge=1, le=4096, description="requests handled at once; more get 503")
    compute_workers: int = Field(default=1, ge=1, le=64, description="threads running model forwards")
    request_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="limit on reading a body and on paced answers",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        allow_inf_nan=False,
        description="a connection must send its request line and headers within this time, else it is closed",
    )
    max_waiting_connections: int = Field(
        default=64,
        ge=1,
        le=65536,
        description="connections waiting for their request's headers at once; a new one closes the oldest",
    )

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr) -> SecretStr:
        if len(token.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"must have at least {MIN_TOKEN_CHARS} characters")
        return token


def _json_error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _header_bytes(scope: Scope) -> int:
    """Size of the request line and headers as they came on the wire (approximately: separators counted)."""
    line = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) + len(scope.get("method", "")) + 16
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


class _Guard:
    """ASGI wrapper: token check and in-flight limit around the whole request, streamed answer included."""

    def __init__(self, app: ASGIApp, settings: EdgeSettings) -> None:
        self._app = app
        self._token = settings.token.get_secret_value().encode()
        self._max_inflight = settings.max_inflight
        self._inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        close = {"Connection": "close"}  # a refused client keeps no connection open
        size = _header_bytes(scope)
        if size > MAX_HEADER_BYTES:
            detail = f"request line and headers take {size} bytes, more than the limit of {MAX_HEADER_BYTES}"
            await _json_error(431, "headers_too_large", detail, headers=close)(scope, receive, send)
            return
        authorization = dict(scope["headers"]).get(b"authorization")
        if authorization is None:
            response = _json_error(
                401,
                "missing_token",
                "header 'Authorization: Bearer <NOMASPLIT_TOKEN>' is required",
                headers={"WWW-Authenticate": "Bearer", **close},
            )
            await response(scope, receive, send)
            return
        scheme, _, presented = authorization.partition(b" ")
        # compare_digest runs in time independent of where the strings differ.
        if not (scheme.lower() == b"bearer" and hmac.compare_digest(presented.strip(), self._token)):
            response = _json_error(403, "wrong_token", "the token does not match the server's", headers=close)
            await response(scope, receive, send)
            return
        if self._inflight >= self._max_inflight:
            response = _json_error(
                503,
                "busy",
                f"the edge is handling its limit of {self._max_inflight} requests; retry later",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self._inflight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self._inflight -= 1


class _Edge:
    """Request handling of one server: served models, limits, compute pool."""

    def __init__(self, models: Mapping[str, RunnableModel], settings: EdgeSettings) -> None:
        self.models = dict(models)
        self.settings = settings
        self.executor = ThreadPoolExecutor(max_workers=settings.compute_workers, thread_name_prefix="edge-compute")

    def describe(self) -> dict[str, Any]:
        return {
            "models": {name: model.describe() for name, model in self.models.items()},
            "limits": {
                "max_body_bytes": self.settings.max_body_bytes,
                "max_inflight": self.settings.max_inflight,
                "request_timeout_s": self.settings.request_timeout_s,
                "downlink_bps_range": [MIN_RATE_BPS, MAX_RATE_BPS],
            },
        }

    def _lookup(self, name: str, split_text: str) -> tuple[RunnableModel, int]:
        model = self.models.get(name)
        if model is None:
            raise ProtocolError(404, "unknown_model", f"model {name!r} is not served; served: {sorted(self.models)}")
        last = model.num_units - 1
        # ASCII digits only: str.isdigit() also accepts '²' or '٣', which int() then refuses.
        if (
            not (split_text.isascii() and split_text.isdigit() and len(split_text) <= 6)
            or not 0 <= int(split_text) <= last
        ):
            raise ProtocolError(
                422,
                "split_out_of_range",
                f"split {split_text!r} is out of range: the edge runs splits 0..{last} of {name!r} "
                f"(split {model.num_units} is Device-Only and sends nothing)",
            )
        return model, int(split_text)

    def _check_header(self, model: RunnableModel, split: int, header: TensorHeader) -> None:
        expected_dtype = wire_dtype_name(model.dtype)
        if header.dtype != expected_dtype:
            raise ProtocolError(
                422,
                "wrong_dtype",
                f"{model.name} at split {split} takes {expected_dtype}, got {header.dtype}",
            )
        expected_shape = model.split_shapes[split]
        if header.shape != expected_shape:
            raise ProtocolError(
                422,
                "wrong_shape",
                f"{model.name} at split {split} takes shape [{format_shape(expected_shape)}], "
                f"got [{format_shape(header.shape)}]",
            )

    def _check_tensors(self, model: RunnableModel, split: int, dtype: str, entries: TensorList) -> None:
        expected_dtype = wire_dtype_name(model.dtype)
        if dtype != expected_dtype:
            raise ProtocolError(
                422, "wrong_dtype", f"{model.name} at split {split} takes {expected_dtype}, got {dtype}"
            )
        assert model.split_tensors is not None
        expected = model.split_tensors[split]
        if entries != expected:
            raise ProtocolError(
                422,
                "wrong_tensors",
                f"{model.name} at split {split} takes {HEADER_TENSORS} {format_tensors(expected)!r}, "
                f"got {format_tensors(entries)!r}",
            )

    def _downlink_rate(self, request: Request, model: RunnableModel) -> float | None:
        value = request.headers.get(HEADER_DOWNLINK_BPS)
        if value is None:
            return None
        try:
            rate = check_rate(float(value), HEADER_DOWNLINK_BPS)
        except ValueError as exc:
            raise ProtocolError(422, "bad_downlink_rate", str(exc)) from None
        result_bytes = math.prod(model.split_shapes[-1]) * model.dtype.itemsize
        air_time_s = transfer_time_s(result_bytes, rate)
        if air_time_s > self.settings.request_timeout_s:
            raise ProtocolError(
                422,
                "downlink_too_slow",
                f"{HEADER_DOWNLINK_BPS} = {value} would take {air_time_s:.1f} s for {result_bytes} bytes, "
                f"more than the request limit of {self.settings.request_timeout_s:g} s",
            )
        return rate

    async def _read_body(self, request: Request, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ProtocolError(413, "body_too_large", f"body is longer than the {limit} bytes its header needs")
            chunks.append(chunk)
        return b"".join(chunks)

    def _forward(
        self, model: RunnableModel, split: int, tensor: torch.Tensor | dict[str, torch.Tensor], submitted: float
    ) -> tuple[torch.Tensor, float, float]:
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.tail(split)(tensor)
        return output, time.perf_counter() - started, started - submitted

    async def infer(self, request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit() and len(declared) <= 19):
                raise ProtocolError(400, "bad_content_length", f"Content-Length {declared!r} is not an integer")
            if int(declared) > self.settings.max_body_bytes:
                raise ProtocolError(
                    413,
                    "body_too_large",
                    f"Content-Length {declared} exceeds the server's limit of {self.settings.max_body_bytes} bytes",
                )
        model, split = self._lookup(request.path_params["model"], request.path_params["split"])
        header: TensorHeader | None = None
        entries: TensorList = ()
        if model.split_tensors is None:
            header = parse_tensor_header(request.headers.get(HEADER_DTYPE), request.headers.get(HEADER_SHAPE))
            self._check_header(model, split, header)
            expected_bytes = header.num_bytes
            described = f"dtype {header.dtype} and shape [{format_shape(header.shape)}]"
        else:
            dtype = parse_dtype(request.headers.get(HEADER_DTYPE))
            entries = parse_tensors(request.headers.get(HEADER_TENSORS))
            self._check_tensors(model, split, dtype, entries)
            expected_bytes = tensors_num_bytes(dtype, entries)
            described = f"dtype {dtype} and {HEADER_TENSORS}"
        if declared is not None and int(declared) < expected_bytes:
            raise ProtocolError(
                400,
                "truncated_body",
                f"Content-Length {declared} is shorter than the {expected_bytes} bytes of {described}",
            )
        if declared is not None and int(declared) > expected_bytes:
            raise ProtocolError(
                413,
                "body_too_large",
                f"Content-Length {declared} is longer than the {expected_bytes} bytes of {described}",
            )
        downlink_bps = self._downlink_rate(request, model)
        try:
            body = await asyncio.wait_for(
                self._read_body(request, min(expected_bytes, self.settings.max_body_bytes)),
                timeout=self.settings.request_timeout_s,
            )
        except TimeoutError:
            raise ProtocolError(
                408,
                "request_timeout",
                f"the body did not arrive within {self.settings.request_timeout_s:g} s",
            ) from None
        tensor: torch.Tensor | dict[str, torch.Tensor]
        if header is not None:
            tensor = decode_tensor(body, header)
        else:
            tensor = decode_tensors(body, wire_dtype_name(model.dtype), entries)
        loop = asyncio.get_running_loop()
        try:
            output, compute_s, queue_s = await loop.run_in_executor(
                self.executor, self._forward, model, split, tensor, time.perf_counter()
            )
        except Exception as exc:  # a model failing on a validated tensor is the server's fault
            raise ProtocolError(500, "edge_compute_failed", f"{type(exc).__name__}: {exc}") from None
        payload, out_header = encode_tensor(output)
        headers = {
            **out_header.to_headers(),
            HEADER_EDGE_COMPUTE_S: f"{compute_s:.9f}",
            HEADER_EDGE_QUEUE_S: f"{queue_s:.9f}",
            "Content-Length": str(len(payload)),
        }
        if downlink_bps is None:
            return Response(payload, media_type=CONTENT_TYPE, headers=headers)
        return StreamingResponse(apaced_chunks(payload, downlink_bps), media_type=CONTENT_TYPE, headers=headers)


def create_app(models: Mapping[str, RunnableModel], settings: EdgeSettings) -> ASGIApp:
    """The ASGI application of an edge server serving ``models`` under ``settings``.

    Args:
        models: served models by wire name (see :func:`nomasplit.runtime.models.prepare_model`).
        settings: token and limits.

    Returns:
        An ASGI app (run it with uvicorn, or :class:`EdgeServerThread` / :func:`serve`).
    """
    from fastapi import FastAPI

    edge = _Edge(models, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        edge.executor.shutdown(wait=False, cancel_futures=True)

    api = FastAPI(title="nomasplit edge", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    async def protocol_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProtocolError)
        return JSONResponse(exc.to_json(), status_code=exc.status)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _json_error(exc.status_code, "http_error", str(exc.detail))

    api.add_exception_handler(ProtocolError, protocol_error)
    api.add_exception_handler(StarletteHTTPException, http_error)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def describe(_: Request) -> Response:
        return JSONResponse(edge.describe())

    async def infer(request: Request) -> Response:
        try:
            return await edge.infer(request)
        except ClientDisconnect:
            return Response(status_code=499)  # nobody is listening; the connection is gone

    api.add_api_route(HEALTH_PATH, health, methods=["GET"])
    api.add_api_route(MODELS_PATH, describe, methods=["GET"])
    api.add_api_route(INFER_PATH, infer, methods=["POST"])
    return _Guard(api, settings)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port=0`` picks a free one; read it back with ``getsockname()``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted connections (it checks the proto), so a
    # response body is not held back by Nagle's algorithm behind its headers.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _guarded_protocol(settings: EdgeSettings) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a deadline on the request line and headers, and a cap on waiting connections.

    uvicorn starts no timer until a first request has been answered, so a client that opens a connection and
    never sends (or trickles a header a byte at a time) would hold it for ever, and uvicorn's
    ``limit_concurrency`` counts such connections: 64 idle sockets made every real request a 503. Here a
    connection is *waiting* from its opening (and again after each answer on a kept-alive connection) until
    its request line and headers are complete. A waiting connection is closed after ``header_timeout_s``, and
    when more than ``max_waiting_connections`` are waiting, the oldest is closed. A client with the token
    sends its request at once, so it is waiting only for a moment; clients that never complete a request
    cannot accumulate.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    waiting: OrderedDict[GuardedH11Protocol, None] = OrderedDict()  # oldest first

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _cancel_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _start_waiting(self) -> None:
            self._cancel_timer()
            waiting[self] = None
            waiting.move_to_end(self)
            while len(waiting) > settings.max_waiting_connections:
                oldest, _ = waiting.popitem(last=False)
                oldest._close_waiting()
            self._header_timer = self.loop.call_later(settings.header_timeout_s, self._close_waiting)

        def _stop_waiting(self) -> None:
            waiting.pop(self, None)
            self._cancel_timer()

        def _close_waiting(self) -> None:
            self._stop_waiting()
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_waiting()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self in waiting and self.conn.their_state is not h11.IDLE:
                self._stop_waiting()  # a request line and its headers arrived (or the connection failed)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._start_waiting()  # a kept-alive connection waits for its next request

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

    return GuardedH11Protocol


def _uvicorn_server(app: ASGIApp, settings: EdgeSettings, access_log: bool) -> Any:
    import uvicorn

    config = uvicorn.Config(
        app,
        http=_guarded_protocol(settings),
        log_level="info" if access_log else "warning",
        access_log=access_log,
        # Backstop behind the app's own limit, above what clients without the token can hold (waiting
        # connections are capped by the guard, refused ones are closed), so it never refuses a real client.
        limit_concurrency=settings.max_waiting_connections + 4 * settings.max_inflight + 64,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        lifespan="on",
    )
    return uvicorn.Server(config)


def serve(
    models: Mapping[str, RunnableModel],
    settings: EdgeSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_ready: Callable[[str], None] | None = None,
    access_log: bool = False,
) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM). ``on_ready(url)`` is called once the socket listens."""
    sock = bind_socket(host, port)
    server = _uvicorn_server(create_app(models, settings), settings, access_log)
    if on_ready is not None:
        on_ready(url_of(sock))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


class EdgeServerThread:
    """An edge server in a background thread, for tests, benchmarks and the load test.

    Use as a context manager: ``with EdgeServerThread(models, settings) as server: server.url``. It listens on
    ``127.0.0.1`` and a free port by default, and is always shut down on exit.
    """

    def __init__(
        self,
        models: Mapping[str, RunnableModel],
        settings: EdgeSettings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout_s: float = 30.0,
    ) -> None:
        self._sock = bind_socket(host, port)
        self.url = url_of(self._sock)
        self._server = _uvicorn_server(create_app(models, settings), settings, access_log=False)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._start_timeout_s = start_timeout_s

    def __enter__(self) -> EdgeServerThread:
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the edge server did not start")
            time.sleep(0.01)
        return self

    def close(self) -> None:
        """Stop the server and wait (bounded) for its thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)
        self._sock.close()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
