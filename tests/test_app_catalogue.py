"""The app's catalogue handlers on a toy model: suggestions, limits for a public link, curating,
motif cards from the catalogue, the Catalogue tab, and the page with a catalogue."""

import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, pattern_image
from sasirangan import app, limits
from sasirangan.app_catalogue import (CURATE_ACTIONS, CURATING_OFF, RIGHT, SAVE, WRONG, Curation, browse_catalogue,
                                      curate, motif_form, review_queue, save_motif, sign_in, suggest)
from sasirangan.catalogue import Catalogue
from sasirangan.enrol import Match
from sasirangan.limits import LimitExceeded, RateLimiter
from sasirangan.predict import Prediction, Predictor
from sasirangan.views import WHOLE
from test_app import BAD_UPLOADS, _answer, _by_type, _png  # the answers and pictures the answer tests use

# --------------------------------------------------------------------------- fixtures

PASSWORD = "kain-sasirangan"
CURATOR = {"name": "Ayu"}  # the session state after a successful sign-in


def _request(host="10.0.0.7", session="session-1"):
    """What gr.Request gives the handlers: the client's address and the page session."""
    return SimpleNamespace(client=SimpleNamespace(host=host), session_hash=session)


@pytest.fixture
def catalogue(tmp_path):
    with Catalogue.open(tmp_path / "catalogue") as opened:
        yield opened


@pytest.fixture
def curation(catalogue):
    return Curation(catalogue, password=PASSWORD)


@pytest.fixture
def catalogue_predictor(trained_model_dir, catalogue):
    """A predictor of its own that names motifs from the test's catalogue too."""
    return Predictor(trained_model_dir, catalogue=catalogue)


def _noise_png(tmp_path, seed=0, size=64, name=None):
    """A small picture whose bytes differ by seed (the catalogue stores a picture once)."""
    path = tmp_path / (name or f"noise_{seed}.png")
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _shown(predictor, picture, verdict="motif", source="upload"):
    """The answer on screen for `picture`, as the answer handlers keep it (`_answer` names Gigi Haruan)."""
    return app.shown_answer(predictor, str(picture) if isinstance(picture, Path) else picture, source,
                            _answer(verdict))


def _suggested(curation, predictor, tmp_path, seed=0, motif="gigi_haruan"):
    """One suggested capture of a fresh picture; returns its id."""
    suggest(curation, _shown(predictor, _noise_png(tmp_path, seed)), SAVE, motif, request=_request())
    return curation.catalogue.captures(status="suggested")[0].id


# --------------------------------------------------------------------------- suggestions


def test_suggest_right_stores_suggestion_with_model_answer(predictor, curation, trained_model_dir, tmp_path):
    message, choices = suggest(curation, _shown(predictor, _noise_png(tmp_path)), RIGHT, request=_request())
    assert message == "Saved as a suggestion for Gigi Haruan; a curator will review it."
    (capture,) = curation.catalogue.captures()
    assert (capture.motif, capture.status, capture.source, capture.submitted_by) == (
        "gigi_haruan", "suggested", "upload", "anonymous")
    assert (capture.model_name, capture.model_label, capture.model_verdict) == (
        trained_model_dir.name, "gigi_haruan", "motif")
    assert capture.model_confidence == pytest.approx(0.45)
    assert "right" in capture.note
    assert ("Gigi Haruan", "gigi_haruan") in choices.choices


@pytest.mark.parametrize("verdict", ["uncertain", "not_motif"])
def test_suggest_right_without_named_motif_asks_to_pick_it(predictor, curation, tmp_path, verdict):
    with pytest.raises(gr.Error, match="named no motif.*Pick the motif"):
        suggest(curation, _shown(predictor, _noise_png(tmp_path), verdict), RIGHT, request=_request())
    assert curation.catalogue.captures() == []


def test_suggest_wrong_with_new_name_creates_the_motif_from_webcam_frame(predictor, curation, trained_model_dir):
    frame = np.asarray(pattern_image("checks", 3, 64))
    *_, shown = app.predict_frame(predictor, frame, [], curation.catalogue)
    assert shown["source"] == "webcam" and shown["picture"] is frame
    expected = predictor.decide(predictor.outputs(frame, WHOLE), picture=frame)
    message, choices = suggest(curation, shown, WRONG, "  Naga  Baru ", request=_request())
    assert message.startswith("Saved as a suggestion for Naga Baru")
    assert curation.catalogue.motif("naga_baru").name == "Naga Baru"
    assert ("Naga Baru", "naga_baru") in choices.choices
    (capture,) = curation.catalogue.captures(motif="naga_baru")
    assert (capture.source, capture.status, capture.model_name) == ("webcam", "suggested", trained_model_dir.name)
    assert (capture.model_label, capture.model_verdict) == (expected.label, expected.verdict)
    assert curation.catalogue.load_photo(capture.sha256).shape == frame.shape


def test_suggest_save_stores_the_uploaded_file_with_the_answer_shown(predictor, curation, tmp_path):
    path = _png(tmp_path)
    *_, shown = app.predict_upload(predictor, str(path), curation.catalogue)
    expected = predictor.predict(str(path))
    suggest(curation, shown, SAVE, "Gelombang", request=_request())
    (capture,) = curation.catalogue.captures()
    assert (capture.motif, capture.source, capture.model_label, capture.model_verdict) == (
        "gelombang", "upload", expected.label, expected.verdict)
    assert np.array_equal(curation.catalogue.load_photo(capture.sha256), np.asarray(Image.open(path).convert("RGB")))


def test_suggest_wrong_refuses_the_motif_the_app_named(predictor, curation, tmp_path):
    with pytest.raises(gr.Error, match="press 'Right' instead"):
        suggest(curation, _shown(predictor, _noise_png(tmp_path)), WRONG, "Gigi Haruan", request=_request())
    assert curation.catalogue.captures() == []


@pytest.mark.parametrize("shown_picture, motif, message", [
    (False, "Gelombang", "no picture yet"),
    (True, "", "Pick the motif"),
    (True, None, "Pick the motif"),
])
def test_suggest_needs_a_picture_and_a_motif(predictor, curation, tmp_path, shown_picture, motif, message):
    shown = _shown(predictor, _noise_png(tmp_path)) if shown_picture else None
    with pytest.raises(gr.Error, match=message):
        suggest(curation, shown, SAVE, motif, request=_request())
    assert curation.catalogue.captures() == []


def test_suggest_by_signed_in_curator_carries_their_name_and_is_not_rate_limited(predictor, catalogue, tmp_path):
    curation = Curation(catalogue, password=PASSWORD, suggestions=RateLimiter(per_client=[(1, 60)], overall=[]))
    for seed in range(3):
        suggest(curation, _shown(predictor, _noise_png(tmp_path, seed)), RIGHT, curator=CURATOR,
                request=_request())
    assert [c.submitted_by for c in catalogue.captures()] == ["Ayu"] * 3
    assert all(c.status == "suggested" for c in catalogue.captures())


# --------------------------------------------------------------------------- limits for a public link


def test_suggest_rate_limit_per_client_refuses_and_stores_nothing(predictor, catalogue, tmp_path):
    curation = Curation(catalogue, suggestions=RateLimiter(per_client=[(2, 60)], overall=[(100, 3600)]))
    for seed in range(2):
        suggest(curation, _shown(predictor, _noise_png(tmp_path, seed)), RIGHT, request=_request())
    with pytest.raises(gr.Error, match="Too many suggestions from you: at most 2 a minute. Try again in"):
        suggest(curation, _shown(predictor, _noise_png(tmp_path, 2)), RIGHT, request=_request())
    assert len(catalogue.captures()) == 2
    suggest(curation, _shown(predictor, _noise_png(tmp_path, 3)), RIGHT, request=_request(session="other"))
    assert len(catalogue.captures()) == 3  # another client is not held up


def test_suggest_overall_cap_refuses_every_client(predictor, catalogue, tmp_path):
    curation = Curation(catalogue, suggestions=RateLimiter(per_client=[(5, 60)], overall=[(2, 3600)]))
    for seed in range(2):
        suggest(curation, _shown(predictor, _noise_png(tmp_path, seed)), RIGHT,
                request=_request(host=f"10.0.0.{seed}"))
    with pytest.raises(gr.Error, match="from everyone together: at most 2 an hour"):
        suggest(curation, _shown(predictor, _noise_png(tmp_path, 9)), RIGHT, request=_request(host="10.9.9.9"))
    assert len(catalogue.captures()) == 2


@pytest.mark.parametrize("limit, source, message", [
    ({"max_bytes": 1_000}, "upload", "bytes is over the limit of 1,000 bytes"),
    ({"max_pixels": 1_000}, "upload", "4,096 pixels is over the limit of 1,000 pixels"),
    ({"max_pixels": 1_000}, "webcam", "4,096 pixels is over the limit of 1,000 pixels"),
])
def test_suggest_size_limits_refuse_and_store_nothing(predictor, catalogue, tmp_path, limit, source, message):
    curation = Curation(catalogue, **limit)
    path = _noise_png(tmp_path)
    picture = path if source == "upload" else np.asarray(Image.open(path))
    with pytest.raises(gr.Error, match=message):
        suggest(curation, _shown(predictor, picture, source=source), RIGHT, request=_request())
    assert catalogue.captures() == [] and not any(catalogue.store.photos.rglob("*.*"))


def test_suggest_default_limits_are_the_module_constants(catalogue):
    curation = Curation(catalogue)
    assert (curation.max_bytes, curation.max_pixels) == (limits.MAX_SUGGESTION_BYTES, limits.MAX_SUGGESTION_PIXELS)
    assert curation.suggestions.per_client == [(limits.SUGGESTIONS_PER_MINUTE, 60), (limits.SUGGESTIONS_PER_HOUR, 3600)]
    assert curation.suggestions.overall == [(limits.SUGGESTIONS_PER_HOUR_ALL, 3600)]


@pytest.mark.parametrize("name", ["text.jpg", "truncated.jpg"])
def test_suggest_corrupt_upload_stores_nothing_then_app_still_works(predictor, curation, tmp_path, name):
    path = tmp_path / name
    BAD_UPLOADS[name](path)
    with pytest.raises(gr.Error) as raised:
        suggest(curation, _shown(predictor, path), RIGHT, request=_request())
    assert name in raised.value.message and str(tmp_path) not in raised.value.message
    assert curation.catalogue.captures() == []
    assert not any(curation.catalogue.store.photos.rglob("*.*"))  # no file left behind either
    suggest(curation, _shown(predictor, _noise_png(tmp_path)), RIGHT, request=_request())
    assert len(curation.catalogue.captures()) == 1


def test_rate_limiter_sliding_window_with_fake_clock():
    now = [1000.0]
    limiter = RateLimiter(per_client=[(2, 60), (3, 3600)], overall=[(5, 3600)], clock=lambda: now[0])
    limiter.acquire("a")
    now[0] += 10
    limiter.acquire("a")
    with pytest.raises(LimitExceeded, match="at most 2 a minute. Try again in 50 s") as raised:
        limiter.acquire("a")
    assert raised.value.retry_after == pytest.approx(50)
    now[0] += 50.5  # the first request left the minute window
    limiter.acquire("a")
    now[0] += 120
    with pytest.raises(LimitExceeded, match="at most 3 an hour"):
        limiter.acquire("a")
    limiter.acquire("b")
    limiter.acquire("b")
    with pytest.raises(LimitExceeded, match="from everyone together: at most 5 an hour"):
        limiter.acquire("c")
    assert limiter.count("a") == 3 and limiter.count() == 5  # refused requests are not recorded


def test_rate_limiter_forgets_idle_clients():
    now = [0.0]
    limiter = RateLimiter(per_client=[(1, 60)], overall=[], clock=lambda: now[0])
    for client in range(100):
        limiter.acquire(str(client))
    now[0] += 61
    limiter.acquire("new")
    assert set(limiter._clients) == {"new"}


def test_rate_limiter_is_thread_safe():
    limiter = RateLimiter(per_client=[(1000, 60)], overall=[(100, 60)])
    allowed = []

    def client(name):
        for _ in range(30):
            try:
                limiter.acquire(name)
                allowed.append(name)
            except LimitExceeded:
                pass

    threads = [threading.Thread(target=client, args=(f"c{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 100 and limiter.count() == 100


# --------------------------------------------------------------------------- curating


def test_sign_in_with_the_password_gives_the_session_a_curator(curation):
    state, message, password_box, sign_in_box, panel = sign_in(curation, "  Ayu  ", PASSWORD, _request())
    assert state == CURATOR and "Ayu" in message and password_box == ""
    assert sign_in_box.visible is False and panel.visible is True
    assert sign_in(curation, "", PASSWORD, _request())[0] == {"name": "curator"}


@pytest.mark.parametrize("password", ["wrong", "", None, PASSWORD + " ", PASSWORD.upper()])
def test_sign_in_wrong_password_refused(curation, password):
    with pytest.raises(gr.Error, match="Wrong password"):
        sign_in(curation, "Ayu", password, _request())


def test_sign_in_attempts_are_rate_limited_per_address(curation):
    for _ in range(limits.SIGN_INS_PER_MINUTE):
        with pytest.raises(gr.Error, match="Wrong password"):
            sign_in(curation, "x", "guess", _request(session="new each time"))
    with pytest.raises(gr.Error, match="Too many sign-in attempts"):
        sign_in(curation, "x", PASSWORD, _request(session="another one"))
    assert sign_in(curation, "x", PASSWORD, _request(host="10.1.1.1"))[0] == {"name": "x"}


def test_curating_is_off_without_a_password(catalogue):
    curation = Curation(catalogue, password=None)
    with pytest.raises(gr.Error, match="Curating is off"):
        sign_in(curation, "Ayu", "", _request())
    with pytest.raises(gr.Error, match="Curating is off"):
        review_queue(curation, CURATOR)  # a signed-in state from elsewhere counts for nothing


NOT_SIGNED_IN_STATES = [None, {}, {"name": ""}, "Ayu", True]


@pytest.mark.parametrize("state", NOT_SIGNED_IN_STATES)
@pytest.mark.parametrize("action", CURATE_ACTIONS)
def test_curate_refused_without_sign_in_and_nothing_changes(predictor, curation, tmp_path, state, action):
    capture_id = _suggested(curation, predictor, tmp_path)
    before = curation.catalogue.captures()
    with pytest.raises(gr.Error, match="Sign in as a curator first"):
        curate(predictor, curation, state, capture_id, action, "Naga Baru")
    assert curation.catalogue.captures() == before and curation.catalogue.motif("naga_baru") is None


@pytest.mark.parametrize("state", NOT_SIGNED_IN_STATES)
def test_motif_editing_and_review_refused_without_sign_in(curation, state):
    before = curation.catalogue.motif("gigi_haruan")
    for handler in (lambda: save_motif(curation, state, "gigi_haruan", "Changed", "", "", "", "", ""),
                    lambda: motif_form(curation, state, "gigi_haruan"),
                    lambda: review_queue(curation, state)):
        with pytest.raises(gr.Error, match="Sign in as a curator first"):
            handler()
    assert curation.catalogue.motif("gigi_haruan") == before


def test_review_queue_shows_photo_model_answer_and_who(predictor, curation, tmp_path, trained_model_dir):
    first = _suggested(curation, predictor, tmp_path, seed=1)
    second = _suggested(curation, predictor, tmp_path, seed=2, motif="Naga Baru")
    queue, photo, details, relabel = review_queue(curation, CURATOR)
    assert [value for _, value in queue.choices] == [second, first] and queue.value == second  # newest first
    assert isinstance(photo, Image.Image) and photo.size == (64, 64)
    assert f"#{second} · suggested as Naga Baru" in details and "From anonymous, by an upload" in details
    assert f"The app answered: Gigi Haruan (motif, 45%; model `{trained_model_dir.name}`)" in details
    assert ("Naga Baru", "naga_baru") in relabel.choices
    assert review_queue(curation, CURATOR, selected=first)[0].value == first


def test_confirm_makes_the_photo_a_reference_at_once(catalogue_predictor, curation, tmp_path):
    capture_id = _suggested(curation, catalogue_predictor, tmp_path)
    assert catalogue_predictor.enrolment.references == {}
    message, queue, photo, details, _ = curate(catalogue_predictor, curation, CURATOR, capture_id, "confirm")
    assert message == f"Confirmed #{capture_id} as Gigi Haruan."
    (capture,) = curation.catalogue.captures()
    assert (capture.status, capture.reviewed_by) == ("confirmed", "Ayu")
    assert catalogue_predictor.enrolment.references == {"gigi_haruan": 1}  # refreshed, not after the next poll
    assert queue.choices == [] and photo is None and details == "No suggestions are waiting for review."


def test_reject_relabel_delete(predictor, curation, tmp_path):
    catalogue = curation.catalogue
    rejected, relabelled, deleted = (_suggested(curation, predictor, tmp_path, seed) for seed in range(3))
    curate(predictor, curation, CURATOR, rejected, "reject")
    message, *_ = curate(predictor, curation, CURATOR, relabelled, "relabel", "Naga Baru")
    assert message == f"Moved #{relabelled} to Naga Baru."
    curate(predictor, curation, CURATOR, deleted, "delete")
    statuses = {c.id: (c.status, c.motif, c.reviewed_by) for c in catalogue.captures()}
    assert statuses == {rejected: ("rejected", "gigi_haruan", "Ayu"), relabelled: ("suggested", "naga_baru", "Ayu")}
    with pytest.raises(gr.Error, match="Pick or type the motif"):
        curate(predictor, curation, CURATOR, relabelled, "relabel", " ")
    with pytest.raises(gr.Error, match="Pick a suggestion first"):
        curate(predictor, curation, CURATOR, None, "confirm")
    with pytest.raises(gr.Error, match=f"no capture {deleted}"):
        curate(predictor, curation, CURATOR, deleted, "confirm")


# --------------------------------------------------------------------------- motif cards from the catalogue


def test_editing_a_motif_changes_the_answer_card(curation):
    prediction = _answer("motif")
    assert "king amaranth" not in app.answer_card(prediction, curation.catalogue)
    form = motif_form(curation, CURATOR, "gigi_haruan")
    assert form[0].value == "gigi_haruan" and form[1] == "Gigi Haruan" and form[4]  # the meaning so far
    message, _ = save_motif(curation, CURATOR, "gigi_haruan", "Gigi Haruan", "gigi haruan", "snakehead teeth",
                            "Makna baru.", "A new meaning, from the curator.", "https://example.org/gigi")
    assert message == "Saved the texts of Gigi Haruan."
    card = app.answer_card(prediction, curation.catalogue)
    assert "**Meaning:** A new meaning, from the curator." in card and "**Makna:** Makna baru." in card
    assert "[example.org](https://example.org/gigi)" in card
    assert "A new meaning" not in app.answer_card(prediction)  # without the catalogue: motifs.json


def test_save_motif_refuses_bad_sources_and_empty_names(curation):
    with pytest.raises(gr.Error, match="sources is a list of http"):
        save_motif(curation, CURATOR, "gigi_haruan", "Gigi Haruan", "", "", "", "", "not-a-url")
    with pytest.raises(gr.Error, match="a motif needs a name"):
        save_motif(curation, CURATOR, "gigi_haruan", "  ", "", "", "", "", "")
    assert curation.catalogue.motif("gigi_haruan").name == "Gigi Haruan"


def test_motif_only_in_the_catalogue_gets_its_card_and_says_where_it_came_from(curation):
    catalogue = curation.catalogue
    catalogue.add_photo(np.zeros((8, 8, 3), np.uint8), "Naga Baru", source="upload")
    catalogue.update_motif("naga_baru", by="test", meaning={"en": "A dragon, newly described."})
    match = Match(motif="naga_baru", similarity=0.9, margin=0.2, rival="gelombang", references=3,
                  shares={"naga_baru": 0.8, "gelombang": 0.15, "unknown": 0.05}, named=True)
    prediction = Prediction(label="naga_baru", confidence=0.8, top=[("naga_baru", 0.8)], probabilities=match.shares,
                            match=match, source="catalogue")
    scores, card, timing = app._outputs(prediction, 0.01, catalogue=catalogue)
    assert card.startswith("### Naga Baru") and "A dragon, newly described." in card
    assert "Recognised from 3 confirmed catalogue photos." in card
    assert "**Name means:** No description yet." in card
    assert max(scores, key=scores.get) == "Naga Baru" and timing.startswith("**Naga Baru**")
    assert "Recognised from" not in app.answer_card(_answer("motif"), catalogue)  # the model's own answer


# --------------------------------------------------------------------------- the Catalogue tab


def test_browse_catalogue_lists_motifs_and_confirmed_photos(predictor, curation, tmp_path):
    catalogue = curation.catalogue
    for seed in range(2):
        curate(predictor, curation, CURATOR, _suggested(curation, predictor, tmp_path, seed), "confirm")
    _suggested(curation, predictor, tmp_path, seed=5)  # not confirmed: not shown
    motif, card, gallery = browse_catalogue(catalogue, "gigi_haruan")
    assert motif.value == "gigi_haruan" and ("Gigi Haruan (2)", "gigi_haruan") in motif.choices
    assert len(motif.choices) == len(catalogue.motifs()) and ("Bayam Raja (0)", "bayam_raja") in motif.choices
    assert card.startswith("### Gigi Haruan") and "*2 confirmed photos*" in card
    assert "**Meaning:** " + catalogue.motif("gigi_haruan").meaning["en"] in card and "Sources:" in card
    assert len(gallery) == 2 and all(isinstance(image, Image.Image) for image, _ in gallery)
    confirmed = {catalogue.load_photo(c.sha256).tobytes() for c in catalogue.captures(status="confirmed")}
    assert {np.asarray(image.convert("RGB")).tobytes() for image, _ in gallery} == confirmed
    empty_motif, empty_card, empty_gallery = browse_catalogue(catalogue, "bayam_raja")
    assert "no confirmed photos yet" in empty_card and empty_gallery == []
    assert browse_catalogue(catalogue, None)[0].value == "gigi_haruan"  # the motif with the most photos


# --------------------------------------------------------------------------- the page with a catalogue


def test_build_app_with_catalogue_has_feedback_catalogue_and_curator_tabs(catalogue_predictor, catalogue):
    demo = app.build_app(catalogue_predictor, catalogue=catalogue, curator_password=PASSWORD)
    assert [tab.label for tab in _by_type(demo, gr.Tab)] == ["Recognise", "Catalogue", "Curator"]
    buttons = {button.value for button in _by_type(demo, gr.Button)}
    assert {"Right", "Wrong, it is this motif", "Save to catalogue", "Sign in", "Confirm", "Reject", "Delete",
            "Relabel", "Save motif texts"} <= buttons
    (choice,) = [d for d in _by_type(demo, gr.Dropdown) if d.elem_id == "motif_choice"]
    assert choice.allow_custom_value and ("Gigi Haruan", "gigi_haruan") in choice.choices
    assert [t for t in _by_type(demo, gr.Textbox) if t.type == "password"]
    assert _by_type(demo, gr.Gallery)


def test_build_app_with_catalogue_folder_and_no_password_says_curating_is_off(trained_model_dir, tmp_path):
    demo = app.build_app(str(trained_model_dir), catalogue=tmp_path / "catalogue")
    assert any(isinstance(b, gr.Markdown) and b.value == CURATING_OFF for b in demo.blocks.values())
    assert not [t for t in _by_type(demo, gr.Textbox) if t.type == "password"]
    assert "Save to catalogue" in {button.value for button in _by_type(demo, gr.Button)}


def test_app_gradio_unusable_catalogue_exits_2(tmp_path):
    not_a_folder = tmp_path / "catalogue.txt"
    not_a_folder.write_text("a file, not a catalogue folder\n")
    result = subprocess.run([sys.executable, str(ROOT / "app_gradio.py"), "--catalogue", str(not_a_folder),
                             "--model", str(tmp_path / "no model")],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "is a file" in errors[0] and "catalogue" in errors[0]
