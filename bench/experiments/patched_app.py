"""Experiment app (for BENCH_PLAUDIT_APP=bench.experiments.patched_app:create_app): Plaudit's own app with candidate fixes applied from outside.

EXP_LEAN_SERVICE=1: the 2-statement create_nomination (bench/experiments/lean_service.py).
EXP_ASYNC_CLOCK=1: get_clock as `async def` (no threadpool hop), via dependency_overrides
(which itself costs FastAPI a get_dependant() per request, so this understates the gain).
EXP_POOL=N: the engine with pool_size=N, max_overflow=10.
"""
import os
from plaudit.api import deps
from plaudit.api.app import create_app as _create_app
import plaudit.services.nominations as nominations


def create_app():
    if os.environ.get("EXP_LEAN_SERVICE"):
        from bench.experiments.lean_service import create_nomination_lean
        nominations.create_nomination = create_nomination_lean
    engine = None
    if os.environ.get("EXP_POOL"):
        from plaudit.db.session import make_engine
        engine = make_engine(pool_size=int(os.environ["EXP_POOL"]), max_overflow=10)
    app = _create_app(engine=engine)
    if os.environ.get("EXP_ASYNC_CLOCK"):
        async def get_clock_async(request: deps.Request):
            return request.app.state.clock
        app.dependency_overrides[deps.get_clock] = get_clock_async
    return app
