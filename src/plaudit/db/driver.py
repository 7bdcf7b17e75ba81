"""Hot paths on the driver: a Core statement compiled once to psycopg's SQL,
run on the session's own connection, in the session's transaction.

SQLAlchemy's execution machinery costs about 0.1 ms of Python per statement
(see `python -m bench.session_floor`), more than a small statement costs the
database. The few statements on the paths that are benchmarked against raw
psycopg (creating a nomination, and the authentication every request runs
first) skip it: the statement is still
written and type-checked as SQLAlchemy Core, only its execution is direct,
and it is prepared on the server once per connection. Everything else goes
through the Session as usual, and `adopt` hands the rows read or written
this way back to it as ORM instances.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import Cursor
from psycopg.types.json import Jsonb
from sqlalchemy import Executable
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

T = TypeVar("T")


@dataclass(frozen=True)
class DriverStatement:
    sql: str
    defaults: Mapping[str, Any]  # values bound at build time (literals in the statement)
    json_params: frozenset[str]  # parameters to send as JSONB

    @classmethod
    def of(cls, statement: Executable) -> "DriverStatement":
        compiled = statement.compile(dialect=postgresql.dialect())
        return cls(
            sql=str(compiled),
            defaults={k: v for k, v in compiled.params.items() if v is not None},
            json_params=frozenset(k for k, b in compiled.binds.items() if isinstance(b.type, JSONB)),
        )

    def execute(
        self, connection: psycopg.Connection[Any], params: Mapping[str, Any], *, prepare: bool = True
    ) -> Cursor[Any]:
        """Run with `params` on `connection` (see `driver_of`); returns the cursor (rows as tuples).
        Without `prepare`, PostgreSQL plans it for these parameters each time
        (a prepared statement may switch to a generic plan after five runs)."""
        values = {**self.defaults, **params}
        for name in self.json_params:
            if values.get(name) is not None:
                values[name] = Jsonb(values[name])
        return connection.execute(self.sql, values, prepare=prepare)


def driver_of(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under `session`, in its transaction (begun if need be)."""
    return session.connection().connection.driver_connection


def adopt(session: Session, model: type[T], values: Mapping[str, Any]) -> T:
    """The persistent `model` instance of a row read or written through the
    driver (`values`: its columns by attribute name), in `session` without a
    query: the session's own instance if it already holds that row (as an ORM
    query would return), else a new one added to it."""
    held = session.identity_map.get(identity_key(model, values["id"]))
    if held is not None:
        return held  # type: ignore[return-value]
    instance = model(**values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance
