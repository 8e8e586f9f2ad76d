"""Headless Chromium for the browser tests: Debian's chromium, driven by Playwright for Python (no downloaded
browser). The `browser` and `page` fixtures are in tests/conftest.py; a test module marks itself with
`BROWSER_MARKS`."""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Skipped without chromium; the live server commits for real, so the tests flush the database after each test.
BROWSER_MARKS = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
    pytest.mark.django_db(transaction=True),
]
