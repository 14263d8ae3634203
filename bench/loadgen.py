"""A fixed-schedule HTTP load generator that accounts for coordinated omission.

Request ``i`` is due at ``start + i / rate``; its latency is measured from that due time,
not from when a connection became free, so a stalled server shows up in the tail (Gil
Tene's "coordinated omission"; the same correction wrk2 applies). HTTP/1.1 keep-alive over
raw asyncio streams keeps the client's own cost low on a 2-core machine.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    rate: float
    duration: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    elapsed: float = 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> dict[str, float | int | dict[int, int]]:
        done = len(self.latencies_ms)
        return {
            "target_rate": self.rate,
            "achieved_rate": round(done / self.elapsed, 1) if self.elapsed else 0.0,
            "requests": done,
            "p50_ms": round(self.percentile(50), 2),
            "p95_ms": round(self.percentile(95), 2),
            "p99_ms": round(self.percentile(99), 2),
            "max_ms": round(max(self.latencies_ms, default=float("nan")), 2),
            "errors": self.errors + sum(n for s, n in self.statuses.items() if s >= 400),
            "statuses": dict(self.statuses),
        }


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def build_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def run(
    host: str, port: int, rate: float, duration: float, make: Callable[[int], tuple[str, bytes]], connections: int = 256
) -> Result:
    """Send ``rate`` requests per second for ``duration`` seconds; ``make(i)`` gives (path, body)."""
    result = Result(rate, duration)
    # LIFO: the most recently used connection first, so a low rate keeps few connections busy
    # and none sits idle past the server's keep-alive timeout.
    pool: asyncio.LifoQueue[Connection] = asyncio.LifoQueue()
    for _ in range(connections):
        pool.put_nowait(Connection(host, port))
    total = int(rate * duration)
    start = time.perf_counter() + 0.05
    tasks = []

    async def one(i: int, due: float) -> None:
        path, body = make(i)
        raw = build_request(host, port, path, body)
        conn = await pool.get()
        try:
            reused = conn.writer is not None
            try:
                status = await conn.request(raw)
            except (ConnectionError, asyncio.IncompleteReadError):
                if not reused:
                    raise
                conn.close()  # the server closed an idle keep-alive connection: reconnect once
                status = await conn.request(raw)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.latencies_ms.append((time.perf_counter() - due) * 1000)
        except (OSError, asyncio.IncompleteReadError, ConnectionError, ValueError):
            result.errors += 1
            conn.close()
        finally:
            pool.put_nowait(conn)

    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().close()
    return result
