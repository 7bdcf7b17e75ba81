"""The Finalize button queues like the API's finalize (DOMAIN.md: concurrent
finalizes queue on the cycle's row lock), past the server's 1 s lock timeout."""

import threading
import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from plaudit.api.app import create_app
from plaudit.db.session import make_engine
from tests.factories import make_criterion, make_cycle, make_rated_nomination, make_user
from tests.web.conftest import Browser, give_password


def test_the_finalize_button_waits_for_a_held_cycle_lock_past_the_lock_timeout(committed_db: Engine):
    now = datetime.now(UTC)
    with Session(committed_db, expire_on_commit=False) as session:
        admin = give_password(session, make_user(session, role="admin"))
        cycle = make_cycle(session, now=now, nominations="after", approvals="after")
        make_rated_nomination(session, cycle, make_user(session), [{make_criterion(session, cycle): 4}])
        session.commit()
    engine = make_engine(committed_db.url.render_as_string(hide_password=False), serving=True, pool_size=2,
                         max_overflow=0)
    held = 2.0
    with TestClient(create_app(engine=engine), raise_server_exceptions=False) as client:
        browser = Browser(client)
        browser.sign_in(admin)
        token = browser.csrf(f"/app/cycles/{cycle.id}/finalize")
        with committed_db.connect() as holder:
            holder.execute(text("SELECT id FROM cycles WHERE id = :id FOR UPDATE"), {"id": cycle.id})
            release = threading.Timer(held, holder.rollback)
            release.start()
            started = time.monotonic()
            done = client.post(f"/app/cycles/{cycle.id}/finalize", data={"csrf_token": token},
                               follow_redirects=False)
            elapsed = time.monotonic() - started
            release.join()
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/app/cycles/{cycle.id}/results"
        assert elapsed >= held
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT status FROM cycles WHERE id = :id"), {"id": cycle.id}).scalar() == "finalized"
    engine.dispose()
