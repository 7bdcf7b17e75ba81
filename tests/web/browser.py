"""The system's Chromium for the browser tests (Debian's package; Playwright's
own browser download is never used). Without it a browser test module is
skipped with one line saying how to install it, except under CI=true, where
it fails: CI must never pass without having run the browser."""

import os
import shutil

import pytest

INSTALL = "browser tests need Chromium: apt-get install -y chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


def require_chromium() -> str:
    """The Chromium executable; call at the top of a browser test module."""
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL + " (CI=true: never skipped)", pytrace=False)
        pytest.skip(INSTALL, allow_module_level=True)
    return chromium
