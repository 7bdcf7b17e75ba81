"""authenticate() cost per request (python -m bench.experiments.auth_variants): the service as is
(builds its select(User)... statement on every call), the same ORM statement prebuilt once with
bindparams, and a Core select of the users row. Each inside a Session transaction, pre-ping off."""
import time

import psycopg
from sqlalchemy import bindparam, select

from bench import loaders
from bench.common import Server, server_url
from plaudit.clock import system_clock
from plaudit.db.session import make_engine, make_sessionmaker
from plaudit.models import ApiToken, User
from plaudit.services.auth import authenticate, hash_token

s = Server(server_url())
with s.fresh_database("auth") as db:
    with psycopg.connect(s.libpq_for(db)) as c:
        uids = loaders.make_users(c, 50, tag="u"); secrets = loaders.make_tokens(c, uids); c.commit()
    e = make_engine(s.url_for(db), pool_pre_ping=False); f = make_sessionmaker(e)
    u, t = User.__table__, ApiToken.__table__
    core = select(u).join(t, t.c.user_id == u.c.id).where(t.c.token_hash == bindparam("d"), t.c.revoked_at.is_(None), (t.c.expires_at.is_(None)) | (t.c.expires_at > bindparam("now")), u.c.is_active.is_(True))
    orm_pre = select(User).join(ApiToken, ApiToken.user_id == User.id).where(ApiToken.token_hash == bindparam("d"), ApiToken.revoked_at.is_(None), (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > bindparam("now")), User.is_active.is_(True))
    now = system_clock.now(); N = 3000
    def orm(ss, sec): return authenticate(ss, sec, now=now)
    def corefn(ss, sec): return ss.connection().execute(core, {"d": hash_token(sec), "now": now}).first()
    def orm_prebuilt(ss, sec): return ss.execute(orm_pre, {"d": hash_token(sec), "now": now}).scalar_one_or_none()
    for name, fn in [("orm", orm), ("orm_prebuilt", orm_prebuilt), ("core", corefn), ("orm", orm), ("orm_prebuilt", orm_prebuilt), ("core", corefn)]:
        for i in range(200):
            with f() as ss, ss.begin(): fn(ss, secrets[i % 50])
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(N):
            with f() as ss, ss.begin(): fn(ss, secrets[i % 50])
        print(f"{name:12} session+auth+commit: wall {(time.perf_counter()-t0)/N*1000:.3f} ms  py {(time.process_time()-c0)/N*1000:.3f} ms")
    e.dispose()
