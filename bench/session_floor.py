"""The floor under benchmark A: what one transaction costs in the stack itself.

`python -m bench.session_floor [N]` times N transactions of each shape on a
fresh database: a SQLAlchemy `Session` (as every service call runs) with 0,
1 and 3 trivial statements, an `Engine` connection with 3, and raw psycopg
with 3 prepared statements. Prints CPU and wall time per transaction. The
difference between the Session and psycopg lines is the cost any
`create_nomination` pays before doing any work of its own.
"""

import sys
import time

from sqlalchemy import bindparam, select

from bench.common import bench_server
from plaudit.db.session import make_engine, make_sessionmaker


def main(n: int) -> None:
    server = bench_server()
    with server.fresh_database("floor", migrated=False) as name:
        engine = make_engine(server.url_for(name))
        factory = make_sessionmaker(engine)
        query = select(bindparam("x"))
        raw = engine.raw_connection()
        driver = raw.driver_connection

        def session(statements: int):
            def run():
                with factory() as s, s.begin():
                    conn = s.connection()
                    for _ in range(statements):
                        conn.execute(query, {"x": 1}).one()
            return run

        def engine_3():
            with engine.begin() as conn:
                for _ in range(3):
                    conn.execute(query, {"x": 1}).one()

        def psycopg_3():
            with driver.cursor() as cur:
                for _ in range(3):
                    cur.execute("SELECT %s", (1,), prepare=True)
                    cur.fetchone()
            driver.commit()

        for label, fn in [
            ("Session, begin/commit only", session(0)),
            ("Session + 1 statement", session(1)),
            ("Session + 3 statements", session(3)),
            ("Engine connection + 3 statements", engine_3),
            ("raw psycopg, 3 prepared statements", psycopg_3),
        ]:
            for _ in range(200):
                fn()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(n):
                fn()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"{label:38s} CPU {cpu / n * 1000:6.3f} ms   wall {wall / n * 1000:6.3f} ms")
        raw.close()
        engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
