"""The people import's report (API.md "ImportReport")."""

from typing import Literal

from pydantic import BaseModel


class ImportRow(BaseModel):
    line: int | None  # null for users missing from the file (deactivated)
    email: str
    action: Literal["create", "update", "unchanged", "deactivate"]


class ImportReport(BaseModel):
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    deactivated: int
    teams_created: int
    rows: list[ImportRow]
