"""G. Fan-out and H. delivery of notifications.

G. **fanout**: publishing a cycle to `--fanout-people` (100,000) active users
who may nominate, through `publish_cycle` (the cycle's row lock, the checks,
the audit row, and the one `INSERT ... SELECT` that writes every
notification with mail queued and defers its job), committed; against a
bare `INSERT INTO notifications ... SELECT ... FROM users` of the same rows
(same table, same indexes, same values), committed. Both sides alternate on
fresh cycles, the table emptied between runs; best of `--fanout-repeats`.
Target: <= 1.5x the bare statement.

H. **delivery**: one `plaudit worker` process mailing one event's
`--delivery-mails` (2,000) queued notifications to a local SMTP sink
(aiosmtpd, in this process); against a bare smtplib loop sending the same
messages, rendered beforehand, over one connection to the same sink, in a
process of its own (as the worker is: the sink's thread is in the bench's). The
worker's rate is measured at the sink, from its first mail to its last (so
process start-up is left out); the worker renders each mail, sends it, and
records the outcomes in batches (`PLAUDIT_MAIL_BATCH`). Target: >= 50 % of
the bare loop's rate.
"""

from __future__ import annotations

import multiprocessing
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from email.policy import compat32

import psycopg

from bench import loaders
from bench.common import Outcome, Server, block, log

FANOUT_TARGET = 1.5
DELIVERY_TARGET = 0.5

BARE_FANOUT = """
INSERT INTO notifications (recipient_id, kind, subject_id, title, body, link, email_status)
SELECT id, 'cycle_published', %(subject)s, %(title)s, %(body)s, %(link)s,
       CASE WHEN email_notifications THEN 'queued' ELSE 'not_sent' END
FROM users WHERE is_active AND role = ANY(%(roles)s)
"""


def _draft(conn: psycopg.Connection, now) -> uuid.UUID:
    """A draft cycle with one criterion (weight 1), ready to publish."""
    spec = loaders.make_cycle(conn, now=now, phase="nominating", criteria=1, name=f"Fan-out {uuid.uuid4().hex[:8]}")
    conn.execute("UPDATE cycles SET status = 'draft', published_at = NULL WHERE id = %s", (spec.cycle_id,))
    return spec.cycle_id


def run_fanout(server: Server, *, people: int = 100_000, repeats: int = 3) -> Outcome:
    from plaudit.config import get_settings
    from plaudit.db.session import make_engine, make_sessionmaker, transaction
    from plaudit.models.enums import Role
    from plaudit.services import cycles

    title = f"G. Publishing a cycle to {people} people vs a bare INSERT ... SELECT of the same rows"
    os.environ["PLAUDIT_SMTP_URL"] = "smtp://127.0.0.1:25"  # mail queued: the whole path (nothing is sent here)
    get_settings.cache_clear()
    try:
        with server.fresh_database("fanout") as db:
            now = loaders.now_utc()
            with psycopg.connect(server.libpq_for(db)) as conn:
                loaders.make_users(conn, people - 1, role=Role.employee, tag="person")
                loaders.make_users(conn, 1, role=Role.admin, tag="admin")
                conn.commit()
                conn.autocommit = True
                conn.execute("VACUUM ANALYZE")
            engine = make_engine(server.url_for(db))
            factory = make_sessionmaker(engine)
            bare = psycopg.connect(server.libpq_for(db))
            plaudit_times, bare_times = [], []
            try:
                for _ in range(repeats):
                    bare.execute("TRUNCATE notifications, procrastinate_jobs CASCADE")
                    bare.commit()
                    cycle_id = _draft(bare, now)
                    bare.commit()
                    started = time.perf_counter()
                    with transaction(factory) as session:
                        cycles.publish_cycle(session, None, cycle_id, now=now)
                    plaudit_times.append(time.perf_counter() - started)
                    written = bare.execute("SELECT count(*) FROM notifications").fetchone()[0]
                    assert written == people, written

                    bare.execute("TRUNCATE notifications, procrastinate_jobs CASCADE")
                    bare.commit()
                    started = time.perf_counter()
                    bare.execute(BARE_FANOUT, {
                        "subject": uuid.uuid4(), "title": "Nominations are open: Fan-out",
                        "body": "You can nominate a colleague in Fan-out until 2030-01-01 00:00 UTC.",
                        "link": "/app/cycles/x/nominate", "roles": [r.value for r in Role],
                    })
                    bare.commit()
                    bare_times.append(time.perf_counter() - started)
            finally:
                bare.close()
                engine.dispose()
    finally:
        os.environ.pop("PLAUDIT_SMTP_URL", None)
        get_settings.cache_clear()
    ours, baseline = min(plaudit_times), min(bare_times)
    ratio = ours / baseline
    lines = [
        f"publish_cycle (checks, audit row, fan-out, mail job) + COMMIT: {ours * 1000:8.0f} ms best"
        f" (runs {', '.join(f'{t * 1000:.0f}' for t in plaudit_times)})",
        f"bare INSERT ... SELECT + COMMIT:                          {baseline * 1000:8.0f} ms best"
        f" (runs {', '.join(f'{t * 1000:.0f}' for t in bare_times)})",
        f"rows per run: {people} notifications (mail queued), 1 job",
    ]
    return block(title, lines, Outcome("G notification fan-out", ratio, f"<= {FANOUT_TARGET}x the bare INSERT",
                                       ratio <= FANOUT_TARGET))


class _Sink:
    """A minimal SMTP sink: counts messages and stamps the first and last."""

    def __init__(self) -> None:
        self.count = 0
        self.first = self.last = 0.0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        now = time.perf_counter()
        with self.lock:
            self.count += 1
            self.first = self.first or now
            self.last = now
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bare_loop(port: int, sender: str, messages: list[tuple[bytes, str]]) -> float:
    """Send pre-rendered messages over one SMTP connection; returns the seconds it took."""
    started = time.perf_counter()
    smtp = smtplib.SMTP("127.0.0.1", port)
    for message, to in messages:
        smtp.sendmail(sender, [to], message)
    smtp.quit()
    return time.perf_counter() - started


def run_delivery(server: Server, *, mails: int = 2000, batch: int = 20) -> Outcome:
    from aiosmtpd.controller import Controller
    from sqlalchemy import select

    from plaudit.config import get_settings
    from plaudit.db.session import make_engine, make_sessionmaker, transaction
    from plaudit.mail.render import Mail, render
    from plaudit.models import Notification, User
    from plaudit.models.enums import Role
    from plaudit.services import cycles

    title = f"H. Mail delivery: one worker vs a bare smtplib loop ({mails} mails to a local SMTP sink)"
    sink = _Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    env = {"PLAUDIT_SMTP_URL": f"smtp://127.0.0.1:{port}", "PLAUDIT_MAIL_FROM": "plaudit@bench.example",
           "PLAUDIT_MAIL_BATCH": str(batch)}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        with server.fresh_database("delivery") as db:
            now = loaders.now_utc()
            with psycopg.connect(server.libpq_for(db)) as conn:
                loaders.make_users(conn, mails, role=Role.employee, tag="person")
                cycle_id = _draft(conn, now)
                conn.commit()
            engine = make_engine(server.url_for(db))
            factory = make_sessionmaker(engine)
            with transaction(factory) as session:
                cycles.publish_cycle(session, None, cycle_id, now=now)
                rows = session.execute(
                    select(Notification.id, User.email, User.display_name, Notification.title, Notification.body,
                           Notification.link).join(User, User.id == Notification.recipient_id)
                ).all()
            settings = get_settings()
            crlf = compat32.clone(linesep="\r\n")
            messages = [(render(Mail(*row), base_url=settings.base_url, mail_from=settings.mail_from)
                         .as_bytes(policy=crlf), row[1]) for row in rows]

            # The bare loop: the same messages, already rendered, over one connection,
            # in a process of its own like the worker (the sink's thread is in this one).
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                bare_seconds = pool.submit(_bare_loop, port, settings.mail_from, messages).result()
            assert sink.count == mails, sink.count

            sink.count, sink.first, sink.last = 0, 0.0, 0.0
            worker = subprocess.Popen(
                [sys.executable, "-c", "from plaudit.cli import app; app()", "worker"],
                env={**os.environ, "DATABASE_URL": server.url_for(db)},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + 600
                while sink.count < mails and time.monotonic() < deadline and worker.poll() is None:
                    time.sleep(0.05)
            finally:
                worker.terminate()
                worker.wait(timeout=30)
            delivered = sink.count
            with factory() as session:
                sent = session.scalar(select(Notification.id).where(Notification.email_status != "sent").limit(1))
            engine.dispose()
    finally:
        controller.stop()
        for key in env:
            os.environ.pop(key, None)
        get_settings.cache_clear()
    if delivered < mails:
        return block(title, [f"the worker delivered {delivered} of {mails}"],
                     Outcome("H notification delivery", None, f">= {DELIVERY_TARGET:.0%} of the bare loop", None,
                             "worker did not finish"))
    bare_rate = mails / bare_seconds
    worker_rate = (mails - 1) / (sink.last - sink.first)
    ratio = worker_rate / bare_rate
    lines = [
        f"bare smtplib loop (pre-rendered, one connection): {bare_rate:8.0f} mails/s",
        f"plaudit worker (render, send, record outcomes):   {worker_rate:8.0f} mails/s"
        f" (batches of {batch}; every notification recorded sent: {sent is None})",
    ]
    log(f"delivery: bare {bare_seconds:.2f} s, worker {sink.last - sink.first:.2f} s")
    return block(title, lines, Outcome("H notification delivery", ratio, f">= {DELIVERY_TARGET:.0%} of the bare loop",
                                       ratio >= DELIVERY_TARGET and sent is None))
