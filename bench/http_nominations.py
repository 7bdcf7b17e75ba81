"""C. HTTP `POST /cycles/{id}/nominations` under 32 concurrent clients:
`plaudit serve --workers 2` beside the bare FastAPI + psycopg endpoint
(`bench/bare_app.py`, uvicorn with the same number of workers), same run.

Set-up: a fresh database; `plaudit serve` starts on it and migrates it; then
(straight into the database) nominators with one API token each (stored as
`create_token` stores them: SHA-256 only), a pool of nominees, and two
published cycles with open windows and no quota, one per server. Request k
to a server is nominator k mod M nominating nominee k div M, so every
request is a distinct, valid nomination (201) and the same nominator is never
in flight twice. The bare app serves the same database.

Load: one asyncio loop with `concurrency` client tasks, each on its own
keep-alive HTTP/1.1 connection, taking requests from a shared iterator. The
default client is a minimal HTTP/1.1 writer/reader on asyncio streams (cheap:
the load generator shares the machine's CPUs with both servers and
PostgreSQL); `client="httpx"` uses an `httpx.AsyncClient` instead (on a
2-CPU machine httpx itself capped both servers at the same ~70 req/s).
Warm-up requests first (untimed), then the timed requests in alternating
rounds (Plaudit, bare, Plaudit, bare, ...). Reported: throughput (requests /
wall time) of each server's best round (like `timeit`: other load only ever
slows a round down), p50 and p99 latency over all timed requests per server, and CPU per request of each
server's process tree, of PostgreSQL and of the load generator. Any response
other than 201 is counted and fails the run.

Experiments: `BENCH_PLAUDIT_APP=module:factory` serves that app factory with
uvicorn (same workers) in place of `plaudit serve`, after migrating the
database, to try a patch without touching the package.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from bench import loaders
from bench.common import (
    ROOT,
    CpuMeter,
    Outcome,
    Server,
    block,
    log,
    percentile,
    postmaster_pid,
)
from plaudit.models.enums import Role

TARGET = 0.70
JUSTIFICATION = "Consistently goes above and beyond for the team."


def _start_spy(proc: Proc):
    """With BENCH_PYSPY=FILE (and py-spy on PATH or BENCH_PYSPY_BIN), sample the
    Plaudit server's workers during the timed rounds into FILE (collapsed
    stacks: one line per stack with its sample count, for flame graphs)."""
    out = os.environ.get("BENCH_PYSPY")
    if not out:
        return None
    exe = os.environ.get("BENCH_PYSPY_BIN", "py-spy")
    log(f"py-spy sampling plaudit serve into {out}")
    extra = os.environ.get("BENCH_PYSPY_ARGS", "--gil").split()  # --gil: only the thread holding the GIL (Python CPU)
    return subprocess.Popen(
        [exe, "record", "--subprocesses", *extra, "-r", "200", "-f", "raw", "-o", out, "-p", str(proc.popen.pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _stop_spy(spy) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


def _sessions(server: Server, db: str) -> int:
    """Sessions ever opened on the database (pg_stat_database.sessions, PostgreSQL 14+), minus ours."""
    with psycopg.connect(server.libpq_for(db), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return (row[0] or 0) - 1 if row else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    base_url: str
    log_path: Path

    def stop(self) -> None:
        """Stop the server we started (its own process group: the uvicorn parent and its workers)."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)


def start(name: str, argv: list[str], env: dict[str, str], port: int, logdir: Path) -> Proc:
    log_path = logdir / f"{name}.log"
    out = open(log_path, "wb")  # noqa: SIM115 - owned by the child
    popen = subprocess.Popen(
        argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
    )
    out.close()
    return Proc(name, popen, f"http://127.0.0.1:{port}", log_path)


def wait_ready(proc: Proc, path: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}); see {proc.log_path}:\n"
                               + proc.log_path.read_text()[-3000:])
        try:
            r = httpx.get(proc.base_url + path, timeout=2)
            if r.status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} not ready after {timeout:.0f} s; see {proc.log_path}")


@dataclass
class Target:
    name: str
    base_url: str
    cycle_id: uuid.UUID
    next_index: int = 0  # requests handed out so far (warm-up included)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: dict[int, int] = field(default_factory=dict)
    first_error: str = ""
    loadgen_cpu: float = 0.0
    meter: CpuMeter | None = None
    sessions: int = 0  # PostgreSQL sessions (connections) opened during the timed rounds
    round_rates: list[float] = field(default_factory=list)


async def _post_raw(host: str, port: int, path: str, jobs, record: bool, target: Target) -> None:
    """One keep-alive HTTP/1.1 connection sending the requests in `jobs` one after another.

    A deliberately minimal client (pre-built request bytes, Content-Length
    framing only: what uvicorn sends for JSON), so the load generator costs a
    small fraction of what the servers spend; httpx costs several ms of CPU
    per request, which on a small machine takes CPU from the servers."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for body, token in jobs:
            request = (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            payload = await reader.readexactly(length) if length else b""
            dt = time.perf_counter() - t0
            if status != 201:
                target.errors[status] = target.errors.get(status, 0) + 1
                target.first_error = target.first_error or payload[:300].decode(errors="replace")
            if record:
                target.latencies.append(dt)
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def _drive(target: Target, count: int, concurrency: int, tokens, nominees, record: bool, client: str) -> None:
    m = len(tokens)
    start_index = target.next_index
    end_index = start_index + count
    target.next_index = end_index
    path = f"/cycles/{target.cycle_id}/nominations"

    def job(k: int):
        body = json.dumps({"nominee_id": str(nominees[k // m]), "justification": JUSTIFICATION}).encode()
        return body, tokens[k % m]

    shared = (job(k) for k in range(start_index, end_index))  # shared by all client tasks
    cpu0, t0 = time.process_time(), time.perf_counter()
    if client == "raw":
        host, _, port = target.base_url.removeprefix("http://").partition(":")
        await asyncio.gather(
            *(_post_raw(host, int(port), path, shared, record, target) for _ in range(concurrency))
        )
    else:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=target.base_url, limits=limits, timeout=60) as http:

            async def worker() -> None:
                for body, token in shared:
                    t1 = time.perf_counter()
                    r = await http.post(
                        path, content=body,
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                    )
                    dt = time.perf_counter() - t1
                    if r.status_code != 201:
                        target.errors[r.status_code] = target.errors.get(r.status_code, 0) + 1
                        target.first_error = target.first_error or r.text[:300]
                    if record:
                        target.latencies.append(dt)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    if record:
        elapsed = time.perf_counter() - t0
        target.seconds += elapsed
        target.round_rates.append(count / elapsed)
        target.loadgen_cpu += time.process_time() - cpu0


def drive(target: Target, count: int, concurrency: int, tokens, nominees, *, record: bool, client: str) -> None:
    asyncio.run(_drive(target, count, concurrency, tokens, nominees, record, client))


def summary(t: Target) -> tuple[float, float, float]:
    """(best round's req/s, p50 ms, p99 ms over all timed requests)."""
    lat = sorted(t.latencies)
    return max(t.round_rates), percentile(lat, 50) * 1000, percentile(lat, 99) * 1000


def run(
    server: Server,
    *,
    requests: int = 3000,
    warmup: int = 300,
    concurrency: int = 32,
    workers: int = 2,
    rounds: int = 4,
    client: str = "raw",
) -> Outcome:
    title = (f"C. HTTP POST /cycles/{{id}}/nominations: plaudit serve vs bare FastAPI+psycopg "
             f"({requests} requests, {concurrency} clients, {workers} workers, {client} client)")
    per_server = requests + warmup
    nominators_n = max(concurrency * 10, 320)
    nominees_n = -(-per_server // nominators_n) + 1
    logdir = Path(tempfile.mkdtemp(prefix="plaudit-bench-http-"))
    procs: list[Proc] = []
    with server.fresh_database("http", migrated=False) as db:
        env = dict(os.environ)
        env["DATABASE_URL"] = server.url_for(db)
        env.pop("PLAUDIT_DATA_DIR", None)
        try:
            port = free_port()
            argv = [sys.executable, "-m", "plaudit.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", str(workers)]
            experiment = os.environ.get("BENCH_PLAUDIT_APP")
            if experiment:
                from plaudit.db import migrate

                migrate.upgrade(server.url_for(db))
                argv = [sys.executable, "-m", "uvicorn", experiment, "--factory", "--host", "127.0.0.1",
                        "--port", str(port), "--workers", str(workers), "--log-level", "info"]
                log(f"EXPERIMENT: serving {experiment} instead of plaudit serve")
            plaudit = start("plaudit", argv, env, port, logdir)
            procs.append(plaudit)
            wait_ready(plaudit, "/healthz")  # it migrated the database first
            log(f"plaudit serve up on port {port} (logs: {plaudit.log_path})")

            now = loaders.now_utc()
            with psycopg.connect(server.libpq_for(db)) as conn:
                nominators = loaders.make_users(conn, nominators_n, role=Role.employee, tag="nominator")
                tokens = loaders.make_tokens(conn, nominators)
                nominees = loaders.make_users(conn, nominees_n, role=Role.employee, tag="nominee")
                plaudit_cycle = loaders.make_cycle(conn, now=now, phase="nominating", name="HTTP plaudit")
                bare_cycle = loaders.make_cycle(conn, now=now, phase="nominating", name="HTTP bare")
                conn.commit()
                conn.execute("ANALYZE")
                conn.commit()
                pg_pid = postmaster_pid(conn)

            bare_port = free_port()
            bare = start(
                "bare",
                [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1",
                 "--port", str(bare_port), "--workers", str(workers), "--log-level", "info"],
                env, bare_port, logdir,
            )
            procs.append(bare)
            wait_ready(bare, "/openapi.json")
            log(f"bare app up on port {bare_port} (logs: {bare.log_path})")

            targets = [
                Target("plaudit", plaudit.base_url, plaudit_cycle.cycle_id),
                Target("bare", bare.base_url, bare_cycle.cycle_id),
            ]
            targets[0].meter = CpuMeter({"server": plaudit.popen.pid, "postgres": pg_pid})
            targets[1].meter = CpuMeter({"server": bare.popen.pid, "postgres": pg_pid})
            for t in targets:
                drive(t, warmup, concurrency, tokens, nominees, record=False, client=client)
            spy = _start_spy(plaudit)
            size = -(-requests // rounds)
            for r in range(rounds):
                count = min(size, requests - r * size)
                for t in targets:
                    t.meter.start()
                    opened = _sessions(server, db)
                    drive(t, count, concurrency, tokens, nominees, record=True, client=client)
                    t.sessions += _sessions(server, db) - opened
                    t.meter.stop()
                    log(f"round {r + 1}: {t.name} done ({len(t.latencies)} timed so far)")
            _stop_spy(spy)
        finally:
            for p in procs:
                p.stop()

    (p_rate, p_p50, p_p99), (b_rate, b_p50, b_p99) = summary(targets[0]), summary(targets[1])
    lines = [
        (
            f"plaudit serve:  {p_rate:8.1f} req/s (best round)   p50 {p_p50:7.1f} ms   p99 {p_p99:7.1f} ms"
            f"   (rounds {', '.join(f'{x:.0f}' for x in targets[0].round_rates)})"
        ),
        (
            f"bare endpoint:  {b_rate:8.1f} req/s (best round)   p50 {b_p50:7.1f} ms   p99 {b_p99:7.1f} ms"
            f"   (rounds {', '.join(f'{x:.0f}' for x in targets[1].round_rates)})"
        ),
        "CPU per request (all processes, so independent of other load on the machine):",
    ]
    for t in targets:
        n = len(t.latencies)
        lines.append(
            f"  {t.name:8} server {t.meter.per('server', n):>9}   PostgreSQL {t.meter.per('postgres', n):>9}"
            f"   load generator {t.loadgen_cpu / n * 1000:.2f} ms   new DB connections {t.sessions}"
        )
    lines.append(f"server logs: {logdir}")
    if None not in (targets[0].meter.used["server"], targets[1].meter.used["server"]):
        cpu = [(t.meter.used["server"] + (t.meter.used["postgres"] or 0)) / len(t.latencies) for t in targets]
        lines.append(f"CPU-cost ratio (bare CPU per request / plaudit CPU per request): {cpu[1] / cpu[0]:.3f}")
    errors = {t.name: t.errors for t in targets if t.errors}
    if errors:
        for t in targets:
            if t.errors:
                lines.append(f"NON-201 responses from {t.name}: {t.errors}; first: {t.first_error}")
        return block(title, lines, Outcome("C http", None, f">= {TARGET:.2f} of bare req/s", False, "errors"))
    ratio = p_rate / b_rate
    return block(
        title, lines, Outcome("C http", ratio, f">= {TARGET:.2f} (plaudit req/s / bare req/s)", ratio >= TARGET)
    )
