"""Run the benchmarks: `python -m bench [--only NAME ...] [sizes]` (see bench/README.md).

Every size also has an environment variable (shown in --help), so
`make bench` can be tuned without editing the Makefile, e.g.
`BENCH_NOMINATIONS=10000 make bench`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

BENCHMARKS = ("create", "finalize", "http", "import", "queue", "audit", "pages", "fanout", "delivery")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        help="run only this benchmark (repeatable); default: all (env BENCH_ONLY=a,b)",
    )
    g = p.add_argument_group("A. create (service create_nomination vs raw psycopg)")
    g.add_argument("--creates", type=int, default=_env_int("BENCH_CREATES", 3000),
                   help="nominations per side (env BENCH_CREATES, default 3000)")
    g.add_argument("--create-rounds", type=int, default=_env_int("BENCH_CREATE_ROUNDS", 5),
                   help="alternating rounds (env BENCH_CREATE_ROUNDS, default 5)")
    g.add_argument("--profile", metavar="FILE", default=os.environ.get("BENCH_PROFILE"),
                   help=("write a cProfile of the last service round (A) / of one finalize (B)"
                         " to FILE[.create|.finalize]"))
    g = p.add_argument_group("B. finalize (finalize vs the bare ranking SELECT)")
    g.add_argument("--nominations", type=int, default=_env_int("BENCH_NOMINATIONS", 100_000),
                   help="approved nominations in the big cycle (env BENCH_NOMINATIONS, default 100000)")
    g.add_argument("--small-nominations", type=int, default=_env_int("BENCH_SMALL_NOMINATIONS", 10_000),
                   help="the small cycle, for the memory comparison (env BENCH_SMALL_NOMINATIONS, default 10000)")
    g.add_argument("--users", type=int, default=_env_int("BENCH_USERS", 20_000),
                   help="employees who nominate each other (env BENCH_USERS, default 20000)")
    g.add_argument("--repeats", type=int, default=_env_int("BENCH_REPEATS", 3),
                   help="finalize runs, each on a fresh copy (env BENCH_REPEATS, default 3)")
    g = p.add_argument_group("C. http (POST /cycles/{id}/nominations vs a bare FastAPI endpoint)")
    g.add_argument("--requests", type=int, default=_env_int("BENCH_REQUESTS", 3000),
                   help="timed requests per server (env BENCH_REQUESTS, default 3000)")
    g.add_argument("--warmup", type=int, default=_env_int("BENCH_WARMUP", 300),
                   help="untimed requests first (env BENCH_WARMUP, default 300)")
    g.add_argument("--concurrency", type=int, default=_env_int("BENCH_CONCURRENCY", 32),
                   help="concurrent clients (env BENCH_CONCURRENCY, default 32)")
    g.add_argument("--workers", type=int, default=_env_int("BENCH_WORKERS", 2),
                   help="server worker processes (env BENCH_WORKERS, default 2)")
    g.add_argument("--http-rounds", type=int, default=_env_int("BENCH_HTTP_ROUNDS", 4),
                   help="alternating timed rounds (env BENCH_HTTP_ROUNDS, default 4)")
    g.add_argument("--client", choices=("raw", "httpx"), default=os.environ.get("BENCH_CLIENT", "raw"),
                   help="load generator: minimal asyncio HTTP/1.1 client or httpx.AsyncClient (env BENCH_CLIENT)")
    g = p.add_argument_group("D. import (people import vs bare COPY + upsert)")
    g.add_argument("--import-people", type=int, default=_env_int("BENCH_IMPORT_PEOPLE", 50_000),
                   help="new people in the file (env BENCH_IMPORT_PEOPLE, default 50000)")
    g.add_argument("--import-teams", type=int, default=_env_int("BENCH_IMPORT_TEAMS", 200),
                   help="teams (env BENCH_IMPORT_TEAMS, default 200)")
    g.add_argument("--import-repeats", type=int, default=_env_int("BENCH_IMPORT_REPEATS", 3),
                   help="repeats, each on fresh copies (env BENCH_IMPORT_REPEATS, default 3)")
    g = p.add_argument_group("E. queue (GET /me/approvals vs the bare SQL page)")
    g.add_argument("--queue-nominations", type=int, default=_env_int("BENCH_QUEUE_NOMINATIONS", 10_000),
                   help="pending nominations in the approver's queue (env BENCH_QUEUE_NOMINATIONS, default 10000)")
    g.add_argument("--queue-cycles", type=int, default=_env_int("BENCH_QUEUE_CYCLES", 20),
                   help="cycles they are spread over (env BENCH_QUEUE_CYCLES, default 20)")
    g.add_argument("--queue-repeats", type=int, default=_env_int("BENCH_QUEUE_REPEATS", 30),
                   help="timed runs of each page per side (env BENCH_QUEUE_REPEATS, default 30)")
    g = p.add_argument_group("I. audit (the audit hash chain: sealing rate, verify)")
    g.add_argument("--audit-rows", type=int, default=_env_int("BENCH_AUDIT_ROWS", 1_000_000),
                   help="audit rows to seal and verify (env BENCH_AUDIT_ROWS, default 1000000)")
    g = p.add_argument_group("F. pages (the Home and Approvals pages vs the JSON endpoints with the same data)")
    g.add_argument("--page-nominations", type=int, default=_env_int("BENCH_PAGE_NOMINATIONS", 500),
                   help="pending nominations in the manager's queue (env BENCH_PAGE_NOMINATIONS, default 500)")
    g.add_argument("--page-requests", type=int, default=_env_int("BENCH_PAGE_REQUESTS", 1000),
                   help="timed pages (or JSON sets) per side (env BENCH_PAGE_REQUESTS, default 1000)")
    g = p.add_argument_group("G. fanout (publishing to everyone vs a bare INSERT ... SELECT)")
    g.add_argument("--fanout-people", type=int, default=_env_int("BENCH_FANOUT_PEOPLE", 100_000),
                   help="people told (env BENCH_FANOUT_PEOPLE, default 100000)")
    g.add_argument("--fanout-repeats", type=int, default=_env_int("BENCH_FANOUT_REPEATS", 3),
                   help="runs per side (env BENCH_FANOUT_REPEATS, default 3)")
    g = p.add_argument_group("H. delivery (one worker vs a bare smtplib loop)")
    g.add_argument("--delivery-mails", type=int, default=_env_int("BENCH_DELIVERY_MAILS", 2000),
                   help="mails of one event (env BENCH_DELIVERY_MAILS, default 2000)")
    args = p.parse_args(argv)
    if not args.only:
        env = os.environ.get("BENCH_ONLY")
        args.only = [x.strip() for x in env.split(",") if x.strip()] if env else list(BENCHMARKS)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from bench.common import bench_server

    server = bench_server()
    print(f"Plaudit benchmarks: {', '.join(args.only)}  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    with server.admin() as conn:
        print(f"PostgreSQL: {conn.execute('SHOW server_version').fetchone()[0]}")
    outcomes = []
    started = time.perf_counter()
    for name in BENCHMARKS:
        if name not in args.only:
            continue
        if name == "create":
            from bench import create_nomination

            outcomes.extend(
                create_nomination.run(
                    server,
                    nominations=args.creates,
                    rounds=args.create_rounds,
                    profile=f"{args.profile}.create" if args.profile else None,
                )
            )
        elif name == "finalize":
            from bench import finalize

            outcomes.append(
                finalize.run(
                    server,
                    nominations=args.nominations,
                    small_nominations=args.small_nominations,
                    users=args.users,
                    repeats=args.repeats,
                    profile=f"{args.profile}.finalize" if args.profile else None,
                )
            )
        elif name == "http":
            from bench import http_nominations

            outcomes.append(
                http_nominations.run(
                    server,
                    requests=args.requests,
                    warmup=args.warmup,
                    concurrency=args.concurrency,
                    workers=args.workers,
                    rounds=args.http_rounds,
                    client=args.client,
                )
            )
        elif name == "import":
            from bench import people_import

            outcomes.append(people_import.run(
                server, people=args.import_people, teams=args.import_teams, repeats=args.import_repeats))
        elif name == "queue":
            from bench import queue

            outcomes.append(queue.run(
                server, nominations=args.queue_nominations, cycles=args.queue_cycles, repeats=args.queue_repeats))
        elif name == "audit":
            from bench import audit_chain

            outcomes.append(audit_chain.run(server, rows=args.audit_rows))
        elif name == "pages":
            from bench import pages

            outcomes.append(pages.run(server, nominations=args.page_nominations, requests=args.page_requests,
                                      concurrency=args.concurrency, workers=args.workers))
        elif name == "fanout":
            from bench import notifications

            outcomes.append(notifications.run_fanout(server, people=args.fanout_people, repeats=args.fanout_repeats))
        elif name == "delivery":
            from bench import notifications

            outcomes.append(notifications.run_delivery(server, mails=args.delivery_mails))
    print()
    print(f"Summary ({time.perf_counter() - started:.0f} s):")
    for o in outcomes:
        verdict = {True: "PASS", False: "MISS", None: "SKIPPED"}[o.passed]
        ratio = f"{o.ratio:.3f}" if o.ratio is not None else "  -  "
        print(f"  {verdict:7} {o.name:28} ratio {ratio}  target {o.target}" + (f"  [{o.note}]" if o.note else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
