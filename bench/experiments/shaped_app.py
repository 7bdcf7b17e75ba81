"""Experiment app (BENCH_PLAUDIT_APP=bench.experiments.shaped_app:create_app): the bare endpoint but with Plaudit's dependency SHAPE (generator session dep with
scope=function, sync clock dep, sync auth dep doing its own SELECT, pydantic response model),
all on raw psycopg: isolates FastAPI-shape cost from SQLAlchemy cost."""
import hashlib
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from bench.bare_app import NominationIn, pool
from plaudit.clock import system_clock


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID; cycle_id: uuid.UUID; nominator_id: uuid.UUID; nominee_id: uuid.UUID
    justification: str; status: str; created_at: datetime; updated_at: datetime; withdrawn_at: datetime | None


def get_conn():
    with pool.connection() as conn:
        try:
            yield conn
        except BaseException:
            conn.rollback(); raise
        conn.commit()


Conn = Annotated[object, Depends(get_conn, scope="function")]


def get_clock(request: Request):
    return system_clock


def get_user(request: Request, conn: Conn, clock: Annotated[object, Depends(get_clock)]):
    secret = request.headers.get("authorization", "").partition(" ")[2].strip()
    row = conn.execute("SELECT u.id, u.role FROM users u JOIN api_tokens t ON t.user_id = u.id WHERE t.token_hash = %s"
                       " AND t.revoked_at IS NULL AND u.is_active", (hashlib.sha256(secret.encode()).digest(),),
                       prepare=True).fetchone()
    if row is None:
        raise HTTPException(401)
    return row


def create_app():
    app = FastAPI()

    @app.post("/cycles/{cycle_id}/nominations", status_code=201)
    def create(cycle_id: uuid.UUID, body: NominationIn, conn: Conn, user: Annotated[object, Depends(get_user)],
               clock: Annotated[object, Depends(get_clock)]) -> Out:
        cur = conn.execute(
            "INSERT INTO nominations (id, cycle_id, nominator_id, nominee_id, justification, status)"
            " VALUES (%s, %s, %s, %s, %s, 'pending') RETURNING *",
            (uuid.uuid4(), cycle_id, user[0], body.nominee_id, body.justification.strip()), prepare=True)
        cols = [d.name for d in cur.description]
        n = dict(zip(cols, cur.fetchone()))
        conn.execute("INSERT INTO audit_logs (id, actor_id, action, entity_type, entity_id, payload)"
                     " VALUES (%s, %s, 'nomination.create', 'nomination', %s, %s)",
                     (uuid.uuid4(), user[0], n["id"], Jsonb({"after": {"nominee_id": str(n["nominee_id"])}})), prepare=True)
        return Out.model_validate(n)

    return app


def create_app_fewer_hops():
    """The same work with fewer threadpool hops: the clock dependency is
    `async def` (no thread), and the connection and the user come from ONE sync
    generator dependency (enter and exit hops only)."""
    app = FastAPI()

    async def clock_dep():
        return system_clock

    def conn_and_user(request: Request):
        with pool.connection() as conn:
            secret = request.headers.get("authorization", "").partition(" ")[2].strip()
            row = conn.execute(
                "SELECT u.id, u.role FROM users u JOIN api_tokens t ON t.user_id = u.id WHERE t.token_hash = %s"
                " AND t.revoked_at IS NULL AND u.is_active",
                (hashlib.sha256(secret.encode()).digest(),),
                prepare=True,
            ).fetchone()
            if row is None:
                raise HTTPException(401)
            try:
                yield conn, row
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    @app.post("/cycles/{cycle_id}/nominations", status_code=201)
    def create(
        cycle_id: uuid.UUID,
        body: NominationIn,
        ctx: Annotated[tuple, Depends(conn_and_user, scope="function")],
        clock: Annotated[object, Depends(clock_dep)],
    ) -> Out:
        conn, user = ctx
        cur = conn.execute(
            "INSERT INTO nominations (id, cycle_id, nominator_id, nominee_id, justification, status)"
            " VALUES (%s, %s, %s, %s, %s, 'pending') RETURNING *",
            (uuid.uuid4(), cycle_id, user[0], body.nominee_id, body.justification.strip()),
            prepare=True,
        )
        cols = [d.name for d in cur.description]
        n = dict(zip(cols, cur.fetchone(), strict=True))
        conn.execute(
            "INSERT INTO audit_logs (id, actor_id, action, entity_type, entity_id, payload)"
            " VALUES (%s, %s, 'nomination.create', 'nomination', %s, %s)",
            (uuid.uuid4(), user[0], n["id"], Jsonb({"after": {"nominee_id": str(n["nominee_id"])}})),
            prepare=True,
        )
        return Out.model_validate(n)

    return app
