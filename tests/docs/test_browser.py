"""The built site in a real browser: headless Chromium (Debian's chromium and chromium-driver, no
browser download), driven by selenium through the system chromedriver, against the site served
on 127.0.0.1. Screenshots go beside the site, in ``<site>/../screenshots/`` (build output, never
the repository).

Without Chromium the tests skip, except when ``SPLITIO_REQUIRE_CHROMIUM=1`` (CI), where they fail.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 30  # seconds: a page, or the search index, on a loaded 2-core machine


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log in the test output."""


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="docs-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def screenshots(site: Path) -> Path:
    folder = site.parent / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        if os.environ.get("SPLITIO_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"Chromium or chromedriver missing ({CHROMIUM}, {CHROMEDRIVER}): "
                        "apt-get install chromium chromium-driver")
        pytest.skip("no Chromium: apt-get install chromium chromium-driver")
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(browser: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    return WebDriverWait(browser, WAIT).until(condition)


def _shot(browser: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    assert browser.save_screenshot(str(path)), f"no screenshot for {name}"
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    print(f"screenshot: {path}")
    return path


def test_home_page_renders(browser: Any, base_url: str, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    browser.get(base_url + "/")
    heading = _wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, "article h1"))
    assert heading.text.startswith("splitio_async")
    assert "splitio_async" in browser.title
    nav = browser.find_element(By.CSS_SELECTOR, "nav.md-nav--primary").text
    assert "Getting started" in nav and "Configuration reference" in nav
    _shot(browser, screenshots, "home")


def test_get_factory_async_reference_renders(
    browser: Any, base_url: str, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    browser.get(base_url + "/reference/splitio_async/#splitio_async.get_factory_async")
    entry = _wait(browser, lambda b: b.find_element(By.ID, "splitio_async.get_factory_async"))
    assert entry.is_displayed()
    assert "get_factory_async" in entry.text
    browser.execute_script("arguments[0].scrollIntoView()", entry)
    _shot(browser, screenshots, "reference-get_factory_async")


def test_configuration_reference_renders(
    browser: Any, base_url: str, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    browser.get(base_url + "/configuration/")
    tables = _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "article table"))
    text = "\n".join(table.text for table in tables)
    for key in ("impressionsMode", "streamingEnabled", "redisHost", "destroyTimeout"):
        assert key in text
    _shot(browser, screenshots, "configuration")


def test_search_finds_block_until_ready(
    browser: Any, base_url: str, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    browser.get(base_url + "/")
    field = _wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, "input.md-search__input"))
    _wait(browser, lambda b: field.is_displayed())  # in the header of a desktop-wide window
    field.click()
    field.send_keys("block_until_ready")

    def results(b: Any) -> list[Any]:
        found = b.find_elements(By.CSS_SELECTOR, ".md-search-result__item a")
        return [a for a in found if "block_until_ready" in (a.text + a.get_attribute("href"))]

    hits = _wait(browser, results)
    pages = {hit.get_attribute("href").removeprefix(base_url).split("#")[0].split("?")[0]
             for hit in hits}
    assert "/reference/splitio_async/" in pages or "/reference/splitio_sync_shim/" in pages, pages
    _shot(browser, screenshots, "search-block_until_ready")
