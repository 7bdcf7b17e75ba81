"""HTTP routes: audit (thin: parse, call a service, return a schema)."""

from fastapi import APIRouter

router = APIRouter()
