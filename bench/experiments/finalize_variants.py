"""finalize variants on copies of one loaded cycle (python -m bench.experiments.finalize_variants [N]):
as is; without reading the results back (what a service returning a summary and a
streamed response would cost); each with SET LOCAL work_mem = 64MB."""
import sys
import time
import tracemalloc

from sqlalchemy import text

from bench import loaders
from bench.common import Server, server_url
from bench.finalize import load_template, time_select
from plaudit.clock import FixedClock
from plaudit.db.session import make_engine, make_sessionmaker
from plaudit.services import ranking

server = Server(server_url()); now = loaders.now_utc(); clock = FixedClock(now)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
tpl, info = load_template(server, nominations=N, users=N // 5, now=now)
cid = info["cycle_id"]
orig = ranking.stored_results
def summary_only(session, cycle, **kw):
    return ranking.Results(cycle_id=cycle.id, finalized_at=cycle.finalized_at, award_slots=cycle.award_slots, items=[])
try:
    for variant in ["as_is", "no_readback", "as_is+work_mem64MB", "no_readback+work_mem64MB"]:
        for rep in range(2):
            name = f"{tpl}_v{rep}"
            server.create_database(name, template=tpl)
            eng = make_engine(server.url_for(name))
            try:
                time_select(eng, cid)
                sel, _ = time_select(eng, cid)
                ranking.stored_results = summary_only if variant.startswith("no_readback") else orig
                f = make_sessionmaker(eng)
                tracemalloc.start()
                t0 = time.perf_counter()
                with f() as s, s.begin():
                    if "work_mem" in variant:
                        s.execute(text("SET LOCAL work_mem = '64MB'"))
                    ranking.finalize(s, None, cid, clock=clock)
                fin = time.perf_counter() - t0
                peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
                print(f"{variant:28} select {sel*1000:6.0f} ms  finalize {fin*1000:6.0f} ms  ratio {fin/sel:4.2f}  peak {peak/2**20:6.1f} MiB (tracemalloc slows Python)", flush=True)
            finally:
                ranking.stored_results = orig
                eng.dispose(); server.drop_database(name)
finally:
    server.drop_database(tpl)
