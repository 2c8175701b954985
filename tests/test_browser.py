"""End to end: app_gradio.py serving the bundled model, driven in headless Chromium.

Uses the system Chromium (/usr/bin/chromium; Playwright never downloads a browser) and
the real photos in ../shared. SASIRANGAN_TEST_MODEL and SASIRANGAN_TEST_MOTIF point the
test at another model folder and motif while developing. SASIRANGAN_SCREENSHOTS=1 also
saves docs/screenshot_phone.png and docs/screenshot_desktop.png for the README.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CHROMIUM = Path("/usr/bin/chromium")
MODEL = Path(os.environ.get("SASIRANGAN_TEST_MODEL", ROOT / "models" / "sasirangan_default"))
MOTIF = os.environ.get("SASIRANGAN_TEST_MOTIF", "gigi_haruan")
PHOTOS = SHARED / "datasets" / "sasirangan" / "photos"
NOT_TEXTILE = SHARED / "datasets" / "not_textile"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # a synthetic camera
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
ANSWER_TIMEOUT_MS = 90_000  # the CPU may be shared with a training job

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"needs Chromium at {CHROMIUM}"),
    pytest.mark.skipif(not (MODEL / "model.keras").is_file(), reason=f"needs a trained model folder at {MODEL}"),
    pytest.mark.skipif(not PHOTOS.is_dir() or not NOT_TEXTILE.is_dir(), reason="needs the photos in ../shared/datasets"),
]


def _photo(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if not found:
        pytest.skip(f"no {pattern} in {folder}")
    return found[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """app_gradio.py as a user runs it, on a free localhost port; stopped after the module."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, str(ROOT / "app_gradio.py"), "--model", str(MODEL),
                                   "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    try:
        while True:
            if server.poll() is not None:
                pytest.fail(f"app_gradio.py exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"app did not start within 180 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_app(browser, app_url):
    """A fresh page of the app at a given viewport."""
    pages = []

    def opener(viewport=DESKTOP):
        page = browser.new_page(viewport=viewport, permissions=["camera"])
        page.set_default_timeout(ANSWER_TIMEOUT_MS)
        page.goto(app_url)
        page.wait_for_selector("#upload input[type=file]", state="attached")
        pages.append(page)
        return page

    yield opener
    for page in pages:
        page.close()


@pytest.fixture(scope="module")
def motif_photo() -> Path:
    """The whole photo of one motif from ../shared (cloth, background and all)."""
    return _photo(PHOTOS / MOTIF, "*.jpg")


def _upload(page, path: Path) -> None:
    page.locator("#upload input[type=file]").set_input_files(str(path))


def _expect_card(page, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#card")).to_contain_text(text, timeout=ANSWER_TIMEOUT_MS)


def _motif_name(slug: str) -> str:
    from sasirangan.app import display_name

    return display_name(slug)


def test_browser_names_motif_in_photo(open_app, motif_photo):
    page = open_app()
    _upload(page, motif_photo)
    _expect_card(page, _motif_name(MOTIF))
    from playwright.sync_api import expect

    expect(page.locator("#scores")).to_contain_text(_motif_name(MOTIF))
    expect(page.locator("#timing")).to_contain_text("ms")


def test_browser_answers_unknown_for_non_textile(open_app):
    page = open_app()
    _upload(page, _photo(NOT_TEXTILE, "stamp_*.jpg"))
    _expect_card(page, "not a Sasirangan motif the model knows")


def test_browser_non_image_shows_error_then_recovers(open_app, motif_photo, tmp_path):
    from playwright.sync_api import expect

    fake = tmp_path / "notes.jpg"
    fake.write_text("this is a text file, not a photo\n")
    page = open_app()
    _upload(page, fake)
    expect(page.get_by_text("That file is not a picture the app can read")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    page.get_by_label("Remove Image").click()  # the user clears the broken upload and tries again
    _upload(page, motif_photo)
    _expect_card(page, _motif_name(MOTIF))


def test_browser_live_camera_streams_smoothed_answers(open_app):
    from playwright.sync_api import expect

    page = open_app()
    page.get_by_text("Click to Access Webcam").click()
    page.get_by_label("capture photo").click()  # starts streaming frames to the server
    expect(page.locator("#timing")).to_contain_text("averaged over the last 5 frames", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#card")).not_to_be_empty()


def test_browser_fits_phone_screen(open_app, motif_photo, tmp_path):
    from playwright.sync_api import expect

    page = open_app(PHONE)
    _upload(page, motif_photo)
    _expect_card(page, _motif_name(MOTIF))
    if MOTIF == "gigi_haruan":  # its meaning is sourced: the card links the pages it comes from
        expect(page.locator("#card a[href^='https://']").first).to_be_visible()
    page.wait_for_timeout(500)  # let the image preview settle
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "page scrolls sideways"
    for selector in ("#upload", "#scores", "#card"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["width"] > 0, f"{selector} is not shown"
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{selector} overflows: {box}"

    if os.environ.get("SASIRANGAN_SCREENSHOTS") == "1":
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "phone.png", docs / "screenshot_phone.png")
        desktop = open_app(DESKTOP)
        _upload(desktop, motif_photo)
        _expect_card(desktop, _motif_name(MOTIF))
        desktop.wait_for_timeout(500)
        desktop.screenshot(path=str(docs / "screenshot_desktop.png"), full_page=True)
