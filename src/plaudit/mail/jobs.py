"""The job queue (procrastinate, on our PostgreSQL) and its tasks.

Workers share nothing but the database: run `plaudit worker` on any number
of hosts. Jobs:

- `plaudit.deliver(kind, subject_id)`: mails one event's queued
  notifications (`plaudit.mail.delivery`). Deferred by the statement that
  writes the notifications (`services.notifications.outbox_ctes`), with the
  event as the job's lock. Retried with exponential backoff (`MailRetry`).
- `plaudit.reminders`, every minute: `services.notifications.send_reminders`
  with the schedule's own time as "now". procrastinate defers a periodic
  job once per tick whatever the number of workers, and the notifications'
  unique key makes any rerun tell nobody twice.
- `plaudit.recover`, every minute and at each worker's start: jobs left
  "doing" by a worker that stopped sending heartbeats (killed, its host
  gone) go back to the queue.
- `plaudit.audit_seal`, every 2 seconds: seals the audit rows that can be
  sealed (`services.audit_chain.seal_pending`); sealers take an advisory
  lock, so workers never seal the same rows twice.
"""

import asyncio
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import procrastinate
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from plaudit.config import Settings, get_settings
from plaudit.db.session import make_engine, make_sessionmaker, transaction
from plaudit.mail.delivery import MAX_ATTEMPTS, deliver_event
from plaudit.mail.smtp import Mailer, SmtpConfig
from plaudit.services import audit_chain, notifications

logger = logging.getLogger(__name__)


class MailRetry(BaseRetryStrategy):
    """Exponential backoff: PLAUDIT_MAIL_RETRY_SECONDS x 1, 2, 4, ... up to 8 attempts."""

    def get_retry_decision(self, *, exception: BaseException, job: Any) -> RetryDecision | None:
        if job.attempts + 1 >= MAX_ATTEMPTS:
            return None
        return RetryDecision(retry_in={"seconds": get_settings().mail_retry_seconds * 2**job.attempts})


@dataclass(frozen=True)
class Runtime:
    """What the tasks need, built once per worker process."""

    settings: Settings
    factory: sessionmaker[Session]

    def mailer(self) -> Mailer | None:
        url = self.settings.smtp_url
        return Mailer(SmtpConfig.from_url(url)) if url else None


app = procrastinate.App(connector=procrastinate.PsycopgConnector())
QUEUE = notifications.MAIL_QUEUE


def _runtime(context: procrastinate.JobContext) -> Runtime:
    return context.additional_context["runtime"]


@app.task(name=notifications.DELIVER_TASK, queue=QUEUE, retry=MailRetry(), pass_context=True)
def deliver(context: procrastinate.JobContext, kind: str, subject_id: str) -> int:
    runtime = _runtime(context)
    return deliver_event(
        runtime.factory, kind, uuid.UUID(subject_id), mailer=runtime.mailer(),
        base_url=runtime.settings.base_url, mail_from=runtime.settings.mail_from, batch=runtime.settings.mail_batch,
    )


@app.periodic(cron="* * * * *", periodic_id="reminders")
@app.task(name="plaudit.reminders", queue=QUEUE, queueing_lock="plaudit.reminders", pass_context=True)
def reminders(context: procrastinate.JobContext, timestamp: int) -> int:
    with transaction(_runtime(context).factory) as session:
        return notifications.send_reminders(session, now=datetime.fromtimestamp(timestamp, UTC))


@app.periodic(cron="* * * * * */2", periodic_id="audit-seal")  # the sixth field: seconds
@app.task(name="plaudit.audit_seal", queue=QUEUE, queueing_lock="plaudit.audit_seal", pass_context=True)
def audit_seal(context: procrastinate.JobContext, timestamp: int) -> int:
    return audit_chain.seal_pending(_runtime(context).factory)


@app.periodic(cron="* * * * *", periodic_id="recover")
@app.task(name="plaudit.recover", queue=QUEUE, queueing_lock="plaudit.recover", pass_context=True)
async def recover(context: procrastinate.JobContext, timestamp: int) -> int:
    return await recover_stalled(context.app, _runtime(context).settings.worker_stalled_seconds)


async def recover_stalled(queue: procrastinate.App, stalled_seconds: float) -> int:
    """Put back the jobs of workers silent for `stalled_seconds` (procrastinate's
    own heartbeat); returns how many."""
    await queue.job_manager.prune_stalled_workers(stalled_seconds)
    stalled = list(await queue.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_seconds))
    for job in stalled:
        logger.warning("job %s (%s) was left running by a stopped worker: queued again", job.id, job.task_name)
        await queue.job_manager.retry_job(job)
    return len(stalled)


def conninfo(database_url: str) -> str:
    """A libpq connection string from our SQLAlchemy URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Stop when the process that started this worker (`plaudit serve`) is gone."""
    while os.getppid() == parent:
        await asyncio.sleep(1)
    stop.set()


async def run_worker(database_url: str, *, concurrency: int = 1, parent: int | None = None) -> None:
    """Run one worker until SIGINT/SIGTERM (or, with `parent`, until that process ends)."""
    settings = get_settings()
    engine = make_engine(database_url, pool_size=concurrency + 1, max_overflow=2)
    runtime = Runtime(settings=settings, factory=make_sessionmaker(engine))
    connector = procrastinate.PsycopgConnector(conninfo=conninfo(database_url), min_size=1)
    try:
        with app.replace_connector(connector) as queue:
            async with queue.open_async():
                await recover_stalled(queue, settings.worker_stalled_seconds)
                worker = asyncio.create_task(
                    queue.run_worker_async(
                        queues=[QUEUE],
                        concurrency=concurrency,
                        name=f"plaudit-{os.getpid()}",
                        fetch_job_polling_interval=settings.worker_poll_seconds,
                        update_heartbeat_interval=min(10.0, settings.worker_stalled_seconds / 3),
                        stalled_worker_timeout=settings.worker_stalled_seconds,
                        additional_context={"runtime": runtime},
                        delete_jobs="successful",
                    )
                )
                if parent is None:
                    await worker
                    return
                orphaned = asyncio.Event()
                watcher = asyncio.create_task(_watch_parent(parent, orphaned))
                await asyncio.wait({worker, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if not worker.done():
                    worker.cancel()
                    await asyncio.gather(worker, return_exceptions=True)
                watcher.cancel()
    finally:
        engine.dispose()
