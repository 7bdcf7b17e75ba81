"""Shared plumbing for the benchmarks: a throwaway database, timing, reporting.

Which server: `DATABASE_URL` if set (any PostgreSQL whose user may CREATE
DATABASE), else the embedded server in `.pgdata/bench` (or
`PLAUDIT_BENCH_DATA_DIR`). Each benchmark creates its own fresh database,
migrated to head, and drops it afterwards.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from plaudit.db.server import DatabaseServer

ROOT = Path(__file__).resolve().parent.parent


def bench_server() -> DatabaseServer:
    data_dir = Path(os.environ.get("PLAUDIT_BENCH_DATA_DIR", ROOT / ".pgdata" / "bench"))
    return DatabaseServer.from_env("DATABASE_URL", data_dir)


class Server(DatabaseServer):
    """The benchmarks' server: fresh databases are named `plaudit_bench_<prefix>_...`."""

    def fresh_database(self, prefix: str, **kwargs):
        return super().fresh_database(f"plaudit_bench_{prefix}", **kwargs)


def libpq(url: str) -> str:
    """A SQLAlchemy `postgresql+psycopg://` URL as a plain libpq URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


@dataclass
class Outcome:
    """One benchmark's verdict, for the summary at the end."""

    name: str
    ratio: float | None
    target: str
    passed: bool | None  # None: could not be measured
    note: str = ""


def block(title: str, lines: list[str], outcome: Outcome) -> Outcome:
    """Print a benchmark's figures, ratio, target and verdict as one block."""
    verdict = {True: "PASS", False: "MISS", None: "SKIPPED"}[outcome.passed]
    width = 72
    print("=" * width)
    print(title)
    print("-" * width)
    for line in lines:
        print(f"  {line}")
    if outcome.ratio is not None:
        print(f"  ratio:  {outcome.ratio:.3f}")
    print(f"  target: {outcome.target}")
    print(f"  result: {verdict}" + (f"  ({outcome.note})" if outcome.note else ""))
    print("=" * width, flush=True)
    return outcome


# --------------------------------------------------------------------------- CPU accounting
# On a shared or small machine wall-clock rates move with everything else that
# runs; CPU seconds per operation, split between the Python side and the
# PostgreSQL side, barely do. Linux /proc only; elsewhere these return None.

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process, or None. The CPU seconds
    include its reaped children's (cutime, cstime), so the CPU of short-lived
    processes (e.g. PostgreSQL backends of connections opened and closed
    during a run) is still counted, by their parent."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    return int(fields[1]), sum(int(x) for x in fields[11:15]) / _TICK


def tree_cpu(root: int | None) -> float | None:
    """CPU seconds used so far by `root` and all its live descendants."""
    if root is None or not Path("/proc").is_dir():
        return None
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st:
                parents[int(entry)], cpu[int(entry)] = st
    if root not in cpu:
        return None
    total, frontier, seen = 0.0, [root], {root}
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    while frontier:
        pid = frontier.pop()
        total += cpu.get(pid, 0.0)
        for child in children.get(pid, []):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return total


def postmaster_pid(conn: psycopg.Connection) -> int | None:
    """The local PostgreSQL server's main process (parent of this backend), if visible."""
    backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    st = _stat(backend)
    return st[0] if st else None


def backend_pid(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def pid_cpu(pid: int | None) -> float | None:
    st = _stat(pid) if pid else None
    return st[1] if st else None


class CpuMeter:
    """Accumulates CPU seconds of process trees between start() and stop()."""

    def __init__(self, roots: dict[str, int | None]) -> None:
        self.roots = roots
        self.used: dict[str, float | None] = {k: 0.0 for k in roots}
        self._at: dict[str, float | None] = {}

    def start(self) -> None:
        self._at = {k: tree_cpu(pid) for k, pid in self.roots.items()}

    def stop(self) -> None:
        for k, pid in self.roots.items():
            now, then = tree_cpu(pid), self._at.get(k)
            if now is None or then is None or self.used[k] is None:
                self.used[k] = None
            else:
                self.used[k] += now - then

    def per(self, key: str, count: int) -> str:
        value = self.used.get(key)
        return "n/a" if value is None or not count else f"{value / count * 1000:.2f} ms"
