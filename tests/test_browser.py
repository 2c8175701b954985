"""End to end: app_gradio.py serving the bundled model, driven in headless Chromium.

Uses the system Chromium (/usr/bin/chromium; Playwright never downloads a browser) and
the real photos in ../shared; the live-camera test also needs Debian's ffmpeg
(/usr/bin/ffmpeg) to turn photos into the fake camera's video. SASIRANGAN_TEST_MODEL and
SASIRANGAN_TEST_MOTIF point the test at another model folder and motif while developing. SASIRANGAN_SCREENSHOTS=1 also
saves docs/screenshot_phone.png and docs/screenshot_desktop.png for the README.
"""

import json
import os
import re
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
FFMPEG = Path("/usr/bin/ffmpeg")  # Debian's; makes the fake camera's video
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
LIVE_SAMPLE_SECONDS = 25  # how long the live test watches the answer
# The three answer texts read in one go, so they are from the same moment: the headline of the
# label panel (gr.Label's <h2 data-testid="label-output-value">) and its bars, the card's first
# heading, and the bold lead of the timing line. Markdown text is read inside its
# [data-testid=markdown] element: the component's status tracker (a "0.0s" timer) sits beside it.
READ_ANSWER_JS = """() => {
    const text = (el) => (el ? el.innerText.trim() : "");
    return {
        headline: text(document.querySelector("#scores [data-testid='label-output-value']")),
        bars: [...document.querySelectorAll("#scores .confidence-set dt")].map(text),
        card: text(document.querySelector("#card [data-testid='markdown'] h3")),
        bold: text(document.querySelector("#timing [data-testid='markdown'] strong")),
        timing: text(document.querySelector("#timing [data-testid='markdown']")),
    };
}"""
TIMING_TAIL = re.compile(r" · answered in \d+ ms \(averaged over the last \d+ frames?\)$")

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


def _serve(log_path: Path, *args: str, env: dict | None = None):
    """Run app_gradio.py as a user runs it, on a free localhost port; yields its URL, then stops it."""
    port = _free_port()
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, str(ROOT / "app_gradio.py"), "--model", str(MODEL),
                                   "--port", str(port), *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, **(env or {})})
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
def app_url(tmp_path_factory):
    """app_gradio.py serving the bundled model, without a catalogue."""
    yield from _serve(tmp_path_factory.mktemp("server") / "server.log")


CURATOR_PASSWORD = "test-curator-password"


@pytest.fixture(scope="module")
def catalogue_app(tmp_path_factory):
    """app_gradio.py with a fresh folder catalogue, curating on (the password from the environment
    variable, as a deployment would pass it); yields (URL, catalogue folder)."""
    root = tmp_path_factory.mktemp("catalogue_server")
    folder = root / "catalogue"
    from sasirangan.app_catalogue import PASSWORD_ENV

    for url in _serve(root / "server.log", "--catalogue", str(folder), env={PASSWORD_ENV: CURATOR_PASSWORD}):
        yield url, folder


@pytest.fixture(scope="module")
def playwright():
    """One Playwright driver for the module (the sync API allows only one per thread)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright):
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


def _start_camera(page) -> None:
    """Open the "Live camera" webcam and press record: frames stream to the server from then on."""
    page.get_by_text("Click to Access Webcam").click()
    page.get_by_label("capture photo").click()


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


def test_browser_why_shows_where_the_model_looked(open_app, motif_photo):
    from playwright.sync_api import expect

    page = open_app()
    _upload(page, motif_photo)
    _expect_card(page, _motif_name(MOTIF))
    page.get_by_text("Why did it say that?").click()
    page.get_by_role("button", name="Show where the model looked").click()
    expect(page.locator("#why img")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(page.get_by_text("Red is where the model found the most evidence for")).to_be_visible()


def test_browser_answers_not_a_motif_for_non_textile(open_app):
    from playwright.sync_api import expect

    from sasirangan.app import NOT_A_MOTIF

    page = open_app()
    _upload(page, _photo(NOT_TEXTILE, "stamp_*.jpg"))
    _expect_card(page, "does not look like the cloth or patterns the model knows")
    expect(page.locator("#scores")).to_contain_text(NOT_A_MOTIF)


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
    _start_camera(page)
    expect(page.locator("#timing")).to_contain_text("averaged over the last 5 frames", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#card")).not_to_be_empty()


def _camera_video(path: Path, motif: Path, other: Path, motif_seconds: int = 5, other_seconds: int = 3,
                  fps: int = 10) -> Path:
    """A 640x480 .y4m for Chromium's fake camera: a slow pan across `motif`, then `other` held still.

    Chromium loops the file, so the answer keeps changing kind while the test watches."""
    if not FFMPEG.is_file():
        pytest.skip(f"needs ffmpeg at {FFMPEG} to make the fake camera's video (apt-get install ffmpeg)")
    graph = (f"[0:v]scale=800:600:force_original_aspect_ratio=increase,"
             f"crop=640:480:x='(iw-640)*t/{motif_seconds}':y='(ih-480)*t/{motif_seconds}',setsar=1[motif];"
             "[1:v]scale=640:480:force_original_aspect_ratio=increase,crop=640:480,setsar=1[other];"
             "[motif][other]concat=n=2:v=1,format=yuv420p[out]")
    command = [str(FFMPEG), "-nostdin", "-loglevel", "error", "-y",
               "-loop", "1", "-framerate", str(fps), "-t", str(motif_seconds), "-i", str(motif),
               "-loop", "1", "-framerate", str(fps), "-t", str(other_seconds), "-i", str(other),
               "-filter_complex", graph, "-map", "[out]", "-r", str(fps), "-f", "yuv4mpegpipe", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and path.stat().st_size > 0, f"ffmpeg failed:\n{done.stderr[-2000:]}"
    return path


def _shows_answer(sample: dict) -> bool:
    return bool(sample["headline"] or sample["card"] or sample["bold"])


def _answer_disagreements(sample: dict, motif_names: set[str]) -> list[str]:
    """What breaks the contract in one reading of the page: the label headline, the card's
    heading and the timing line's bold lead are one title; bars (at most 3, the headline among
    them) exactly when a motif is named."""
    wrong = []
    headline, card, bold, bars = sample["headline"], sample["card"], sample["bold"], sample["bars"]
    if not headline or headline != card or headline != bold:
        wrong.append(f"titles differ: label {headline!r}, card {card!r}, timing {bold!r}")
    if headline in motif_names:
        if not bars or len(bars) > 3 or headline not in bars:
            wrong.append(f"motif {headline!r} named without its bars (1 to 3, itself among them): {bars}")
    elif bars:
        wrong.append(f"{headline!r} is not a motif but the label shows bars: {bars}")
    if not sample["timing"].startswith(bold) or not TIMING_TAIL.search(sample["timing"]):
        wrong.append(f"timing line is not '**title** · answered in N ms (averaged ...)': {sample['timing']!r}")
    return wrong


def test_browser_live_camera_answers_agree(playwright, app_url, motif_photo, tmp_path):
    """A real video through the fake camera: every live answer has one title in all three places.

    Guards the bug where the label panel said "Gigi Haruan 100%" while the card said "Unknown"."""
    other = _photo(NOT_TEXTILE, "photo_astronaut.jpg")
    video = _camera_video(tmp_path / "camera.y4m", motif_photo, other)
    motif_names = {_motif_name(slug) for slug in json.loads((MODEL / "class_names.json").read_text())
                   if slug != "unknown"}
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                          args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={video}"])
    try:
        page = chromium.new_page(viewport=DESKTOP, permissions=["camera"])
        page.set_default_timeout(ANSWER_TIMEOUT_MS)
        page.goto(app_url)
        page.wait_for_selector("#upload input[type=file]", state="attached")
        started = time.monotonic()
        _start_camera(page)
        page.wait_for_selector("#timing [data-testid='markdown'] strong", state="attached")  # first live answer
        first_answer_s = time.monotonic() - started
        samples = []
        deadline = time.monotonic() + LIVE_SAMPLE_SECONDS
        while time.monotonic() < deadline:
            samples.append(page.evaluate(READ_ANSWER_JS))
            page.wait_for_timeout(500)
    finally:
        chromium.close()

    answers = [sample for sample in samples if _shows_answer(sample)]
    titles = [sample["headline"] or sample["card"] or sample["bold"] for sample in answers]
    updates = sum(1 for before, after in zip(answers, answers[1:]) if after["timing"] != before["timing"])
    print(f"\nlive camera: first answer after {first_answer_s:.1f} s; {len(samples)} samples, "
          f"{len(answers)} with an answer, {updates} live updates")
    changes = [title for i, title in enumerate(titles) if not i or title != titles[i - 1]]
    print("titles seen, in order:", " -> ".join(changes))
    wrong = [f"sample {i}: {problem} (page: {sample})" for i, sample in enumerate(samples)
             if _shows_answer(sample) for problem in _answer_disagreements(sample, motif_names)]
    assert not wrong, f"{len(wrong)} contract breaks, first ones:\n" + "\n".join(wrong[:8])
    assert updates >= 5, f"only {updates} live updates seen in {LIVE_SAMPLE_SECONDS} s: is the camera streaming?"


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


def _pick(page, dropdown: str, option: str) -> None:
    """Choose an option of a gr.Dropdown by its shown text."""
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_browser_catalogue_suggest_confirm_and_browse(browser, catalogue_app, motif_photo):
    """A visitor saves a photo as a suggestion, a curator confirms it, and it shows in the catalogue."""
    from playwright.sync_api import expect

    from sasirangan.catalogue import Catalogue

    url, folder = catalogue_app
    page = browser.new_page(viewport=DESKTOP)
    page.set_default_timeout(ANSWER_TIMEOUT_MS)
    try:
        page.goto(url)
        _upload(page, motif_photo)
        _expect_card(page, _motif_name(MOTIF))  # the answer is on screen
        _pick(page, "#motif_choice", "Gigi Haruan")
        page.get_by_role("button", name="Save to catalogue").click()
        expect(page.locator("#feedback_status")).to_contain_text(
            "Saved as a suggestion for Gigi Haruan; a curator will review it.")

        page.get_by_role("tab", name="Curator").click()
        page.get_by_role("button", name="Confirm").wait_for(state="hidden")  # nothing to curate before signing in
        page.get_by_label("Your name").fill("Ayu")
        page.get_by_label("Curator password").fill(CURATOR_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#curator_status")).to_contain_text("Signed in as Ayu")
        expect(page.locator("#review_details")).to_contain_text("suggested as Gigi Haruan")
        expect(page.locator("#review_details")).to_contain_text("From anonymous, by an upload")
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("#curator_status")).to_contain_text("Confirmed #1 as Gigi Haruan.")
        expect(page.locator("#review_details")).to_contain_text("No suggestions are waiting for review.")

        page.get_by_role("tab", name="Catalogue").click()
        _pick(page, "#browse_motif", "Gigi Haruan (1)")
        expect(page.locator("#motif_card")).to_contain_text("1 confirmed photo")
        expect(page.locator("#motif_gallery img")).to_have_count(1)
    finally:
        page.close()
    with Catalogue.open(folder) as catalogue:
        (capture,) = catalogue.captures()
    assert (capture.motif, capture.status, capture.source, capture.submitted_by, capture.reviewed_by) == (
        "gigi_haruan", "confirmed", "upload", "anonymous", "Ayu")
    assert capture.model_name == MODEL.name
