"""The Gradio app: name the Sasirangan motif in a live camera view or an uploaded photo.

The app is a shell around `Predictor` (STYLE.md 3 and 10): the handlers below are plain
functions that take the predictor as their first argument, so tests call them directly,
and `build_app` only lays out components and wires events to them. The live path per
frame is one whole-picture view (`views.WHOLE`: the close-ups that uploads are averaged over
do not fit a frame's budget) + the LiteRT model + averaging the last few frames' outputs;
it never calls `model.predict`.

With a motif catalogue (`sasirangan.catalogue`), the page grows three things: feedback buttons
under each answer that store the picture as a *suggested* capture, a Catalogue tab with each
motif's card and confirmed photos, and a Curator tab behind a password. Their handlers and
layout live in `sasirangan.app_catalogue`; this module keeps the page and the recognising. The
motif texts and answer rendering below also serve the catalogue's cards, so `app_catalogue`
imports them and `build_app` imports `app_catalogue` (not the other way round at the top).

Example:
    >>> from sasirangan.app import build_app                      # doctest: +SKIP
    >>> build_app("models/sasirangan_default").launch(show_error=True)  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
import weakref
from functools import lru_cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import gradio as gr
import numpy as np

from .calibrate import NotFittedError
from .catalogue import Catalogue
from .data import load_image
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
                  "too_blurry": "Too blurry to tell", "too_small": "Cloth too small in the picture",
                  "no_pattern": "No pattern in view"}
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
    """`Prediction.closest_motifs` by the names people read."""
    return [(display_name(slug, catalogue), p) for slug, p in
            prediction.closest_motifs(exclude=exclude, among_motifs=among_motifs)]


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


def explain_answer(predictor, shown) -> tuple[np.ndarray, str]:
    """'Why?' button: the picture on screen with a Grad-CAM heatmap of where the model looked
    for its top answer. On request only: a backward pass costs far more than a frame.

    Raises:
        gr.Error: nothing is on screen yet, or the picture cannot be explained.
    """
    from .explain import explain

    if shown is None:
        raise gr.Error("Show the camera a cloth or upload a photo first; then ask why.", print_exception=False)
    try:
        found = explain(predictor, shown["picture"])
    except ValueError as error:
        raise gr.Error(_user_message(error), print_exception=False) from None
    except Exception as error:
        log.exception("explaining failed")
        raise gr.Error(f"Could not make the heatmap ({type(error).__name__}).") from None
    return found.overlay, (f"Red is where the model found the most evidence for **{display_name(found.class_name)}** "
                           f"({found.probability:.0%}). On the motif's pattern: it looked at the cloth; on the "
                           "background, a hand or an edge: do not trust this answer.")


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
    # Imported here, not at the top: app_catalogue imports this module's motif texts and rendering.
    from .app_catalogue import Curation, catalogue_section, curator_section, feedback_section

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
            _recognise_section(predictor)
        else:
            curator = gr.State(None)  # this session's signed-in curator ({"name": ...}), kept on the server
            with gr.Tabs():
                with gr.Tab("Recognise", id="recognise"):
                    _recognise_section(predictor, curation.catalogue,
                                       below_answer=lambda shown: feedback_section(curation, shown, curator, demo))
                with gr.Tab("Catalogue", id="catalogue") as catalogue_tab:
                    catalogue_section(curation.catalogue, catalogue_tab)
                with gr.Tab("Curator", id="curator"):
                    curator_section(predictor, curation, curator)
    return demo


def _recognise_section(predictor, catalogue: Catalogue | None = None, below_answer=None) -> None:
    """Camera, upload and answer; `below_answer(shown)` lays out more under the answer (with a
    catalogue: the feedback buttons, given the `gr.State` of the answer on screen)."""

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
    with gr.Accordion("Why did it say that?", open=False):
        why = gr.Button("Show where the model looked", elem_id="why_button")
        heat = gr.Image(label="Where the model looked (Grad-CAM)", interactive=False, height=280, elem_id="why")
        heat_text = gr.Markdown()
    why.click(lambda current: explain_answer(predictor, current), inputs=shown, outputs=[heat, heat_text],
              api_name="explain")
    if below_answer is not None:
        below_answer(shown)
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
