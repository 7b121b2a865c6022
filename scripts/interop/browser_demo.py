"""A person's sign-in, in a real browser: headless Chromium (Debian's chromium
and chromedriver, driven by Selenium) opens `siwa demo`'s home page, clicks
"Sign in with Apple", consents on the emulator's page, lands back signed in
and sees the name. A screenshot is saved to target/browser/.

Usage: python browser_demo.py SIWA_BINARY
Skips (exit 0) when chromium is not installed, unless CI is set.
"""
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import chromium  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "browser"


def main() -> int:
    if not chromium.available("browser"):
        return 0
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    data = tempfile.mkdtemp(prefix="siwa-browser-")
    demo = subprocess.Popen(
        [sys.argv[1], "demo", "--port", "0", "--apple-port", "0", "--data-dir", data],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    browser = None
    try:
        line = demo.stdout.readline()
        url = line.split("open ", 1)[1].split(" ", 1)[0]
        browser = chromium.start(data)
        wait = WebDriverWait(browser, 20)
        browser.get(url)
        wait.until(ec.element_to_be_clickable((By.ID, "sign-in"))).click()
        # The emulator's consent page: pick Bob, share the email, continue.
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[name=user][value=bob]"))).click()
        browser.find_element(By.ID, "continue").click()
        # Apple's form_post lands on the service, which re-posts and redirects home.
        wait.until(ec.visibility_of_element_located((By.ID, "signed-in")))
        name = wait.until(lambda b: b.find_element(By.ID, "name").text or None)
        email = browser.find_element(By.ID, "email").text
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / "signed-in.png"
        browser.save_screenshot(str(shot))
        assert name == "Bob Builder", name
        assert email == "bob@example.com", email
        assert browser.current_url.rstrip("/") == url.rstrip("/"), browser.current_url
        print(f"browser: signed in as {name} in headless Chromium; screenshot {shot.relative_to(ROOT)}")
        return 0
    finally:
        if browser is not None:
            browser.quit()
        demo.terminate()
        demo.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
