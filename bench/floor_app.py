"""The floor: an ASGI app that does only what the machine must do per signal — one INSERT of
the raw body into PostgreSQL (committed) and one Redis push — behind the same uvicorn, so
every ingest figure can be read as a ratio to it."""

import os
import threading

import psycopg
import redis
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DATABASE_URL = os.environ["TRADEWIRE_DATABASE_URL"]
QUEUE = os.environ.get("BENCH_FLOOR_QUEUE", "bench-floor")
r = redis.Redis.from_url(os.environ["TRADEWIRE_REDIS_URL"])
local = threading.local()


def _connection() -> psycopg.Connection:
    if not hasattr(local, "conn"):
        local.conn = psycopg.connect(DATABASE_URL, autocommit=True)
    return local.conn


def _store(body: bytes) -> int:
    row = _connection().execute("insert into bench_floor (body) values (%s) returning id", (body.decode(),)).fetchone()
    r.lpush(QUEUE, row[0])
    return row[0]


async def ingest(request: Request) -> JSONResponse:
    body = await request.body()
    ident = await run_in_threadpool(_store, body)
    return JSONResponse({"id": ident}, status_code=202)


app = Starlette(routes=[Route("/webhooks/tradingview/{token}", ingest, methods=["POST"])])
