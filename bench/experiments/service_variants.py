"""A-style comparison of create_nomination variants (python -m bench.experiments.service_variants [N]):
raw psycopg, the service as is (engine with pre-ping, as the app), as is without pre-ping,
the 2-statement prototype (lean_service), and that prototype on the session's psycopg
connection without pre-ping. Rates and CPU per nomination."""
import sys
import time

import psycopg
from sqlalchemy import select

from bench import loaders
from bench.common import Server, postmaster_pid, server_url, tree_cpu
from bench.create_nomination import JUSTIFICATION, _pairs, run_raw
from plaudit.clock import FixedClock
from plaudit.db.session import make_engine, make_sessionmaker
from plaudit.models import User
from plaudit.models.enums import Role
from plaudit.services import nominations as svc

N = int(sys.argv[1]) if len(sys.argv) > 1 else 600
server = Server(server_url())

with server.fresh_database("exp") as db:
    now = loaders.now_utc(); clock = FixedClock(now)
    with psycopg.connect(server.libpq_for(db)) as conn:
        nominators = loaders.make_users(conn, 200, role=Role.employee, tag="nominator")
        nominees = loaders.make_users(conn, 60, role=Role.employee, tag="nominee")
        cycles = {k: loaders.make_cycle(conn, now=now, phase="nominating", name=k).cycle_id
                  for k in ["raw", "as_is", "no_preping", "lean_2_statements", "lean_driver_no_preping"]}
        conn.commit(); conn.execute("ANALYZE"); conn.commit()
        pg = postmaster_pid(conn)
    eng_ping = make_engine(server.url_for(db))
    eng_noping = make_engine(server.url_for(db), pool_pre_ping=False)
    f_ping, f_noping = make_sessionmaker(eng_ping), make_sessionmaker(eng_noping)
    with f_ping() as s:
        actors = {u.id: u for u in s.scalars(select(User).where(User.id.in_(nominators)))}
        s.expunge_all()
    raw_conn = psycopg.connect(server.libpq_for(db), options="-c timezone=UTC")
    results = {}
    pairs = {k: _pairs(c, nominators, nominees, N * 4).pairs for k, c in cycles.items()}
    pos = {k: 0 for k in cycles}

    def svc_loop(factory, cycle_id, ps):
        for a, b in ps:
            with factory() as s, s.begin():
                svc.create_nomination(s, actors[a], cycle_id, nominee_id=b, justification=JUSTIFICATION, clock=clock)

    def run(kind, chunk):
        ps = pairs[kind][pos[kind]:pos[kind] + chunk]; pos[kind] += chunk
        if kind == "raw":
            fn = lambda: run_raw(raw_conn, cycles["raw"], ps)
        elif kind == "as_is":
            fn = lambda: svc_loop(f_ping, cycles[kind], ps)
        elif kind == "no_preping":
            fn = lambda: svc_loop(f_noping, cycles[kind], ps)
        elif kind == "lean_driver_no_preping":
            from bench.experiments.lean_service import create_nomination_driver
            def fn():
                for a, b in ps:
                    with f_noping() as s, s.begin():
                        create_nomination_driver(s, actors[a], cycles[kind], nominee_id=b, justification=JUSTIFICATION, clock=clock)
        elif kind == "lean_2_statements":
            from bench.experiments.lean_service import create_nomination_lean
            def fn():
                for a, b in ps:
                    with f_ping() as s, s.begin():
                        create_nomination_lean(s, actors[a], cycles[kind], nominee_id=b, justification=JUSTIFICATION, clock=clock)
        else:
            raise ValueError(kind)
        t0, c0, p0 = time.perf_counter(), time.process_time(), tree_cpu(pg)
        fn()
        r = results.setdefault(kind, [0, 0, 0, 0])
        r[0] += time.perf_counter() - t0; r[1] += time.process_time() - c0; r[2] += tree_cpu(pg) - p0; r[3] += chunk

    for k in cycles: run(k, 30)  # warm-up
    results.clear()
    for _ in range(4):
        for k in cycles: run(k, N // 4)
    raw_conn.close(); eng_ping.dispose(); eng_noping.dispose()
    base = results["raw"]
    for k, (wall, py, pgc, n) in results.items():
        print(f"{k:24} {n / wall:7.0f}/s  wall {wall / n * 1000:5.2f} ms  py {py / n * 1000:5.3f} ms  pg {pgc / n * 1000:5.3f} ms"
              f"  rate ratio {(n / wall) / (base[3] / base[0]):.2f}  cpu ratio {(base[1] + base[2]) / (py + pgc):.2f}")
