"""The Gradio app: name the Sasirangan motif in a live camera view or an uploaded photo.

The app is a shell around `Predictor` (STYLE.md 3 and 10): the handlers below are plain
functions that take the predictor as their first argument, so tests call them directly,
and `build_app` only lays out components and wires events to them. The live path per
frame is one whole-picture view (`views.WHOLE`: the close-ups that uploads are averaged over
do not fit a frame's budget) + the LiteRT model + averaging the last few frames' outputs;
it never calls `model.predict`.

Example:
    >>> from sasirangan.app import build_app                      # doctest: +SKIP
    >>> build_app("models/sasirangan_default").launch(show_error=True)  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import logging
import time
from functools import lru_cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import gradio as gr
import numpy as np

from .config import UNKNOWN_CLASS
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
                  "too_blurry": "Too blurry to tell", "too_small": "Cloth too small in the picture"}
UNREADABLE = "That file is not a picture the app can read"

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- motif texts


@lru_cache(maxsize=1)
def load_motifs() -> dict:
    """The motif texts shipped as package data (sasirangan/motifs.json)."""
    text = resources.files("sasirangan").joinpath("motifs.json").read_text(encoding="utf-8")
    return json.loads(text)


def motif_info(slug: str) -> dict:
    """Name, literal meaning and symbolism of one class; a class with no entry still gets a name."""
    entry = load_motifs().get("motifs", {}).get(slug, {})
    return {
        "name": entry.get("name") or slug.replace("_", " ").title(),
        "literal": entry.get("literal") or NO_DESCRIPTION,
        "meaning": entry.get("meaning") or NO_DESCRIPTION,
        "sources": entry.get("sources", []),
    }


def display_name(slug: str) -> str:
    return motif_info(slug)["name"]


# --------------------------------------------------------------------------- answer rendering


def answer_title(prediction) -> str:
    """The answer in a few words: the motif's name, or what kind of answer it is.

    The label panel, the card and the timing line all lead with it, so they cannot disagree.
    """
    if prediction.problem:
        return PROBLEM_TITLES.get(prediction.problem, "Can't tell from this picture")
    if prediction.verdict == MOTIF:
        return display_name(prediction.label)
    return NOT_A_MOTIF if prediction.verdict == NOT_MOTIF else NOT_SURE


def label_scores(prediction) -> dict[str, float] | str:
    """What the label panel (`gr.Label`) shows: the top motifs with their probabilities when a
    motif is named, else only the kind of answer (closest motifs are in the card)."""
    if prediction.verdict != MOTIF:
        return answer_title(prediction)
    scores = {}
    for slug, probability in prediction.probabilities.items():
        name = display_name(slug)
        scores[name if name not in scores else slug] = float(probability)
    return scores


def _closest_motifs(prediction, exclude=(), among_motifs: bool = False) -> list[tuple[str, float]]:
    """The three most probable motifs (never the unknown class). `among_motifs` gives each its
    share of the motifs' total: when the unknown class holds nearly all the probability, the
    motifs' own would all read 0%."""
    motifs = {slug: p for slug, p in prediction.probabilities.items() if slug not in (UNKNOWN_CLASS, *exclude)}
    total = sum(motifs.values()) if among_motifs else 1.0
    ranked = sorted(motifs.items(), key=lambda item: -item[1])
    return [(display_name(slug), p / total if total > 0 else 0.0) for slug, p in ranked][:3]


def _sentence(text: str | None) -> str:
    text = (text or "").strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def answer_card(prediction) -> str:
    """Markdown for the answer: the motif's name and story; or "not sure which motif" with the
    closest motifs; or "not a motif"; or what is wrong with the picture and what to do."""
    title = answer_title(prediction)
    if prediction.verdict != MOTIF:
        closest = ", ".join(f"{name} ({p:.0%})" for name, p in _closest_motifs(prediction, among_motifs=True))
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
    info = motif_info(prediction.label)
    guesses = [f"{name} ({p:.0%})" for name, p in _closest_motifs(prediction, exclude=(prediction.label,))]
    lines = [
        f"### {title}",
        f"**{prediction.confidence:.0%}** sure" + (f" · next: {', '.join(guesses[:2])}" if guesses else ""),
        "",
        f"**Arti nama:** {info['literal'].get('id', NO_DESCRIPTION['id'])}  ",
        f"**Name means:** {info['literal'].get('en', NO_DESCRIPTION['en'])}",
        "",
        f"**Makna:** {info['meaning'].get('id', NO_DESCRIPTION['id'])}  ",
        f"**Meaning:** {info['meaning'].get('en', NO_DESCRIPTION['en'])}",
    ]
    if info["sources"]:
        links = ", ".join(f"[{urlparse(url).netloc.removeprefix('www.')}]({url})" for url in info["sources"])
        lines += ["", f"Sumber / Sources: {links}"]
    origin = load_motifs().get("origin", {})
    if origin:
        lines += ["", f"**Asal:** {origin.get('id', '')}", "", f"**Origin:** {origin.get('en', '')}"]
    return "\n".join(lines)


def timing_text(seconds: float, frames: int | None = None, prediction=None) -> str:
    text = f"answered in {seconds * 1000:.0f} ms"
    if frames:
        text += f" (averaged over the last {frames} frame{'s' if frames > 1 else ''})"
    return f"**{answer_title(prediction)}** · {text}" if prediction is not None else text[0].upper() + text[1:]


def _outputs(prediction, seconds: float, frames: int | None = None) -> tuple[dict | str, str, str]:
    return label_scores(prediction), answer_card(prediction), timing_text(seconds, frames, prediction)


def _user_message(error: Exception, path=None) -> str:
    """The library's message, with the server-side temp path cut down to the file's name."""
    message = str(error)
    if path:
        message = message.replace(str(path), Path(str(path)).name)
    return html.escape(message)  # gr.Error renders HTML


# --------------------------------------------------------------------------- handlers


def predict_upload(predictor, path) -> tuple[dict, str, str]:
    """Upload/paste handler: the picture at `path` -> (label scores, answer card, timing).

    Raises:
        gr.Error: the file is not a usable picture (plain message, shown in the page).
    """
    if path is None:  # the upload was cleared
        return {}, "", ""
    try:
        prediction = predictor.predict(path)
    except ValueError as error:  # ImageError is a ValueError
        raise gr.Error(_user_message(error, path), print_exception=False) from None
    except Exception as error:  # keep the page usable whatever happens; the log has the details
        log.exception("prediction failed for %s", path)
        raise gr.Error(f"Could not analyse this picture ({type(error).__name__}). Try another photo.") from None
    return _outputs(prediction, prediction.seconds)


def predict_frame(predictor, frame, history) -> tuple[dict, str, str, list]:
    """Live handler: one webcam frame -> (label scores, card, timing, new history).

    `history` holds the model outputs (probabilities, logits, features...) of the last
    `SMOOTHING_FRAMES` frames of this session (a `gr.State`). The answer is decided on
    their mean, so it does not flicker, and the open-set check sees the averaged features.
    """
    if frame is None:  # the camera stopped: start afresh next time
        return {}, "", "", []
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
    return (*_outputs(prediction, time.perf_counter() - started, len(history)), history)


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


def build_app(model_dir_or_predictor) -> gr.Blocks:
    """The page: live camera and photo upload side by side (stacked on a phone), answer below.

    Args:
        model_dir_or_predictor: a model folder (str or Path) or a loaded `Predictor`.

    Returns:
        gr.Blocks; call `.launch(show_error=True)` on it.

    Raises:
        FileNotFoundError, ValueError: the model folder is missing or broken.
    """
    predictor = model_dir_or_predictor
    if isinstance(model_dir_or_predictor, (str, Path)):
        predictor = Predictor(model_dir_or_predictor)

    def on_upload(path):
        return predict_upload(predictor, path)

    def on_frame(frame, history):
        return predict_frame(predictor, frame, history)

    with gr.Blocks(title="Sasirangan motif finder") as demo:
        gr.Markdown(INTRO)
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
        gr.Markdown(f"<small>{len(predictor.class_names)} classes · backend: {predictor.backend}</small>")

        history = gr.State([])
        upload.change(on_upload, inputs=upload, outputs=[scores, card, timing], api_name="predict_upload")
        camera.stream(
            on_frame,
            inputs=[camera, history],
            outputs=[scores, card, timing, history],
            stream_every=STREAM_EVERY,
            time_limit=STREAM_TIME_LIMIT,
            show_progress="hidden",
            api_name="predict_frame",
        )
        camera.clear(lambda: ({}, "", "", []), outputs=[scores, card, timing, history], api_visibility="private")
    return demo
