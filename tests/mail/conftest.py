"""Mail tests with real parts: an SMTP server (aiosmtpd) on a free local port,
and `plaudit worker` as real processes on a committed database."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from plaudit.config import get_settings
from plaudit.models import Notification

ROOT = Path(__file__).resolve().parents[2]
BATCH = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """An SMTP server that records what it accepted. `reply(rcpt)` may return
    an SMTP reply ("450 ...", "550 ...") to refuse a recipient; `delay` slows
    every message down (seconds)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[str, str, str]] = []  # (recipient, Message-ID, Subject)
        self.messages: list = []
        self.reply: Callable[[str], str | None] = lambda rcpt: None
        self.delay = 0.0
        self.lock = threading.Lock()
        self.controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        refusal = self.reply(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=default)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append((rcpt, message["Message-ID"], message["Subject"]))
            self.messages.append(message)
        return "250 Message accepted"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def ids(self) -> Counter:
        with self.lock:
            return Counter(mid for _, mid, _ in self.received)


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink(free_port())
    s.start()
    yield s
    s.stop()


@pytest.fixture
def mail_env(sink: Sink, committed_db: Engine, monkeypatch) -> dict[str, str]:
    """The environment of the test process (it writes notifications) and of its workers."""
    env = {
        "DATABASE_URL": committed_db.url.render_as_string(hide_password=False),
        "PLAUDIT_SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
        "PLAUDIT_MAIL_FROM": "plaudit@awards.example",
        "PLAUDIT_BASE_URL": "https://plaudit.example",
        "PLAUDIT_MAIL_RETRY_SECONDS": "0.2",
        "PLAUDIT_MAIL_BATCH": str(BATCH),
        "PLAUDIT_WORKER_POLL_SECONDS": "0.1",
        "PLAUDIT_WORKER_STALLED_SECONDS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


class Workers:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env}
        self.procs: list[subprocess.Popen] = []
        self.logs: list[str] = []

    def start(self) -> subprocess.Popen:
        log = tempfile.NamedTemporaryFile(prefix="plaudit-worker-", suffix=".log", delete=False)  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-c", "from plaudit.cli import app; app()", "worker"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        self.logs.append(log.name)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:  # shown by pytest when the test failed
            print(f"--- {log}", Path(log).read_text(errors="replace")[-4000:], sep="\n")
            os.unlink(log)


@pytest.fixture
def workers(mail_env) -> Iterator[Workers]:
    w = Workers(mail_env)
    yield w
    w.stop_all()


@pytest.fixture
def factory(committed_db: Engine) -> sessionmaker[Session]:
    return sessionmaker(committed_db, expire_on_commit=False)


def wait_until(condition: Callable[[], bool], *, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def statuses(factory: sessionmaker[Session]) -> Counter:
    with factory() as session:
        return Counter(session.scalars(select(Notification.email_status)))


def settled(factory: sessionmaker[Session]) -> bool:
    """No mail is waiting any more."""
    return statuses(factory)["queued"] == 0
