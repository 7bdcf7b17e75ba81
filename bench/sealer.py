"""The audit sealer in a process of its own, for benchmark A's "with
sealing" rounds: `python -m bench.sealer URL INTERVAL` prints `ready`, then
runs `audit_chain.seal_pending` (what the workers' periodic job runs) every
INTERVAL seconds until its stdin closes."""

import sys
import threading

from plaudit.db.session import make_engine, make_sessionmaker
from plaudit.services.audit_chain import seal_pending

if __name__ == "__main__":
    url, interval = sys.argv[1], float(sys.argv[2])
    engine = make_engine(url, pool_size=1, max_overflow=0)
    factory = make_sessionmaker(engine)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("ready", flush=True)
    while not stop.wait(interval):
        seal_pending(factory)
    engine.dispose()
