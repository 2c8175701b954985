"""The app's recognising handlers on a toy model: answers, motif texts, smoothing, bad uploads, and
the page (the catalogue's handlers: test_app_catalogue.py)."""

import json
import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio.data_classes import ImageData
from PIL import Image

from conftest import ROOT, pattern_image
from sasirangan import app
from sasirangan.predict import Prediction, Predictor
from sasirangan.views import WHOLE

MOTIF_SLUGS = [
    "gigi_haruan", "kembang_kacang", "bayam_raja", "bintang_bahambur", "daun_jaruju", "gelombang",
    "kambang_sasaki", "kambang_tampuk_manggis", "kangkung_kaombakan", "kulat_karikit", "naga_balimbur",
    "ombak_sinapur_karang", "ramak_sahang", "sari_gading", "turun_dayang", "ular_lidi", "unknown",
]


@pytest.fixture(scope="module")
def demo(predictor):
    return app.build_app(predictor)


@pytest.fixture(scope="module")
def upload_component(demo):
    """The upload gr.Image of the built page, with its guarded preprocess."""
    (component,) = [b for b in demo.blocks.values() if isinstance(b, gr.Image) and b.elem_id == "upload"]
    return component


def _png(tmp_path, name="photo.png", kind="stripes"):
    path = tmp_path / name
    pattern_image(kind, 7, 64).save(path)
    return path


def _through_gradio(component, path):
    """What the app does with an upload: gr.Image's preprocess, then the handler."""
    payload = ImageData(path=str(path), orig_name=Path(path).name)
    return component.preprocess(payload)


# --------------------------------------------------------------------------- answers


def _headlines(scores, card: str, timing: str) -> tuple[str, str, str]:
    """What the label panel, the card and the timing line each present as the answer."""
    panel = scores if isinstance(scores, str) else max(scores, key=scores.get)
    return panel, card.split("\n", 1)[0].removeprefix("### "), timing.split("**")[1]


def test_predict_upload_panel_card_and_timing_agree(predictor, tmp_path):
    scores, card, timing, _ = app.predict_upload(predictor, str(_png(tmp_path)))
    expected = predictor.predict(str(_png(tmp_path)))
    assert _headlines(scores, card, timing) == (app.answer_title(expected),) * 3
    assert timing.endswith("ms")


def test_predict_upload_cleared_gives_empty_outputs(predictor):
    assert app.predict_upload(predictor, None) == ({}, "", "", None)


PROBABILITIES = {"gigi_haruan": 0.45, "gelombang": 0.25, "bayam_raja": 0.2, "unknown": 0.1}


def _answer(verdict, problem=None):
    named = verdict == "motif"
    return Prediction(label="gigi_haruan" if named else "unknown", confidence=0.45,
                      top=list(PROBABILITIES.items())[:3], probabilities=dict(PROBABILITIES),
                      reason=None if named else "a reason in words", verdict=verdict,
                      problem=problem, advice="Turn on a light" if problem else None)


@pytest.mark.parametrize("verdict, problem, title", [
    ("motif", None, "Gigi Haruan"),
    ("uncertain", None, app.NOT_SURE),
    ("not_motif", None, app.NOT_A_MOTIF),
    ("uncertain", "too_dark", "Too dark to tell"),
])
def test_panel_card_and_timing_lead_with_the_same_answer(verdict, problem, title):
    scores, card, timing = app._outputs(_answer(verdict, problem), 0.007, 5)
    assert _headlines(scores, card, timing) == (title, title, title)
    assert timing.endswith("answered in 7 ms (averaged over the last 5 frames)")


@pytest.mark.parametrize("verdict", ["uncertain", "not_motif"])
def test_panel_names_no_motif_unless_one_is_confident(verdict):
    assert isinstance(app.label_scores(_answer(verdict)), str)
    assert app.label_scores(_answer("motif"))["Gigi Haruan"] == pytest.approx(0.45)


def test_not_sure_card_shows_closest_motifs_with_probabilities_and_why():
    card = app.answer_card(_answer("uncertain"))
    assert card.startswith(f"### {app.NOT_SURE}") and "belum pasti" in card
    assert "Gigi Haruan (50%), Gelombang (28%), Bayam Raja (22%)" in card  # shares among the motifs, never "unknown"
    assert "a reason in words" in card


def test_not_a_motif_card_says_so_without_guesses():
    card = app.answer_card(_answer("not_motif"))
    assert card.startswith(f"### {app.NOT_A_MOTIF}") and "a reason in words" in card
    assert "Gigi Haruan" not in card


def test_picture_problem_card_says_what_to_do():
    card = app.answer_card(_answer("uncertain", "too_dark"))
    assert card.startswith("### Too dark to tell") and "**What to do:** Turn on a light" in card


def test_answer_card_known_motif_has_meaning():
    prediction = Prediction(label="kambang_tampuk_manggis", confidence=0.9, top=[("kambang_tampuk_manggis", 0.9)],
                            probabilities={"kambang_tampuk_manggis": 0.9, "unknown": 0.1})
    card = app.answer_card(prediction)
    assert card.startswith("### Kambang Tampuk Manggis")
    assert "honesty" in card and "kejujuran" in card
    assert "Sources: [text-id.123dok.com](https://text-id.123dok.com/" in card  # where the meaning comes from
    assert "Banjar" in card  # the origin note


# --------------------------------------------------------------------------- motif texts


def test_motif_info_falls_back_for_class_without_entry():
    info = app.motif_info("stripes_and_dots")
    assert info["name"] == "Stripes And Dots"
    assert info["meaning"] == app.NO_DESCRIPTION


@pytest.mark.parametrize("slug", MOTIF_SLUGS)
def test_motifs_json_entry_is_complete(slug):
    entry = app.load_motifs()["motifs"][slug]
    assert entry["name"]
    for field in ("literal", "meaning"):
        assert entry[field]["id"].strip() and entry[field]["en"].strip()
    described = entry["meaning"]["en"] != app.NO_DESCRIPTION["en"] and slug != "unknown"  # "unknown" is ours
    assert described == bool(entry.get("sources")), "a meaning needs its sources, and sources a meaning"
    assert all(url.startswith("https://") for url in entry.get("sources", []))


def test_motifs_json_has_bilingual_origin():
    origin = app.load_motifs()["origin"]
    assert "Banjar" in origin["id"] and "Banjar" in origin["en"]


def test_motifs_json_covers_bundled_model_classes():
    class_file = ROOT / "models" / "sasirangan_default" / "class_names.json"
    if not class_file.is_file():
        pytest.skip(f"{class_file} not trained yet")
    missing = set(json.loads(class_file.read_text())) - set(app.load_motifs()["motifs"])
    assert not missing, f"motifs.json lacks {sorted(missing)}"


# --------------------------------------------------------------------------- live frames


class BrightnessPredictor:
    """A stand-in whose answer follows the frame's brightness, so two frames surely differ."""

    class_names = ["dark", "light"]
    image_size = 8
    scorer = None  # no open-set check
    cloth_scorer = None  # no cloth score
    confident = 0.5
    unknown_ceiling = 1.0  # no ceiling on the unknown class (it has none)
    temperature = 1.0
    views = WHOLE
    enrolment = None  # no catalogue
    calibrated = Predictor.calibrated
    decide = Predictor.decide
    _catalogue_match = Predictor._catalogue_match
    _also_near_catalogue = Predictor._also_near_catalogue
    _reason = Predictor._reason
    outputs = Predictor.outputs

    def raw_outputs(self, prepared):
        light = float(prepared.mean())
        return {"probabilities": np.array([1.0 - light, light], np.float32)}


def _textured(mean: float) -> np.ndarray:
    """A sharp, evenly lit frame (it passes the picture-quality checks) of a given brightness."""
    noise = np.random.default_rng(0).normal(0, 30, (48, 64, 1))
    return np.clip(mean + noise + np.zeros((1, 1, 3)), 0, 255).astype(np.uint8)


def test_predict_frame_smooths_alternating_frames():
    fake = BrightnessPredictor()
    frames = [_textured(70), _textured(190)]
    raw, smoothed, history = [], [], []
    for i in range(12):
        frame = frames[i % 2]
        raw.append(float(fake.raw_outputs(frame / 255.0)["probabilities"][1]))
        scores, card, timing, history, _ = app.predict_frame(fake, frame, history)
        smoothed.append(scores["Light"])
    assert np.ptp(smoothed[app.SMOOTHING_FRAMES:]) < 0.5 * np.ptp(raw)
    assert len(history) == app.SMOOTHING_FRAMES
    assert "averaged over the last 5 frames" in timing


def test_predict_frame_with_real_model_answers(predictor):
    frame = np.asarray(pattern_image("checks", 3, 64))
    scores, card, timing, history, _ = app.predict_frame(predictor, frame, [])
    expected = predictor.decide(predictor.outputs(frame, WHOLE), picture=frame)
    assert _headlines(scores, card, timing) == (app.answer_title(expected),) * 3
    assert timing.endswith("(averaged over the last 1 frame)") and len(history) == 1
    assert set(history[0]) >= {"probabilities", "logits"}  # whole outputs, for the open-set check


def test_predict_frame_none_resets_history(predictor):
    assert app.predict_frame(predictor, None, [np.ones(3)]) == ({}, "", "", [], None)


@pytest.mark.parametrize("frame", [
    np.zeros((0, 0, 3), np.uint8),
    np.zeros((8, 8, 2), np.uint8),
], ids=["empty", "two-channel"])
def test_predict_frame_bad_frame_raises_gr_error(predictor, frame):
    with pytest.raises(gr.Error):
        app.predict_frame(predictor, frame, [])


@pytest.mark.parametrize("frame", [
    np.full((1, 1, 3), 128, np.uint8),
    np.full((40, 40, 4), 200, np.uint8),
    np.full((40, 40), 30000, np.uint16),
], ids=["1x1", "rgba", "16-bit-gray"])
def test_predict_frame_odd_frames_still_answer(predictor, frame):
    scores, card, timing, history, _ = app.predict_frame(predictor, frame, [])
    assert scores and card and len(history) == 1


# --------------------------------------------------------------------------- bad uploads


def _text_file(path):
    path.write_text("not a picture at all\n")


def _truncated_jpeg(path):
    buffer = Path(str(path) + ".full.jpg")
    pattern_image("stripes", 1, 64).save(buffer, "JPEG")
    path.write_bytes(buffer.read_bytes()[:300])


def _one_pixel(path):
    Image.new("RGB", (1, 1), (120, 30, 60)).save(path, "PNG")


def _sixteen_bit(path):
    Image.fromarray((np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)).save(path, "PNG")


def _cmyk(path):
    pattern_image("bands", 2, 64).convert("CMYK").save(path, "JPEG")


def _rgba(path):
    image = pattern_image("checks", 3, 64).convert("RGBA")
    image.putalpha(128)
    image.save(path, "PNG")


def _animated_gif(path):
    frames = [pattern_image(kind, 4, 64) for kind in ("stripes", "bands", "checks")]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _bomb(path):
    Image.new("1", (9000, 9000)).save(path, "PNG")  # tiny file, 81 megapixels decoded


BAD_UPLOADS = {
    "text.jpg": _text_file, "truncated.jpg": _truncated_jpeg, "one_pixel.png": _one_pixel,
    "sixteen_bit.png": _sixteen_bit, "cmyk.jpg": _cmyk, "rgba.png": _rgba, "animated.gif": _animated_gif,
    "bomb.png": _bomb,
}


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_odd_upload_gives_answer_or_gr_error_then_app_still_works(predictor, upload_component, tmp_path, name):
    path = tmp_path / name
    BAD_UPLOADS[name](path)
    try:
        scores, card, timing, _ = app.predict_upload(predictor, _through_gradio(upload_component, path))
        assert scores and card
    except gr.Error as error:
        assert "Traceback" not in error.message and str(tmp_path) not in error.message
    scores, card, _, _ = app.predict_upload(predictor, _through_gradio(upload_component, _png(tmp_path, "good.png")))
    assert scores and card


@pytest.mark.parametrize("name,message", [
    ("text.jpg", "That file is not a picture the app can read: .*not an image file"),
    ("bomb.png", "too large"),
])
def test_unreadable_upload_message_is_plain(predictor, upload_component, tmp_path, name, message):
    path = tmp_path / name
    BAD_UPLOADS[name](path)
    with pytest.raises(gr.Error, match=message):
        app.predict_upload(predictor, _through_gradio(upload_component, path))


def test_predict_upload_turns_image_error_into_gr_error(predictor, tmp_path):
    path = tmp_path / "notes.png"
    _text_file(path)
    with pytest.raises(gr.Error, match="notes.png: not an image file"):
        app.predict_upload(predictor, str(path))


# --------------------------------------------------------------------------- the page


def test_build_app_returns_blocks_with_both_inputs(demo, upload_component):
    assert isinstance(demo, gr.Blocks)
    images = [b for b in demo.blocks.values() if isinstance(b, gr.Image) and b.interactive is not False]
    assert {tuple(b.sources) for b in images} == {("webcam",), ("upload", "clipboard")}
    assert upload_component.preprocess.__name__ == "preprocess"  # wrapped in build_app
    assert upload_component.preprocess.__qualname__.startswith("guard_preprocess")
    assert any(isinstance(b, gr.Label) and b.num_top_classes == 3 for b in demo.blocks.values())


def test_build_app_accepts_model_folder(trained_model_dir):
    assert isinstance(app.build_app(str(trained_model_dir)), gr.Blocks)


def test_app_gradio_missing_model_exits_2(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "app_gradio.py"), "--model", str(tmp_path / "none")],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "does not exist" in errors[0]


def test_app_gradio_import_does_not_crash():
    result = subprocess.run([sys.executable, "-c", "import app_gradio; print(type(app_gradio.demo).__name__)"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] in ("Blocks", "NoneType")


def _by_type(demo, kind):
    return [block for block in demo.blocks.values() if isinstance(block, kind)]


def test_build_app_without_catalogue_has_no_tabs_or_feedback(demo):
    buttons = [b.elem_id for b in _by_type(demo, gr.Button)]
    assert not _by_type(demo, gr.Tab) and buttons == ["why_button"] and not _by_type(demo, gr.Gallery)


def test_why_button_shows_a_heatmap_over_the_picture_on_screen(predictor, tmp_path):
    path = _png(tmp_path)
    *_, shown = app.predict_upload(predictor, str(path))
    overlay, text = app.explain_answer(predictor, shown)
    picture = np.asarray(Image.open(path).convert("RGB"))
    assert overlay.shape == picture.shape and overlay.dtype == np.uint8 and not np.array_equal(overlay, picture)
    assert "Red is where the model found the most evidence for" in text
    frame = np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    *_, shown = app.predict_frame(predictor, frame, [])
    assert app.explain_answer(predictor, shown)[0].shape == frame.shape
    with pytest.raises(gr.Error, match="upload a photo first"):
        app.explain_answer(predictor, None)
