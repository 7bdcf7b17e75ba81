"""`/docs` works with no internet access: the page and every asset it loads
come from the app itself (API.md), and a real browser renders the operations."""

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from plaudit.api.app import create_app
from tests.helpers import served

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def _references(html: str) -> list[str]:
    return [a or b for a, b in ASSET.findall(html)]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_reference_no_external_host(client, path):
    response = client.get(path)
    assert response.status_code == 200
    refs = _references(response.text)
    assert refs, "the page loads no assets at all?"
    assert all(urlsplit(ref).netloc == "" for ref in refs), refs
    assert "://" not in response.text.replace("http://www.w3.org", "")  # no absolute URL anywhere
    for ref in refs:
        if ref.endswith((".js", ".css", ".png")):
            asset = client.get(ref)
            assert asset.status_code == 200, ref
            assert len(asset.content) > 100, ref


@pytest.fixture
def served_app(engine) -> Iterator[str]:
    """The real app under uvicorn on a free port, in a thread."""
    with served(create_app(engine=engine)) as base_url:
        yield base_url


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),
    reason="needs the system's chromium (`apt-get install chromium`; CI installs it)",
)
def test_swagger_ui_shows_the_operations_in_a_browser_without_internet(served_app, tmp_path: Path):
    """Headless Chromium opens /docs with every request to another host
    refused: the operations still render. The screenshot is kept under the
    test's tmp_path (printed) for a person to look at."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})

            def only_the_app(route):
                if route.request.url.startswith(served_app):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_the_app)
            page.goto(f"{served_app}/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=15000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            shot = tmp_path / "docs.png"
            page.screenshot(path=str(shot), full_page=False)
            print(f"screenshot: {shot}")
        finally:
            browser.close()
    assert outside == []
    paths = [p.replace("\u200b", "") for p in paths]  # Swagger UI breaks long paths with zero-width spaces
    assert "/users/me" in paths and "/cycles/{cycle_id}/nominations" in paths
    assert shot.stat().st_size > 10_000
