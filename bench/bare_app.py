"""The HTTP baseline: a bare FastAPI + psycopg endpoint that writes the same
two rows as Plaudit's `POST /cycles/{cycle_id}/nominations`.

What it does per request, and nothing more: parse the JSON body (a small
pydantic model), take the bearer token, and in one transaction run two
prepared INSERTs — the nomination (its nominator resolved from the token's
SHA-256 inside the same statement, so no extra round trip) and its
`nomination.create` audit row — then return the new nomination as JSON, 201.
No rule checks, no ORM. A token that matches nothing is a 401.

Connections: a tiny bounded pool per worker process (psycopg_pool is not a
dependency), lazily opened, at most `BENCH_BARE_POOL` (default 15: the same
ceiling as SQLAlchemy's default pool_size 5 + max_overflow 10 that the
Plaudit app runs with). Serve it with
`DATABASE_URL=postgresql://... uvicorn bench.bare_app:app --workers 2`.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import uuid
from contextlib import contextmanager

import psycopg
from fastapi import FastAPI, Header, HTTPException
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict


def _dsn() -> str:
    url = os.environ["DATABASE_URL"]
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


class Pool:
    """At most `size` psycopg connections, opened on demand, shared by threads."""

    def __init__(self, dsn: str, size: int) -> None:
        self.dsn = dsn
        self.idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self.slots = threading.BoundedSemaphore(size)

    @contextmanager
    def connection(self):
        self.slots.acquire()
        try:
            try:
                conn = self.idle.get_nowait()
            except queue.Empty:
                conn = psycopg.connect(self.dsn, options="-c timezone=UTC")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            self.idle.put(conn)
        finally:
            self.slots.release()


pool = Pool(_dsn(), int(os.environ.get("BENCH_BARE_POOL", "15")))

INSERT_NOMINATION = """
INSERT INTO nominations (id, cycle_id, nominator_id, nominee_id, justification, status)
SELECT %s, %s, t.user_id, %s, %s, 'pending' FROM api_tokens t WHERE t.token_hash = %s
RETURNING id, cycle_id, nominator_id, nominee_id, justification, status, created_at, updated_at, withdrawn_at
"""
INSERT_AUDIT = """
INSERT INTO audit_logs (id, actor_id, action, entity_type, entity_id, payload, request_id)
VALUES (%s, %s, 'nomination.create', 'nomination', %s, %s, %s)
"""
COLUMNS = ("id", "cycle_id", "nominator_id", "nominee_id", "justification", "status",
           "created_at", "updated_at", "withdrawn_at")


class NominationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nominee_id: uuid.UUID
    justification: str


app = FastAPI()


@app.post("/cycles/{cycle_id}/nominations", status_code=201)
def create_nomination(cycle_id: uuid.UUID, body: NominationIn, authorization: str = Header()) -> dict:
    digest = hashlib.sha256(authorization.partition(" ")[2].strip().encode()).digest()
    justification = body.justification.strip()
    with pool.connection() as conn:
        with conn.cursor() as cur:
            cur.execute(
                INSERT_NOMINATION, (uuid.uuid4(), cycle_id, body.nominee_id, justification, digest), prepare=True
            )
            row = cur.fetchone()
            if row is None:
                conn.rollback()
                raise HTTPException(401, "unauthenticated")
            nomination = dict(zip(COLUMNS, row, strict=True))
            payload = {"after": {k: str(nomination[k]) for k in ("cycle_id", "nominator_id", "nominee_id")}}
            payload["after"].update(justification=justification, status="pending", withdrawn_at=None)
            cur.execute(
                INSERT_AUDIT,
                (uuid.uuid4(), nomination["nominator_id"], nomination["id"], Jsonb(payload), str(uuid.uuid4())),
                prepare=True,
            )
        conn.commit()
    return nomination
