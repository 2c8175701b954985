"""Grad-CAM heatmaps: the method on a hand-built model whose answer is known, then on real models."""

import gc

import numpy as np
import pytest
from conftest import pattern_image
from PIL import Image

from sasirangan import explain as ex
from sasirangan.card import ModelCard
from sasirangan.data import ImageError, load_image, prepare_image
from sasirangan.model import build_model, feature_model, save_model_folder
from sasirangan.predict import Predictor


def _halves_model(bias=0.0):
    """A frozen model whose evidence is brightness for class 0 and darkness for class 1.

    Its backbone maps each pixel to [brightness, 1 - brightness] and averages 4x4 blocks
    (an 8x8 feature map of a 32 px input); class 0's logit is mean(brightness) - mean(darkness),
    class 1's the opposite. `bias` shifts the logits by (+bias, -bias): a large one saturates
    the softmax without changing the logits' gradients.
    """
    import keras

    from sasirangan.layers import Normalise

    inner = keras.Input((32, 32, 3))
    conv = keras.layers.Conv2D(2, 1, activation="relu", name="light_dark")
    backbone = keras.Model(inner, keras.layers.AveragePooling2D(4)(conv(inner)), name="backbone")
    inputs = keras.Input((32, 32, 3), name="image")
    x = backbone(Normalise(1.0, 0.0, name="normalise")(inputs), training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pooler")(x)
    dense = keras.layers.Dense(2, name="logits")
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(dense(x)))
    conv.set_weights([np.stack([np.full((1, 1, 3), 1 / 3), np.full((1, 1, 3), -1 / 3)], axis=-1), np.array([0.0, 1.0])])
    dense.set_weights([np.array([[1.0, -1.0], [-1.0, 1.0]]), np.array([bias, -bias])])
    model.trainable = False  # as a served model's backbone is: gradients are still taken
    return model


def _bright_left(side=64):
    picture = np.full((side, side, 3), 20, np.uint8)
    picture[:, : side // 2] = 230
    return picture


@pytest.mark.parametrize("bias", [0.0, 100.0], ids=["plain", "saturated_softmax"])
def test_heat_lies_where_the_evidence_for_the_class_is(bias):
    # Fails if the channel weights' sign is flipped (class 0 would light the dark half), if the
    # channels are not weighted by their gradients (both classes would give one map), or if the
    # probability is differentiated instead of the logit (a saturated softmax has no gradient).
    model = _halves_model(bias)
    bright, index = ex.heatmap(model, _bright_left(), class_index=0)
    assert index == 0 and bright.shape == (8, 8) and bright.dtype == np.float32
    np.testing.assert_allclose(bright[:, :4], 1.0, atol=1e-5)
    np.testing.assert_allclose(bright[:, 4:], 0.0, atol=1e-6)
    dark, index = ex.heatmap(model, _bright_left(), class_index=1)
    assert index == 1
    np.testing.assert_allclose(dark[:, 4:], 1.0, atol=1e-5)
    np.testing.assert_allclose(dark[:, :4], 0.0, atol=1e-6)


def test_no_evidence_anywhere_gives_zero_heat_not_nan():
    grey = np.full((40, 40, 3), 20, np.uint8)  # dark everywhere: nothing speaks for class 0
    heat, _ = ex.heatmap(_halves_model(), grey, class_index=0)
    assert np.isfinite(heat).all() and heat.max() == 0.0


def test_the_gradcam_model_is_built_once_per_model_and_let_go_with_it(monkeypatch):
    model = _halves_model()
    built = []
    original = ex._build_gradcam_model
    monkeypatch.setattr(ex, "_build_gradcam_model", lambda m: built.append(m) or original(m))
    first = ex.gradcam_model(model)
    ex.heatmap(model, _bright_left())
    ex.heatmap(model, _bright_left(), class_index=1)
    assert ex.gradcam_model(model) is first and len(built) == 1
    assert [o.shape[1:] for o in first.outputs] == [(8, 8, 2), (2,)]
    other = _halves_model()
    assert ex.gradcam_model(other) is not first and len(built) == 2
    cached = len(ex._models)
    del model, first, other, built
    gc.collect()
    assert len(ex._models) <= cached - 2


def test_heatmap_rejects_a_wrong_class_or_size_and_a_model_without_a_backbone():
    import keras

    model = _halves_model()
    with pytest.raises(ValueError, match=r"class_index must be in \[0, 2\)"):
        ex.heatmap(model, _bright_left(), class_index=2)
    with pytest.raises(ValueError, match="takes 32x32 pictures"):
        ex.heatmap(model, _bright_left(), image_size=64)
    inputs = keras.Input((32, 32, 3))
    plain = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="no layer named normalise, backbone, pooler, logits"):
        ex.gradcam_model(plain)


# --------------------------------------------------------------------------- a real model

@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """An untrained MobileNetV2 model at 96 px (a 6x6 feature map at stride 16), saved as a model folder.

    Its head's standardisation is adapted on a few pictures' features, as training does: an
    untrained backbone's features are ~1e-11, which would leave every class at exactly 1/3.
    """
    model = build_model(3, image_size=96, weights=None)
    pictures = np.stack([prepare_image(np.asarray(pattern_image(kind, seed, size=64)), 96)
                         for kind in ("stripes", "bands", "checks") for seed in range(3)])
    model.get_layer("standardise").adapt(feature_model(model).predict(pictures, verbose=0))
    folder = tmp_path_factory.mktemp("explain") / "model"
    save_model_folder(model, ["stripes", "checks", "unknown"], ModelCard(classes=["stripes", "checks", "unknown"],
                                                                         input_size=96), folder)
    return folder


@pytest.fixture(scope="module")
def served(model_folder):
    return Predictor(model_folder)


def test_heat_of_a_real_model_has_the_feature_maps_shape_and_defaults_to_the_top_class(served):
    model = served.model
    picture = np.asarray(pattern_image("checks", 3, size=80))
    heat, index = ex.heatmap(model, picture)
    assert heat.shape == tuple(model.get_layer("backbone").outputs[0].shape[1:3]) == (6, 6)  # stride 16: the head reads the embedding layer
    assert heat.dtype == np.float32 and heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
    assert heat.std() > 0.01  # not constant
    expected = model(prepare_image(picture, 96)[None], training=False).numpy()[0]
    assert index == int(np.argmax(expected))
    again, _ = ex.heatmap(model, Image.fromarray(picture), index)  # any picture load_image takes, same answer
    np.testing.assert_allclose(again, heat, atol=1e-6)


def test_heatmap_goes_through_the_spatial_transformer():
    model = build_model(3, image_size=64, weights=None, stn=True)
    heat, _ = ex.heatmap(model, np.asarray(pattern_image("stripes", 1, size=64)))
    assert heat.shape == (4, 4) and 0.0 <= heat.min() and heat.max() <= 1.0


def test_overlay_is_the_picture_tinted_by_the_heat():
    picture = np.asarray(pattern_image("bands", 2, size=50))[:, :40]  # not square: the heat is resized to it
    heat = np.zeros((3, 3), np.float32)
    heat[0, 0] = 1.0
    tinted = ex.overlay(picture, heat)
    assert tinted.shape == picture.shape and tinted.dtype == np.uint8
    assert not np.array_equal(tinted, picture)
    redder = tinted[..., 0].astype(int) - picture[..., 0]  # jet maps 1 to red, 0 to dark blue
    assert redder[:5, :5].mean() > redder[-5:, -5:].mean()
    np.testing.assert_array_equal(ex.overlay(picture, heat, alpha=0.0), picture)
    with pytest.raises(ValueError, match="uint8 RGB"):
        ex.overlay(picture.astype(np.float32), heat)


def test_explain_names_the_top_class_or_the_one_asked_for(served):
    picture = pattern_image("stripes", 5, size=72)
    probabilities = served.probabilities(picture)
    top = ex.explain(served, picture)
    assert top.class_name == served.class_names[int(np.argmax(probabilities))]
    assert top.probability == pytest.approx(float(probabilities.max()))
    assert top.out_path is None and top.overlay.shape == (72, 72, 3) and top.overlay.dtype == np.uint8
    assert top.heat.shape == (6, 6)
    least = served.class_names[int(np.argmin(probabilities))]
    asked = ex.explain(served, picture, class_name=least)
    assert asked.class_name == least != top.class_name
    assert asked.probability == pytest.approx(float(probabilities.min()))
    with pytest.raises(ValueError, match="class_name must be one of stripes, checks, unknown"):
        ex.explain(served, picture, class_name="kawung")


def test_explain_from_a_folder_writes_the_picture_and_overlay_side_by_side(model_folder, tmp_path):
    source = tmp_path / "cloth.png"
    pattern_image("checks", 9, size=60).save(source)
    out = tmp_path / "why" / "cloth_gradcam.png"
    result = ex.explain(model_folder, source, out_path=out)
    assert result.out_path == out and out.is_file()
    with Image.open(out) as written:
        assert written.format == "PNG" and written.mode == "RGB"
        pixels = np.asarray(written)
    assert pixels.shape[0] > 60 and pixels.shape[1] >= 2 * 60
    assert (pixels.std(axis=-1) > 30).any()  # the coloured overlay is in it, not only grey picture and text


def test_the_png_keeps_a_large_picture_to_a_readable_size(tmp_path):
    picture = np.full((1200, 900, 3), 128, np.uint8)
    path = ex.write_png(picture, picture, "looked at for: stripes (91%)", tmp_path / "big.png")
    with Image.open(path) as written:
        width, height = written.size
    assert ex.PANEL_SIDE < height < ex.PANEL_SIDE + 60 and width == 2 * 384 + 8


def test_an_unreadable_picture_is_a_clear_image_error(served, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a picture")
    with pytest.raises(ImageError, match="broken.jpg: not an image file") as caught:
        ex.explain(served, broken, out_path=tmp_path / "never.png")
    assert isinstance(caught.value, ValueError) and not (tmp_path / "never.png").exists()
    with pytest.raises(ImageError, match="upload: not an image file"):
        ex.explain(served, b"\x89PNG but truncated")
    np.testing.assert_array_equal(load_image(np.zeros((4, 4), np.uint8)), np.zeros((4, 4, 3), np.uint8))
