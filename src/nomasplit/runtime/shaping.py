"""Channel emulation: pace a byte string at a fixed bit rate.

A shaped transfer of ``n`` bytes at ``R`` bit/s takes ``8 n / R`` seconds, as the system model's ``w(s) /
R``. The bytes go out in chunks; chunk ``k`` is released when its last bit would have arrived over the
emulated link, at ``t0 + 8 * (bytes up to and including chunk k) / R``. So the receiver sees the last byte
at ``t0 + 8 n / R`` (plus the loopback's own, much smaller, delay). The device paces its uplink with
:func:`paced_chunks`; the edge paces its answer with :func:`apaced_chunks` at the rate the device asks for
(within the server's bounds)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

#: Emulated rates must lie in this range [bit/s].
MIN_RATE_BPS = 1e3
MAX_RATE_BPS = 1e12
#: Chunks carry about this much emulated air time, within the byte bounds below.
CHUNK_AIR_TIME_S = 0.005
MIN_CHUNK_BYTES = 1024
MAX_CHUNK_BYTES = 256 * 1024


def check_rate(rate_bps: float, name: str) -> float:
    """Return ``rate_bps`` as a float or raise :class:`ValueError` naming ``name`` and the allowed range."""
    rate = float(rate_bps)
    if not MIN_RATE_BPS <= rate <= MAX_RATE_BPS:  # also rejects NaN
        raise ValueError(f"{name} = {rate_bps} is out of range: allowed {MIN_RATE_BPS:g} to {MAX_RATE_BPS:g} bit/s")
    return rate


def transfer_time_s(num_bytes: int, rate_bps: float) -> float:
    """Air time ``8 * num_bytes / rate_bps`` of a shaped transfer."""
    return 8.0 * num_bytes / rate_bps


def chunk_bytes_for(rate_bps: float) -> int:
    """Chunk size for a rate: about :data:`CHUNK_AIR_TIME_S` of air time, clipped to the byte bounds."""
    return int(min(MAX_CHUNK_BYTES, max(MIN_CHUNK_BYTES, rate_bps / 8.0 * CHUNK_AIR_TIME_S)))


def _chunks(data: bytes, rate_bps: float) -> Iterator[tuple[bytes, float]]:
    """Chunks of ``data`` and the air time from the start to the end of each."""
    size = chunk_bytes_for(rate_bps)
    view = memoryview(data)
    for start in range(0, len(data), size):
        end = min(len(data), start + size)
        yield bytes(view[start:end]), transfer_time_s(end, rate_bps)


def paced_chunks(data: bytes, rate_bps: float | None) -> Iterator[bytes]:
    """Yield ``data`` in chunks, each released when it would have fully arrived at ``rate_bps``.

    Args:
        data: the bytes to send.
        rate_bps: emulated link rate [bit/s]; ``None`` sends everything at once (no shaping).
    """
    if rate_bps is None:
        yield data
        return
    start = time.perf_counter()
    for chunk, release_after_s in _chunks(data, rate_bps):
        wait_s = start + release_after_s - time.perf_counter()
        if wait_s > 0:
            time.sleep(wait_s)
        yield chunk


async def apaced_chunks(data: bytes, rate_bps: float | None) -> AsyncIterator[bytes]:
    """Asynchronous :func:`paced_chunks` for the server's streamed answer."""
    if rate_bps is None:
        yield data
        return
    start = time.perf_counter()
    for chunk, release_after_s in _chunks(data, rate_bps):
        wait_s = start + release_after_s - time.perf_counter()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        yield chunk
