"""Headless Chromium through selenium, for the HTML report's tests and benchmarks/bench_html.py.

Debian's `chromium` and `chromium-driver` packages and the `selenium` Python package
(.ci/run installs all three). `missing()` says what is absent, so a caller can skip outside CI."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

__all__ = ["missing", "start_chromium", "requests_sent", "CHROMIUM_FLAGS"]

# No sandbox (CI runs as root), and none of the background traffic Chromium makes on its own
# (component updates, sync, safe browsing lists), so any request the log shows is the page's.
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run")


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing() -> str | None:
    """Why a browser test cannot run here, or None when it can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    if _binary("chromium", "chromium-browser") is None:
        return "chromium is not installed (apt-get install chromium)"
    if _binary("chromedriver") is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


def start_chromium(user_data_dir: Path, *, width: int = 1400, height: int = 1000) -> Any:
    """A headless Chromium with a fresh profile in `user_data_dir` and the performance log on
    (goog:loggingPrefs), driven by Debian's chromedriver. The caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = _binary("chromium", "chromium-browser") or "chromium"
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(_binary("chromedriver") or "chromedriver"))


def requests_sent(driver: Any) -> list[str]:
    """The URL of every Network.requestWillBeSent event in the performance log since the last call."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls
