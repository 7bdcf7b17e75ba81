"""The audit sealer as `plaudit serve` runs it (`audit_chain.run_sealer`), in a
process of its own, for benchmark A's "with sealing" rounds:
`python -m bench.sealer URL INTERVAL` prints `ready`, seals every INTERVAL
seconds, and stops when its stdin closes."""

import sys

from plaudit.db.session import make_engine, make_sessionmaker
from plaudit.services.audit_chain import run_sealer

if __name__ == "__main__":
    url, interval = sys.argv[1], float(sys.argv[2])
    engine = make_engine(url, pool_size=1, max_overflow=0)
    stop = run_sealer(make_sessionmaker(engine), interval)
    print("ready", flush=True)
    sys.stdin.read()
    stop.set()
    engine.dispose()
