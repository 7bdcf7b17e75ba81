"""The SQLAlchemy floor: a Session transaction with 1 or 2 text statements vs psycopg
(python -m bench.experiments.overhead_floor)."""
import time
import uuid

import psycopg
from sqlalchemy import text

from bench.common import Server, server_url
from plaudit.db.session import make_engine, make_sessionmaker

s = Server(server_url()); url = s.url_for("postgres")
N=2000
t=time.process_time(); [uuid.uuid4() for _ in range(N)]; print("uuid4 us", (time.process_time()-t)/N*1e6)
for ping in (True, False):
    e = make_engine(url, pool_pre_ping=ping); f = make_sessionmaker(e)
    for label, body in [("session begin/commit + 1 text stmt", lambda ss: ss.execute(text("select 1"))),
                        ("session begin/commit + 2 text stmts", lambda ss: (ss.execute(text("select 1")), ss.execute(text("select 2"))))]:
        for _ in range(100):
            with f() as ss, ss.begin(): body(ss)
        t0=time.perf_counter(); c0=time.process_time()
        for _ in range(N):
            with f() as ss, ss.begin(): body(ss)
        print(f"pre_ping={ping} {label}: wall {(time.perf_counter()-t0)/N*1000:.3f} ms py {(time.process_time()-c0)/N*1000:.3f} ms")
    e.dispose()
c = psycopg.connect(s.libpq_for("postgres"))
t0=time.perf_counter(); c0=time.process_time()
for _ in range(N):
    c.execute("select 1", prepare=True); c.execute("select 2", prepare=True); c.commit()
print(f"psycopg 2 stmts + commit: wall {(time.perf_counter()-t0)/N*1000:.3f} ms py {(time.process_time()-c0)/N*1000:.3f} ms")
