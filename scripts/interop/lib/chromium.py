"""Headless Chromium for the browser checks: Debian's chromium and
chromedriver, driven by Selenium.

    driver = start(profile_dir)   # None: not installed here (a skip, unless CI is set)
"""
import os
import shutil
import sys

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=900,800")


def available(check: str) -> bool:
    """Whether chromium and chromedriver are installed; says why not. Raises
    SystemExit(1) in CI, where they are required."""
    if (shutil.which("chromium") or shutil.which("chromium-browser")) and shutil.which("chromedriver"):
        return True
    if os.environ.get("CI"):
        print(f"{check}: chromium and chromedriver are required in CI", file=sys.stderr)
        raise SystemExit(1)
    print(f"{check}: skipping (install chromium and chromium-driver to run it)")
    return False


def start(profile_dir: str):
    """A headless Chromium with its profile in `profile_dir` (page loads time out after 30 s)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in FLAGS + (f"--user-data-dir={profile_dir}/chrome",):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    return driver
