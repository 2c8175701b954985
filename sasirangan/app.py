"""The Gradio app: name the Sasirangan motif in a live camera view or an uploaded photo.

The app is a shell around `Predictor` (STYLE.md 3 and 10): the handlers below are plain
functions that take the predictor as their first argument, so tests call them directly,
and `build_app` only lays out components and wires events to them. The live path per
frame is one whole-picture view (`views.WHOLE`: the close-ups that uploads are averaged over
do not fit a frame's budget) + the LiteRT model + averaging the last few frames' outputs;
it never calls `model.predict`.

With a motif catalogue (`sasirangan.catalogue`), the page grows three things: under each
answer, "Right" / "Wrong, it is ..." / "Save to catalogue" store the picture as a *suggested*
capture; a Catalogue tab shows each motif's card and confirmed photos; and a Curator tab, behind
a password, confirms, rejects, relabels or deletes suggestions and edits the motif texts. The
catalogue handlers take a `Curation` (the catalogue, the password and the limits for a public
link, `sasirangan.limits`) and the session's curator state (a `gr.State`: None, or the signed-in
curator's name), and check it themselves: the page never decides who may curate.

Example:
    >>> from sasirangan.app import build_app                      # doctest: +SKIP
    >>> build_app("models/sasirangan_default").launch(show_error=True)  # doctest: +SKIP
"""

from __future__ import annotations

import hmac
import html
import io
import json
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import gradio as gr
import numpy as np
from PIL import Image

from .calibrate import NotFittedError
from .catalogue import Catalogue, CatalogueError, slugify
from .config import UNKNOWN_CLASS
from .data import load_image
from .limits import (MAX_SUGGESTION_BYTES, MAX_SUGGESTION_PIXELS, SIGN_INS_PER_MINUTE, LimitExceeded,
                     RateLimiter)
from .views import WHOLE
from .predict import Predictor
from .verdict import MOTIF, NOT_MOTIF

SMOOTHING_FRAMES = 5  # live answers average this many recent frames, so they do not flicker
STREAM_EVERY = 0.2  # seconds between webcam frames sent to the server
STREAM_TIME_LIMIT = 300  # seconds a live session streams before it stops (press record again); frees the worker
NO_DESCRIPTION = {"id": "Belum ada deskripsi.", "en": "No description yet."}
NOT_SURE = "Not sure which motif"
NOT_A_MOTIF = "Not a motif"
PROBLEM_TITLES = {"too_dark": "Too dark to tell", "too_bright": "Too bright to tell",
                  "too_blurry": "Too blurry to tell", "too_small": "Cloth too small in the picture"}
UNREADABLE = "That file is not a picture the app can read"

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- motif texts


@lru_cache(maxsize=1)
def load_motifs() -> dict:
    """The motif texts shipped as package data (sasirangan/motifs.json)."""
    text = resources.files("sasirangan").joinpath("motifs.json").read_text(encoding="utf-8")
    return json.loads(text)


MOTIF_TEXTS_REFRESH = 1.0  # seconds between checks whether another process edited the catalogue's motifs
_catalogue_texts: "weakref.WeakKeyDictionary[Catalogue, tuple[float, int, dict]]" = weakref.WeakKeyDictionary()
_catalogue_texts_lock = threading.Lock()


def catalogue_motifs(catalogue: Catalogue, refresh: bool = False) -> dict:
    """{slug: catalogue.Motif} of a catalogue, read again when its revision changed.

    The revision is checked at most every `MOTIF_TEXTS_REFRESH` seconds (a live answer renders
    several cards a second); `refresh=True` reads the motifs now (after an edit in this app).
    """
    now = time.monotonic()
    with _catalogue_texts_lock:
        cached = _catalogue_texts.get(catalogue)
        if cached is not None and not refresh and now - cached[0] < MOTIF_TEXTS_REFRESH:
            return cached[2]
    revision = catalogue.revision()
    if cached is not None and not refresh and cached[1] == revision:
        motifs = cached[2]
    else:
        motifs = {motif.slug: motif for motif in catalogue.motifs()}
    with _catalogue_texts_lock:
        _catalogue_texts[catalogue] = (now, revision, motifs)
    return motifs


def motif_info(slug: str, catalogue: Catalogue | None = None) -> dict:
    """Name, literal meaning, symbolism and sources of one motif; a class with no entry still gets a name.

    With a catalogue, the texts are its motif row's (curators edit them in the app), so a motif
    enrolled only in the catalogue has a card too; classes it lacks (`unknown`) fall back to
    sasirangan/motifs.json. Empty texts read "No description yet".
    """
    row = catalogue_motifs(catalogue).get(slug) if catalogue is not None else None
    return _info(slug, _row_entry(row) if row is not None else load_motifs().get("motifs", {}).get(slug, {}))


def _row_entry(motif) -> dict:
    """A catalogue motif row as a motifs.json entry."""
    return {"name": motif.name, "literal": motif.literal, "meaning": motif.meaning, "sources": motif.sources}


def _info(slug: str, entry: dict) -> dict:
    def texts(field_name: str) -> dict:
        given = entry.get(field_name) or {}
        return {language: (given.get(language) or "").strip() or NO_DESCRIPTION[language] for language in ("id", "en")}

    return {
        "name": entry.get("name") or slug.replace("_", " ").title(),
        "literal": texts("literal"),
        "meaning": texts("meaning"),
        "sources": list(entry.get("sources") or []),
    }


def display_name(slug: str, catalogue: Catalogue | None = None) -> str:
    return motif_info(slug, catalogue)["name"]


# --------------------------------------------------------------------------- answer rendering


def answer_title(prediction, catalogue: Catalogue | None = None) -> str:
    """The answer in a few words: the motif's name, or what kind of answer it is.

    The label panel, the card and the timing line all lead with it, so they cannot disagree.
    """
    if prediction.problem:
        return PROBLEM_TITLES.get(prediction.problem, "Can't tell from this picture")
    if prediction.verdict == MOTIF:
        return display_name(prediction.label, catalogue)
    return NOT_A_MOTIF if prediction.verdict == NOT_MOTIF else NOT_SURE


def label_scores(prediction, catalogue: Catalogue | None = None) -> dict[str, float] | str:
    """What the label panel (`gr.Label`) shows: the top motifs with their probabilities when a
    motif is named, else only the kind of answer (closest motifs are in the card)."""
    if prediction.verdict != MOTIF:
        return answer_title(prediction, catalogue)
    scores = {}
    for slug, probability in prediction.probabilities.items():
        name = display_name(slug, catalogue)
        scores[name if name not in scores else slug] = float(probability)
    return scores


def _closest_motifs(prediction, exclude=(), among_motifs: bool = False,
                    catalogue: Catalogue | None = None) -> list[tuple[str, float]]:
    """The three most probable motifs (never the unknown class). `among_motifs` gives each its
    share of the motifs' total: when the unknown class holds nearly all the probability, the
    motifs' own would all read 0%."""
    motifs = {slug: p for slug, p in prediction.probabilities.items() if slug not in (UNKNOWN_CLASS, *exclude)}
    total = sum(motifs.values()) if among_motifs else 1.0
    ranked = sorted(motifs.items(), key=lambda item: -item[1])[:3]
    return [(display_name(slug, catalogue), p / total if total > 0 else 0.0) for slug, p in ranked]


def _sentence(text: str | None) -> str:
    text = (text or "").strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def answer_card(prediction, catalogue: Catalogue | None = None) -> str:
    """Markdown for the answer: the motif's name and story; or "not sure which motif" with the
    closest motifs; or "not a motif"; or what is wrong with the picture and what to do.

    With a catalogue the motif's texts come from it (`motif_info`), and an answer named from
    confirmed catalogue photos (`prediction.source == "catalogue"`) says so.
    """
    title = answer_title(prediction, catalogue)
    if prediction.verdict != MOTIF:
        closest = ", ".join(f"{name} ({p:.0%})"
                            for name, p in _closest_motifs(prediction, among_motifs=True, catalogue=catalogue))
        if prediction.problem:
            lines = [f"### {title}", "Gambar ini belum bisa dinilai.  ", _sentence(prediction.reason),
                     "", f"**What to do:** {prediction.advice}"]
        elif prediction.verdict == NOT_MOTIF:
            lines = [f"### {title}", "Ini tidak tampak seperti kain atau motif Sasirangan.  ",
                     "This does not look like the cloth or patterns the model knows.",
                     "", f"**Why:** {_sentence(prediction.reason)}"]
        else:
            lines = [f"### {title}", "Tampak seperti kain atau pola, tetapi motifnya belum pasti.  ",
                     "It looks like cloth or a pattern, but no motif is sure enough to name.",
                     "", f"**Closest motifs** (share among the motifs it knows): {closest}", "", f"**Why:** {_sentence(prediction.reason)}",
                     "", "Try another part of the cloth, closer and well lit; or ask a craftsperson."]
        return "\n".join(lines)
    info = motif_info(prediction.label, catalogue)
    guesses = [f"{name} ({p:.0%})"
               for name, p in _closest_motifs(prediction, exclude=(prediction.label,), catalogue=catalogue)]
    lines = [
        f"### {title}",
        f"**{prediction.confidence:.0%}** sure" + (f" · next: {', '.join(guesses[:2])}" if guesses else ""),
    ]
    if getattr(prediction, "source", "model") == "catalogue":
        photos = prediction.match.references
        lines += ["", f"Dikenali dari {photos} foto katalog yang sudah dikonfirmasi.  ",
                  f"Recognised from {photos} confirmed catalogue photo{'s' if photos != 1 else ''}."]
    lines += ["", *motif_text_lines(info)]
    origin = load_motifs().get("origin", {})
    if origin:
        lines += ["", f"**Asal:** {origin.get('id', '')}", "", f"**Origin:** {origin.get('en', '')}"]
    return "\n".join(lines)


def motif_text_lines(info: dict) -> list[str]:
    """Markdown lines of a motif's texts (`motif_info`): what its name means, what it stands
    for, in Indonesian and English, and the pages they come from."""
    lines = [
        f"**Arti nama:** {info['literal']['id']}  ",
        f"**Name means:** {info['literal']['en']}",
        "",
        f"**Makna:** {info['meaning']['id']}  ",
        f"**Meaning:** {info['meaning']['en']}",
    ]
    if info["sources"]:
        links = ", ".join(f"[{urlparse(url).netloc.removeprefix('www.')}]({url})" for url in info["sources"])
        lines += ["", f"Sumber / Sources: {links}"]
    return lines


def timing_text(seconds: float, frames: int | None = None, prediction=None, catalogue: Catalogue | None = None) -> str:
    text = f"answered in {seconds * 1000:.0f} ms"
    if frames:
        text += f" (averaged over the last {frames} frame{'s' if frames > 1 else ''})"
    if prediction is None:
        return text[0].upper() + text[1:]
    return f"**{answer_title(prediction, catalogue)}** · {text}"


def _outputs(prediction, seconds: float, frames: int | None = None,
             catalogue: Catalogue | None = None) -> tuple[dict | str, str, str]:
    return (label_scores(prediction, catalogue), answer_card(prediction, catalogue),
            timing_text(seconds, frames, prediction, catalogue))


def _user_message(error: Exception, path=None) -> str:
    """The library's message, with the server-side temp path cut down to the file's name."""
    message = str(error)
    if path:
        message = message.replace(str(path), Path(str(path)).name)
    return html.escape(message)  # gr.Error renders HTML


# --------------------------------------------------------------------------- handlers


def predict_upload(predictor, path, catalogue: Catalogue | None = None) -> tuple[dict, str, str, dict | None]:
    """Upload/paste handler: the picture at `path` -> (label scores, answer card, timing, shown).

    `shown` is the picture and the answer given for it (`shown_answer`), kept in a `gr.State`
    for the feedback buttons; None when the upload was cleared.

    Raises:
        gr.Error: the file is not a usable picture (plain message, shown in the page).
    """
    if path is None:  # the upload was cleared
        return {}, "", "", None
    try:
        prediction = predictor.predict(path)
    except ValueError as error:  # ImageError is a ValueError
        raise gr.Error(_user_message(error, path), print_exception=False) from None
    except Exception as error:  # keep the page usable whatever happens; the log has the details
        log.exception("prediction failed for %s", path)
        raise gr.Error(f"Could not analyse this picture ({type(error).__name__}). Try another photo.") from None
    return (*_outputs(prediction, prediction.seconds, catalogue=catalogue),
            shown_answer(predictor, path, "upload", prediction))


def predict_frame(predictor, frame, history,
                  catalogue: Catalogue | None = None) -> tuple[dict, str, str, list, dict | None]:
    """Live handler: one webcam frame -> (label scores, card, timing, new history, shown).

    `history` holds the model outputs (probabilities, logits, features...) of the last
    `SMOOTHING_FRAMES` frames of this session (a `gr.State`). The answer is decided on
    their mean, so it does not flicker, and the open-set check sees the averaged features.
    `shown` is this frame with the (smoothed) answer, for the feedback buttons.
    """
    if frame is None:  # the camera stopped: start afresh next time
        return {}, "", "", [], None
    started = time.perf_counter()
    try:
        outputs = {key: np.asarray(value, dtype=np.float32) for key, value in predictor.outputs(frame, WHOLE).items()}
    except ValueError as error:
        raise gr.Error(_user_message(error), print_exception=False) from None
    except Exception as error:
        log.exception("prediction failed for a webcam frame")
        raise gr.Error(f"Could not analyse the camera picture ({type(error).__name__}).") from None
    history = [past for past in (history or []) if _same_layout(past, outputs)]
    history = (history + [outputs])[-SMOOTHING_FRAMES:]
    smoothed = {key: np.mean([past[key] for past in history], axis=0) for key in outputs}
    prediction = predictor.decide(smoothed, picture=frame)
    return (*_outputs(prediction, time.perf_counter() - started, len(history), catalogue), history,
            shown_answer(predictor, frame, "webcam", prediction))


def shown_answer(predictor, picture, source: str, prediction) -> dict:
    """What the feedback buttons need of the answer on screen: the picture (an upload's path or
    a webcam frame), where it came from, the motif named (None if none) and the model's answer
    as the catalogue records it."""
    model_dir = getattr(predictor, "model_dir", None)
    return {
        "picture": picture,
        "source": source,
        "named": prediction.label if prediction.verdict == MOTIF else None,
        "from_catalogue": getattr(prediction, "source", "model") == "catalogue",
        "answer": {"model": Path(model_dir).name if model_dir else None, "label": prediction.label,
                   "verdict": prediction.verdict, "confidence": round(float(prediction.confidence), 4)},
    }


def _same_layout(past, outputs: dict) -> bool:
    """Whether a remembered frame can be averaged with this one (same model outputs)."""
    return (isinstance(past, dict) and past.keys() == outputs.keys()
            and all(np.shape(past[key]) == np.shape(outputs[key]) for key in outputs))


def guard_preprocess(component: gr.Image) -> gr.Image:
    """Make a failing `preprocess` (Pillow cannot open the upload) a plain `gr.Error`.

    gr.Image opens every upload with Pillow before our handler runs; on a non-image that
    raises an unclear processing error, so this instance's `preprocess` is wrapped.
    """
    original = component.preprocess

    def preprocess(payload):
        try:
            return original(payload)
        except gr.Error:
            raise
        except Exception as error:
            raise gr.Error(f"{UNREADABLE}: {_why_unreadable(payload, error)}", print_exception=False) from None

    component.preprocess = preprocess
    return component


def _why_unreadable(payload, error: Exception) -> str:
    """Ask `load_image` why the file fails: its messages are clearer than Pillow's."""
    path = getattr(payload, "path", None)
    if path:
        try:
            load_image(path)
        except ValueError as reason:
            return _user_message(reason, path).split(": ", 1)[-1]
        except Exception:
            pass
    return html.escape(f"{type(error).__name__}: {error}") if str(error) else "the file could not be opened."


# --------------------------------------------------------------------------- the catalogue: suggestions

RIGHT, WRONG, SAVE = "right", "wrong", "save"  # the three feedback buttons
ANONYMOUS = "anonymous"  # who a suggestion is from when no curator is signed in
PENDING_SHOWN = 100  # newest suggestions listed for review
GALLERY_PHOTOS = 60  # confirmed photos shown per motif in the Catalogue tab
PASSWORD_ENV = "SASIRANGAN_CURATOR_PASSWORD"
CURATING_OFF = (f"Curating is off: start the app with `--curator-password` (or set {PASSWORD_ENV}) "
                "to review suggestions and edit the motif texts.")
NOT_SIGNED_IN = "Sign in as a curator first (Curator tab)."


@dataclass
class Curation:
    """The catalogue side of the app, shared by its handlers (one per app, for all sessions).

    Args:
        catalogue: where suggestions go and where motif texts come from.
        password: curators sign in with it; None or "" turns curating off.
        suggestions: rate limits on anonymous suggestions, per client and overall.
        sign_ins: rate limit on sign-in attempts, per client address.
        max_bytes: largest suggested file, in bytes (`limits.MAX_SUGGESTION_BYTES`).
        max_pixels: largest suggested picture, in pixels (`limits.MAX_SUGGESTION_PIXELS`).
    """

    catalogue: Catalogue
    password: str | None = None
    suggestions: RateLimiter = field(default_factory=RateLimiter)
    sign_ins: RateLimiter = field(default_factory=lambda: RateLimiter(
        per_client=[(SIGN_INS_PER_MINUTE, 60)], overall=[], what="sign-in attempts"))
    max_bytes: int = MAX_SUGGESTION_BYTES
    max_pixels: int = MAX_SUGGESTION_PIXELS

    @property
    def curating(self) -> bool:
        return bool(self.password)


def _client(request, with_session: bool = True) -> str:
    """Who is asking, for rate limits: the client's address, and its page session."""
    host = getattr(getattr(request, "client", None), "host", None) or "unknown"
    return f"{host} {getattr(request, 'session_hash', None) or '-'}" if with_session else host


def motif_choices(catalogue: Catalogue) -> list[tuple[str, str]]:
    """(name, slug) of every motif in the catalogue, by name: the choices of the motif dropdowns."""
    return sorted(((motif.name, motif.slug) for motif in catalogue.motifs()), key=lambda choice: choice[0].lower())


def suggest(curation: Curation, shown: dict | None, kind: str, motif: str | None = None, curator: dict | None = None,
            request=None) -> tuple[str, gr.Dropdown]:
    """Feedback handler: store the picture on screen as a *suggested* capture for a curator to review.

    Args:
        curation: the app's `Curation`.
        shown: the answer on screen (`shown_answer`; the `gr.State` the answer handlers fill).
        kind: `RIGHT` (it shows the motif the app named), `WRONG` (it shows `motif`, not the
            answer) or `SAVE` (it shows `motif`).
        motif: a motif slug or name from the "It is ..." dropdown; a new name creates the motif.
        curator: the session's curator state: a signed-in curator's suggestions carry their
            name and are not rate-limited.
        request: the `gr.Request` (client address and page session, for the rate limits).

    Returns:
        (message, the motif dropdown with its choices updated: a new motif joins them).

    Raises:
        gr.Error: no picture yet, no motif chosen, a limit reached, or the picture cannot be
            stored. Nothing is stored then.
    """
    if curation is None:
        raise gr.Error("This app has no catalogue to save pictures to.", print_exception=False)
    if not shown or shown.get("picture") is None:
        raise gr.Error("There is no picture yet: upload a photo or start the camera first.", print_exception=False)
    named = shown.get("named")
    if kind == RIGHT:
        if not named:
            raise gr.Error("The app named no motif for this picture. Pick the motif under 'It is …' "
                           "(or type its name) and press 'Save to catalogue'.", print_exception=False)
        motif = named
    elif kind in (WRONG, SAVE):
        motif = " ".join((motif or "").split())
        if not motif:
            raise gr.Error("Pick the motif under 'It is …', or type its name, first.", print_exception=False)
        if kind == WRONG and named and slugify(motif) == named:
            raise gr.Error("That is the motif the app named: press 'Right' instead.", print_exception=False)
    else:
        raise ValueError(f"kind must be {RIGHT!r}, {WRONG!r} or {SAVE!r}. Received: kind={kind!r}.")
    signed_in = isinstance(curator, dict) and bool(curator.get("name")) and curation.curating
    if not signed_in:  # a picture refused below still counts: repeated bad uploads are limited too
        try:
            curation.suggestions.acquire(_client(request))
        except LimitExceeded as error:
            raise gr.Error(error.message, print_exception=False) from None
    picture = shown["picture"]
    note = {RIGHT: "the user says the answer was right", WRONG: "the user says the answer was wrong", SAVE: ""}[kind]
    if note and shown.get("from_catalogue"):
        note += " (it was named from confirmed catalogue photos)"
    try:
        if isinstance(picture, np.ndarray):
            picture = load_image(picture)  # webcam frames may come as RGBA or 16-bit; the catalogue takes RGB
        capture = curation.catalogue.add_photo(
            picture, motif, source=shown.get("source", "upload"), by=curator["name"] if signed_in else ANONYMOUS,
            model_answer=shown.get("answer"), note=note, max_bytes=curation.max_bytes, max_pixels=curation.max_pixels)
    except ValueError as error:  # CatalogueError, ImageError
        raise gr.Error(_user_message(error, shown["picture"] if isinstance(shown["picture"], str) else None),
                       print_exception=False) from None
    stored = curation.catalogue.motif(capture.motif)
    name = html.escape(stored.name if stored else capture.motif)
    if capture.status == "confirmed":
        message = f"This picture is already in the catalogue as {name}."
    elif capture.status == "rejected":
        message = f"A curator has already looked at this picture and did not take it as {name}."
    else:
        message = f"Saved as a suggestion for {name}; a curator will review it."
    gr.Info(message)
    return message, gr.Dropdown(choices=motif_choices(curation.catalogue))


# --------------------------------------------------------------------------- the catalogue: curating


def _curator_name(curation: Curation | None, curator) -> str:
    """The signed-in curator of this session, or a gr.Error: every curating handler calls this first."""
    if curation is None or not curation.curating:
        raise gr.Error(CURATING_OFF, print_exception=False)
    name = curator.get("name") if isinstance(curator, dict) else None
    if not name:
        raise gr.Error(NOT_SIGNED_IN, print_exception=False)
    return name


def sign_in(curation: Curation | None, name: str, password: str, request=None) -> tuple:
    """Curator sign-in: (the session's new curator state, a message, the cleared password box,
    the sign-in form hidden, the curating panel shown).

    The password is compared in constant time, and attempts are rate-limited per client address.
    The state lives on the server (`gr.State`), so a page cannot claim to be signed in.

    Raises:
        gr.Error: curating is off, the password is wrong, or too many attempts.
    """
    if curation is None or not curation.curating:
        raise gr.Error(CURATING_OFF, print_exception=False)
    try:
        curation.sign_ins.acquire(_client(request, with_session=False))
    except LimitExceeded as error:
        raise gr.Error(error.message, print_exception=False) from None
    if not hmac.compare_digest((password or "").encode("utf-8"), curation.password.encode("utf-8")):
        raise gr.Error("Wrong password.", print_exception=False)
    who = " ".join((name or "").split())[:60] or "curator"
    log.info("curator %r signed in from %s", who, _client(request, with_session=False))
    return {"name": who}, f"Signed in as **{html.escape(who)}**.", "", gr.Column(visible=False), gr.Column(visible=True)


def sign_out() -> tuple:
    """(no curator, a message, the sign-in form shown, the curating panel hidden)."""
    return None, "Signed out.", gr.Column(visible=True), gr.Column(visible=False)


def review_queue(curation: Curation | None, curator, selected=None) -> tuple:
    """The suggestions waiting for review: (the queue dropdown, the chosen one's photo, its
    details, the relabel dropdown's motif choices). `selected` is kept if still pending,
    else the newest suggestion is shown.

    Raises:
        gr.Error: no curator is signed in in this session.
    """
    _curator_name(curation, curator)
    catalogue = curation.catalogue
    pending = catalogue.captures(status="suggested", limit=PENDING_SHOWN)
    choices = motif_choices(catalogue)
    names = {slug: name for name, slug in choices}
    queue = [(f"#{c.id} · {names.get(c.motif, c.motif)} · {c.submitted_by}, {c.submitted_at:%Y-%m-%d %H:%M}", c.id)
             for c in pending]
    chosen = next((c for c in pending if str(c.id) == str(selected)), pending[0] if pending else None)
    relabel = gr.Dropdown(choices=choices)
    if chosen is None:
        return gr.Dropdown(choices=[], value=None), None, "No suggestions are waiting for review.", relabel
    return (gr.Dropdown(choices=queue, value=chosen.id), Image.open(io.BytesIO(catalogue.photo_bytes(chosen.sha256))),
            capture_details(chosen, names), relabel)


SOURCE_WORDS = {"webcam": "the live camera", "upload": "an upload", "import": "an import"}


def capture_details(capture, names: dict) -> str:
    """Markdown: the suggested motif, the app's answer when the picture was taken, who and when."""
    motif = html.escape(names.get(capture.motif, capture.motif))
    lines = [f"**#{capture.id} · suggested as {motif}** (`{capture.motif}`)  "]
    if capture.model_verdict is not None:
        answered = (names.get(capture.model_label, capture.model_label) if capture.model_verdict == MOTIF
                    else NOT_A_MOTIF if capture.model_verdict == NOT_MOTIF else NOT_SURE)
        confidence = "" if capture.model_confidence is None else f", {capture.model_confidence:.0%}"
        lines.append(f"The app answered: {html.escape(str(answered))} ({capture.model_verdict}{confidence}; "
                     f"model `{capture.model_name}`)  ")
    lines.append(f"From {html.escape(capture.submitted_by)}, by {SOURCE_WORDS.get(capture.source, capture.source)}, "
                 f"{capture.submitted_at:%Y-%m-%d %H:%M} UTC  ")
    if capture.note:
        lines.append(f"Note: {html.escape(capture.note)}")
    return "\n".join(lines)


CURATE_ACTIONS = ("confirm", "reject", "relabel", "delete")


def curate(predictor, curation: Curation | None, curator, capture_id, action: str, motif: str | None = None) -> tuple:
    """Confirm, reject, relabel (to `motif`, existing or new) or delete a capture, then show the next one.

    The predictor's catalogue references are refreshed at once, so the next answer already
    uses (or no longer uses) the photo.

    Returns:
        (message, *review_queue(...)).

    Raises:
        gr.Error: no curator is signed in in this session, no suggestion chosen, or the
            catalogue refused (e.g. an empty motif name). Nothing changes then.
    """
    who = _curator_name(curation, curator)
    if action not in CURATE_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(CURATE_ACTIONS)}. Received: action={action!r}.")
    try:
        capture_id = int(capture_id)
    except (TypeError, ValueError):
        raise gr.Error("Pick a suggestion first.", print_exception=False) from None
    catalogue = curation.catalogue
    try:
        if action == "confirm":
            capture = catalogue.confirm(capture_id, by=who)
        elif action == "reject":
            capture = catalogue.reject(capture_id, by=who)
        elif action == "relabel":
            if not (motif or "").strip():
                raise gr.Error("Pick or type the motif to relabel it to.", print_exception=False)
            capture = catalogue.relabel(capture_id, motif, by=who)
        else:
            catalogue.delete(capture_id, by=who)
            capture = None
    except CatalogueError as error:
        raise gr.Error(_user_message(error), print_exception=False) from None
    _refresh_references(predictor)
    name = html.escape(catalogue.motif(capture.motif).name) if capture is not None else ""
    message = {"confirm": f"Confirmed #{capture_id} as {name}.", "reject": f"Rejected #{capture_id}.",
               "relabel": f"Moved #{capture_id} to {name}.", "delete": f"Deleted #{capture_id}."}[action]
    gr.Info(message)
    return (message, *review_queue(curation, curator))


def _refresh_references(predictor) -> None:
    """Let the predictor see a confirmation at once (it also notices within a second by itself)."""
    if getattr(predictor, "catalogue", None) is not None:
        predictor.refresh_references()


def motif_form(curation: Curation | None, curator, slug: str | None = None) -> tuple:
    """The motif-text editor's fields for `slug` (the first motif if None): (the motif dropdown,
    name, literal id, literal en, meaning id, meaning en, sources one a line).

    Raises:
        gr.Error: no curator is signed in in this session.
    """
    _curator_name(curation, curator)
    choices = motif_choices(curation.catalogue)
    motif = curation.catalogue.motif(slug) if slug else None
    if motif is None and choices:
        motif = curation.catalogue.motif(choices[0][1])
    if motif is None:
        return gr.Dropdown(choices=choices, value=None), "", "", "", "", "", ""
    return (gr.Dropdown(choices=choices, value=motif.slug), motif.name, motif.literal.get("id", ""),
            motif.literal.get("en", ""), motif.meaning.get("id", ""), motif.meaning.get("en", ""),
            "\n".join(motif.sources))


def save_motif(curation: Curation | None, curator, slug: str, name: str, literal_id: str, literal_en: str,
               meaning_id: str, meaning_en: str, sources: str) -> tuple[str, gr.Dropdown]:
    """Store a motif's texts (its slug stays); answer cards show them from the next answer.

    Returns:
        (message, the motif dropdown with the new name).

    Raises:
        gr.Error: no curator is signed in in this session, no motif chosen, or a text the
            catalogue refuses (an empty name, a source that is not an http(s) URL).
    """
    who = _curator_name(curation, curator)
    if not slug:
        raise gr.Error("Pick the motif to edit first.", print_exception=False)
    try:
        motif = curation.catalogue.update_motif(
            slug, by=who, name=name or "", literal={"id": literal_id or "", "en": literal_en or ""},
            meaning={"id": meaning_id or "", "en": meaning_en or ""}, sources=(sources or "").split())
    except CatalogueError as error:
        raise gr.Error(_user_message(error), print_exception=False) from None
    catalogue_motifs(curation.catalogue, refresh=True)
    message = f"Saved the texts of {html.escape(motif.name)}."
    gr.Info(message)
    return message, gr.Dropdown(choices=motif_choices(curation.catalogue), value=motif.slug)


# --------------------------------------------------------------------------- the catalogue: browsing


def browse_catalogue(catalogue: Catalogue, slug: str | None = None) -> tuple[gr.Dropdown, str, list]:
    """The Catalogue tab for one motif (if `slug` is None or gone: the one with the most confirmed
    photos, so the tab opens on photos): (the motif dropdown with confirmed-photo counts, the
    motif's card, its confirmed photos for a gr.Gallery)."""
    counts = catalogue.counts()
    confirmed_count = {motif: counts.get(motif, {}).get("confirmed", 0) for _, motif in motif_choices(catalogue)}
    choices = [(f"{name} ({confirmed_count[motif]})", motif) for name, motif in motif_choices(catalogue)]
    if not any(motif == slug for _, motif in choices):
        slug = max(confirmed_count, key=confirmed_count.get) if choices else None  # first of the best, by name
    if slug is None:
        return gr.Dropdown(choices=[], value=None), "The catalogue has no motifs yet.", []
    motif = catalogue.motif(slug)
    info = _info(slug, _row_entry(motif))
    confirmed = catalogue.captures(status="confirmed", motif=slug, limit=GALLERY_PHOTOS)
    total = counts.get(slug, {}).get("confirmed", 0)
    photos = "no confirmed photos yet" if not total else f"{total} confirmed photo{'s' if total != 1 else ''}"
    card = "\n".join([f"### {html.escape(motif.name)}", f"*{photos}*", "", *motif_text_lines(info)])
    gallery = [(Image.open(io.BytesIO(catalogue.photo_bytes(capture.sha256))), f"#{capture.id}")
               for capture in confirmed]
    return gr.Dropdown(choices=choices, value=slug), card, gallery


# --------------------------------------------------------------------------- layout


INTRO = """# Sasirangan motif finder
Arahkan kamera ke kain Sasirangan atau unggah fotonya: aplikasi menyebut nama motifnya bila yakin; bila tidak, ia berkata *belum pasti* (dengan motif terdekat) atau *bukan motif*.

Point the camera at a Sasirangan cloth, or upload a photo: the app names the motif when it is sure; otherwise it says *not sure which motif* (with the closest ones) or *not a motif*."""


def build_app(model_dir_or_predictor, catalogue=None, curator_password: str | None = None) -> gr.Blocks:
    """The page: live camera and photo upload side by side (stacked on a phone), answer below.

    With a catalogue, the page has three tabs: Recognise (the above, plus the feedback buttons
    under the answer), Catalogue (each motif's card and confirmed photos) and Curator (sign in
    with `curator_password` to review suggestions and edit motif texts; says curating is off
    without one). Answers name motifs from the catalogue's confirmed photos when the predictor
    uses the catalogue (`Predictor(model_dir, catalogue=...)` or `predictor.use_catalogue`);
    given a model folder, build_app makes it so when the model allows.

    Args:
        model_dir_or_predictor: a model folder (str or Path) or a loaded `Predictor`.
        catalogue: a `Catalogue`, its folder or `postgresql://` URL, or None (no catalogue: the
            page is the camera, the upload and the answer only).
        curator_password: the curators' password; None or "" turns curating off.

    Returns:
        gr.Blocks; call `.launch(show_error=True)` on it.

    Raises:
        FileNotFoundError, ValueError: the model folder is missing or broken.
        CatalogueError: the catalogue cannot be opened.
    """
    if catalogue is not None and not isinstance(catalogue, Catalogue):
        catalogue = Catalogue.open(catalogue)
    predictor = model_dir_or_predictor
    if isinstance(model_dir_or_predictor, (str, Path)):
        predictor = Predictor(model_dir_or_predictor)
        if catalogue is not None:
            try:
                predictor.use_catalogue(catalogue)
            except NotFittedError as error:  # an older model folder: the catalogue still collects and shows photos
                log.warning("answers will not use the catalogue's photos: %s", error)
    curation = Curation(catalogue, password=curator_password or None) if catalogue is not None else None

    with gr.Blocks(title="Sasirangan motif finder") as demo:
        gr.Markdown(INTRO)
        if curation is None:
            _recognise_section(predictor, None)
        else:
            curator = gr.State(None)  # this session's signed-in curator ({"name": ...}), kept on the server
            with gr.Tabs():
                with gr.Tab("Recognise", id="recognise"):
                    _recognise_section(predictor, curation, curator, demo)
                with gr.Tab("Catalogue", id="catalogue") as catalogue_tab:
                    _catalogue_section(curation.catalogue, catalogue_tab)
                with gr.Tab("Curator", id="curator"):
                    _curator_section(predictor, curation, curator)
    return demo


def _recognise_section(predictor, curation: Curation | None, curator: gr.State | None = None,
                       demo: gr.Blocks | None = None) -> None:
    """Camera, upload and answer; with a catalogue, the feedback buttons under the answer."""
    catalogue = curation.catalogue if curation is not None else None

    def on_upload(path):
        return predict_upload(predictor, path, catalogue)

    def on_frame(frame, history):
        return predict_frame(predictor, frame, history, catalogue)

    with gr.Row(equal_height=False):  # columns wrap under each other on narrow screens
        with gr.Column(min_width=280):
            camera = gr.Image(
                label="Live camera",
                sources=["webcam"],
                streaming=True,
                height=280,
                webcam_options=gr.WebcamOptions(
                    mirror=False,  # the back camera filming cloth: mirroring would flip the motif
                    constraints={"video": {"facingMode": {"ideal": "environment"},
                                           "width": {"ideal": 640}, "height": {"ideal": 480}}},
                ),
            )
        with gr.Column(min_width=280):
            upload = guard_preprocess(gr.Image(
                label="Photo: upload, drag & drop or paste",
                sources=["upload", "clipboard"],
                type="filepath",
                image_mode=None,  # hand the original file to load_image (16-bit, CMYK, alpha, EXIF)
                height=280,
                elem_id="upload",
            ))
    with gr.Row(equal_height=False):
        with gr.Column(min_width=280):
            scores = gr.Label(num_top_classes=3, label="Answer", elem_id="scores")
            timing = gr.Markdown(elem_id="timing")
        with gr.Column(min_width=280):
            card = gr.Markdown(elem_id="card")
    history = gr.State([])
    shown = gr.State(None)  # the picture on screen and its answer, for the feedback buttons
    if curation is not None:
        _feedback_section(curation, shown, curator, demo)
    gr.Markdown(f"<small>{len(predictor.class_names)} classes · backend: {predictor.backend}</small>")

    upload.change(on_upload, inputs=upload, outputs=[scores, card, timing, shown], api_name="predict_upload"
                  ).failure(lambda: None, outputs=shown, api_visibility="private")  # never save the picture before
    camera.stream(
        on_frame,
        inputs=[camera, history],
        outputs=[scores, card, timing, history, shown],
        stream_every=STREAM_EVERY,
        time_limit=STREAM_TIME_LIMIT,
        show_progress="hidden",
        api_name="predict_frame",
    )
    camera.clear(lambda: ({}, "", "", [], None), outputs=[scores, card, timing, history, shown],
                 api_visibility="private")


def _feedback_section(curation: Curation, shown: gr.State, curator: gr.State, demo: gr.Blocks) -> None:
    """"Right" / "Wrong, it is ..." / "Save to catalogue" under the answer."""
    gr.Markdown("**Bantu katalog / Help the catalogue:** was the answer right? Your picture is saved as a "
                "suggestion; a curator checks it before it is used.")
    with gr.Row(equal_height=True, elem_id="feedback"):
        right = gr.Button("Right", elem_id="right", min_width=100)
        motif = gr.Dropdown(choices=motif_choices(curation.catalogue), value=None, allow_custom_value=True,
                            label="It is …", info="pick a motif, or type a new motif's name", elem_id="motif_choice",
                            min_width=200)
        wrong = gr.Button("Wrong, it is this motif", elem_id="wrong", min_width=100)
        save = gr.Button("Save to catalogue", elem_id="save", variant="primary", min_width=100)
    status = gr.Markdown(elem_id="feedback_status")

    def feedback(kind):
        def handler(picture, chosen, who, request: gr.Request):
            return suggest(curation, picture, kind, chosen, who, request)
        return handler

    for button, kind in ((right, RIGHT), (wrong, WRONG), (save, SAVE)):
        button.click(feedback(kind), inputs=[shown, motif, curator], outputs=[status, motif], api_visibility="private")

    # Motifs added by other visitors since the app started join the choices when the page opens.
    demo.load(lambda: gr.Dropdown(choices=motif_choices(curation.catalogue)), outputs=motif, api_visibility="private")


def _catalogue_section(catalogue: Catalogue, tab: gr.Tab) -> None:
    """Each motif's card and confirmed photos, read when the tab is opened (for teaching and museums)."""
    gr.Markdown("Motif Sasirangan dengan arti dan foto yang sudah dikonfirmasi kurator.  \n"
                "Sasirangan motifs with their meanings and the photos curators confirmed.")
    motif = gr.Dropdown(label="Motif (confirmed photos)", choices=[], value=None, elem_id="browse_motif")
    with gr.Row(equal_height=False):
        with gr.Column(min_width=280):
            card = gr.Markdown(elem_id="motif_card")
        with gr.Column(min_width=280, scale=2):
            gallery = gr.Gallery(label="Confirmed photos", columns=4, fit_columns=False, object_fit="cover",
                                 preview=False, height="auto", elem_id="motif_gallery")

    def on_browse(slug):
        return browse_catalogue(catalogue, slug)

    tab.select(on_browse, inputs=motif, outputs=[motif, card, gallery], api_visibility="private")
    motif.input(on_browse, inputs=motif, outputs=[motif, card, gallery], api_visibility="private")


def _curator_section(predictor, curation: Curation, curator: gr.State) -> None:
    """Sign-in, then the suggestions to review and the motif texts to edit (CURATING_OFF without a password)."""
    if not curation.curating:
        gr.Markdown(CURATING_OFF, elem_id="curator_status")
        return
    with gr.Column(elem_id="sign_in") as sign_in_box:
        name = gr.Textbox(label="Your name", info="recorded with your decisions", elem_id="curator_name")
        password = gr.Textbox(label="Curator password", type="password", elem_id="curator_password")
        sign_in_button = gr.Button("Sign in", variant="primary", elem_id="sign_in_button")
    status = gr.Markdown(elem_id="curator_status")
    with gr.Column(visible=False, elem_id="curating") as panel:
        gr.Markdown("### Suggestions to review")
        queue = gr.Dropdown(label="Suggestion", choices=[], value=None, elem_id="queue")
        with gr.Row(equal_height=False):
            photo = gr.Image(label="Photo", type="pil", interactive=False, height=320, elem_id="review_photo")
            details = gr.Markdown(elem_id="review_details")
        with gr.Row():
            confirm = gr.Button("Confirm", variant="primary", elem_id="confirm")
            reject = gr.Button("Reject", elem_id="reject")
            delete = gr.Button("Delete", variant="stop", elem_id="delete")
        with gr.Row(equal_height=True):
            relabel_to = gr.Dropdown(label="Relabel to", choices=[], value=None, allow_custom_value=True,
                                     info="an existing motif, or type a new motif's name", elem_id="relabel_to")
            relabel = gr.Button("Relabel", elem_id="relabel")
        gr.Markdown("### Motif texts")
        motif = gr.Dropdown(label="Motif", choices=[], value=None, elem_id="edit_motif")
        motif_name = gr.Textbox(label="Name")
        with gr.Row():
            literal_id = gr.Textbox(label="Arti nama (Bahasa Indonesia)")
            literal_en = gr.Textbox(label="Name means (English)")
        with gr.Row():
            meaning_id = gr.Textbox(label="Makna (Bahasa Indonesia)", lines=3)
            meaning_en = gr.Textbox(label="Meaning (English)", lines=3)
        sources = gr.Textbox(label="Sources: one https:// address a line", lines=3)
        save_texts = gr.Button("Save motif texts", elem_id="save_motif")
        sign_out_button = gr.Button("Sign out", size="sm", elem_id="sign_out")

    review_outputs = [queue, photo, details, relabel_to]
    form_outputs = [motif, motif_name, literal_id, literal_en, meaning_id, meaning_en, sources]
    private = {"api_visibility": "private"}  # the page's own controls, not an API

    def on_sign_in(who, given, request: gr.Request):
        return sign_in(curation, who, given, request)

    def on_queue(state, selected):
        return review_queue(curation, state, selected)

    def on_form(state, slug):
        return motif_form(curation, state, slug)

    def on_save(state, slug, *texts):
        return save_motif(curation, state, slug, *texts)

    def action(kind):
        def handler(state, capture_id, new_motif):
            return curate(predictor, curation, state, capture_id, kind, new_motif)
        return handler

    for trigger in (sign_in_button.click, password.submit):
        (trigger(on_sign_in, [name, password], [curator, status, password, sign_in_box, panel], **private)
         .success(on_queue, [curator, queue], review_outputs, **private)
         .success(on_form, [curator, motif], form_outputs, **private))
    queue.input(on_queue, [curator, queue], review_outputs, **private)
    for button, kind in ((confirm, "confirm"), (reject, "reject"), (relabel, "relabel"), (delete, "delete")):
        button.click(action(kind), [curator, queue, relabel_to], [status, *review_outputs], **private)
    motif.input(on_form, [curator, motif], form_outputs, **private)
    save_texts.click(on_save, [curator, *form_outputs], [status, motif], **private)
    sign_out_button.click(sign_out, outputs=[curator, status, sign_in_box, panel], **private)
