"""Apple's JS in a real browser, against `siwa demo`: headless Chromium
(Selenium) signs in through the popup (Sign in with Apple JS: the popup opens
on the emulator's consent page, posts its answer to the page and closes; the
page is signed in and shows the name), through the redirect flow, through the
redirect flow again when the popup is blocked (window.open refused), and
deletes the account (the user is gone, the emulator recorded a revocation).
Screenshots of each step go to target/browser/web-*.png.

Usage: python web_popup.py SIWA_BINARY
Skips (exit 0) when chromium is not installed, unless CI is set.
"""
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import chromium  # noqa: E402
from siwa_world import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "browser"


def main() -> int:
    if not chromium.available("web popup"):
        return 0
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    data = tempfile.mkdtemp(prefix="siwa-web-popup-")
    port, apple_port = free_port(), free_port()
    demo = subprocess.Popen(
        [sys.argv[1], "demo", "--port", str(port), "--apple-port", str(apple_port), "--data-dir", data],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    browser = None
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        demo.stdout.readline()
        home = f"http://127.0.0.1:{port}/"
        apple = f"http://127.0.0.1:{apple_port}"
        browser = chromium.start(data)
        wait = WebDriverWait(browser, 20)

        def shot(name):
            browser.save_screenshot(str(SHOTS / f"web-{name}.png"))

        def signed_in_as():
            wait.until(ec.visibility_of_element_located((By.ID, "signed-in")))
            return wait.until(lambda b: b.find_element(By.ID, "name").text or None)

        def consent(user):
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"input[name=user][value={user}]"))).click()
            browser.find_element(By.ID, "continue").click()

        def sign_out():
            browser.find_element(By.ID, "sign-out").click()
            wait.until(ec.visibility_of_element_located((By.ID, "signed-out")))

        # 1. The popup.
        browser.get(home)
        shot("1-home")
        main_window = browser.current_window_handle
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#sign-in-popup button"))).click()
        wait.until(lambda b: len(b.window_handles) == 2)
        popup = [h for h in browser.window_handles if h != main_window][0]
        browser.switch_to.window(popup)
        assert browser.current_url.startswith(apple + "/auth/authorize?"), browser.current_url
        assert "response_mode=web_message" in browser.current_url, browser.current_url
        shot("2-popup-consent")
        consent("alice")
        browser.switch_to.window(main_window)
        wait.until(lambda b: len(b.window_handles) == 1)
        name = signed_in_as()
        shot("3-popup-signed-in")
        assert name == "Alice Appleseed", name
        assert browser.current_url == home, "the page never left: " + browser.current_url
        assert "First sign-in" in browser.find_element(By.ID, "badges").text
        sign_out()

        # 2. The redirect flow, in the tab.
        browser.find_element(By.ID, "sign-in").click()
        wait.until(lambda b: b.current_url.startswith(apple + "/auth/authorize?"))
        consent("bob")
        name = signed_in_as()
        shot("4-redirect-signed-in")
        assert name == "Bob Builder", name
        sign_out()

        # 3. A blocked popup: the redirect flow instead.
        browser.execute_script("window.open = function () { return null; };")
        browser.find_element(By.CSS_SELECTOR, "#sign-in-popup button").click()
        wait.until(lambda b: b.current_url.startswith(apple + "/auth/authorize?"))
        assert "response_mode=form_post" in browser.current_url, browser.current_url
        shot("5-blocked-popup-redirected")
        consent("alice")
        name = signed_in_as()
        assert name == "Alice Appleseed", name
        assert len(browser.window_handles) == 1

        # 4. Delete my account: revoked at Apple, erased here.
        user_id = browser.find_element(By.ID, "user-id").text
        revoked_before = len(requests.get(f"{apple}/emulator/revocations", timeout=10).json()["revocations"])
        browser.find_element(By.ID, "delete-account").click()
        wait.until(ec.alert_is_present()).accept()
        wait.until(ec.visibility_of_element_located((By.ID, "signed-out")))
        notice = wait.until(lambda b: b.find_element(By.ID, "notice").text or None)
        shot("6-deleted")
        assert "deleted" in notice, notice
        revocations = requests.get(f"{apple}/emulator/revocations", timeout=10).json()["revocations"]
        assert len(revocations) > revoked_before, revocations
        browser.get(home)
        assert wait.until(lambda b: b.find_element(By.ID, "signed-out").is_displayed())
        assert user_id and len(user_id) == 32, user_id
        with sqlite3.connect(f"file:{data}/siwa.db?mode=ro", uri=True) as db:
            left = db.execute("SELECT COUNT(*) FROM users WHERE id = ?", (user_id,)).fetchone()[0]
        assert left == 0, "the user is erased from the service's database"
    finally:
        if browser is not None:
            browser.quit()
        demo.terminate()
        demo.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)
    print("web popup in headless Chromium: popup sign-in, redirect sign-in, blocked popup falls back, "
          "account deleted and revoked at Apple; screenshots target/browser/web-*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
