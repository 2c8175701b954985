"""Exports for phones and other runtimes (sasirangan.export) on a toy model folder."""

import json
import re
import shutil

import numpy as np
import pytest
from conftest import make_tree

from sasirangan.card import CARD_FILE, CLASS_NAMES_FILE, MODEL_FILE, ModelCard
from sasirangan.export import (EXPORT_FORMATS, LITERT_FLOAT_FILE, LITERT_INT8_FILE, ONNX_FILE, SAVED_MODEL_DIR,
                               SPEC_FILE, ExportError, export_model, prepared_picture)

CLASSES = ["bands", "checks", "stripes"]
FILE_OF = {"litert": LITERT_FLOAT_FILE, "onnx": ONNX_FILE, "saved_model": SAVED_MODEL_DIR}


@pytest.fixture(scope="module")
def toy_model_dir(tmp_path_factory):
    """An untrained 32-px model folder whose answers differ from picture to picture, with a split.

    A randomly initialised MobileNetV2 shrinks its activations to ~1e-13 (every picture would
    get the same uniform answer, and any export would "agree"), so its BatchNorm variances are
    scaled down and the head's standardisation adapted, as training would.
    """
    import keras

    from sasirangan.data import Sample
    from sasirangan.model import build_model, feature_model, save_model_folder

    root = tmp_path_factory.mktemp("export")
    data = make_tree(root / "data", CLASSES, per_class=6, size=40)
    folder = root / "model"
    samples = [Sample(str(p), p.parent.name) for p in sorted(data.rglob("*.png"))]
    split = {"train": samples[::2], "test": samples[1::2]}

    keras.utils.set_random_seed(0)
    model = build_model(len(CLASSES), image_size=32, weights=None)
    for layer in model.get_layer("backbone").layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta, mean, 0.05 * variance])
    pictures = np.stack([prepared_picture(s, 32) for s in split["train"]])
    model.get_layer("standardise").adapt(feature_model(model).predict(pictures, verbose=0))
    card = ModelCard(classes=CLASSES, input_size=32,
                     split={name: [s.to_json(folder) for s in part] for name, part in split.items()})
    save_model_folder(model, CLASSES, card, folder)
    probabilities = model.predict(pictures, verbose=0)
    assert probabilities.std(axis=0).max() > 0.01, "the toy model must answer pictures differently"
    return folder


def _card(folder) -> ModelCard:
    return ModelCard.load(folder, CLASSES, 32)


def _copy(folder, name):
    """The model folder's own files (no exports) in a folder beside it, so the card's
    relative picture paths still resolve."""
    copy = folder.parent / name
    copy.mkdir()
    for file in (MODEL_FILE, CLASS_NAMES_FILE, CARD_FILE):
        shutil.copy(folder / file, copy / file)
    return copy


def _spec(folder) -> dict:
    return json.loads((folder / SPEC_FILE).read_text())


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_float_export_agrees_with_keras(toy_model_dir, fmt):
    result = export_model(toy_model_dir, fmt)

    assert result.path == toy_model_dir / FILE_OF[fmt] and result.path.exists()
    assert result.format == fmt and not result.int8
    assert result.images_checked == 9  # the test split
    assert result.max_probability_difference < 1e-4
    assert result.top1_agreement == 1.0
    assert result.ms_per_image_p50 > 0

    record = _card(toy_model_dir).extra["exports"][FILE_OF[fmt]]
    assert record["max_probability_difference"] == result.max_probability_difference
    assert record["top1_agreement"] == 1.0 and record["checked_on"] == "test split"

    entry = _spec(toy_model_dir)["exports"][FILE_OF[fmt]]
    card = _card(toy_model_dir)
    assert entry["class_names"] == card.classes and entry["input_size"] == card.input_size == 32
    assert entry["input"]["dtype"] == "float32" and entry["input"]["range"] == [0.0, 1.0]
    assert entry["input"]["shape"][1:] == [32, 32, 3] and entry["input"]["channel_order"] == "RGB"
    assert entry["output"]["shape"][-1] == len(CLASSES)
    assert entry["check"]["top1_agreement"] == 1.0
    assert entry["check"]["max_probability_difference"] == result.max_probability_difference


def test_int8_litert_takes_bytes_and_is_smaller(toy_model_dir):
    float_file = toy_model_dir / LITERT_FLOAT_FILE
    if not float_file.is_file():
        export_model(toy_model_dir, "litert")

    result = export_model(toy_model_dir, "litert", int8=True)

    assert result.path == toy_model_dir / LITERT_INT8_FILE and result.int8
    assert result.path.stat().st_size < float_file.stat().st_size
    assert 0.0 <= result.top1_agreement <= 1.0 and result.images_checked == 9
    entry = _spec(toy_model_dir)["exports"][LITERT_INT8_FILE]
    assert entry["input"]["dtype"] == "uint8" and entry["input"]["range"] == [0, 255]
    assert entry["input"]["quantization"] == {"scale": pytest.approx(1 / 255), "zero_point": 0}
    assert entry["output"]["dtype"] == "float32"
    assert entry["check"]["top1_agreement"] == result.top1_agreement
    assert _card(toy_model_dir).extra["exports"][LITERT_INT8_FILE]["int8"] is True
    assert LITERT_FLOAT_FILE in _spec(toy_model_dir)["exports"]  # earlier entries are kept


def test_export_to_another_folder_without_test_split(toy_model_dir, tmp_path):
    folder = _copy(toy_model_dir, "model_no_test")
    card = _card(folder)
    card.split = {"train": card.split["train"]}
    card.save(folder)

    result = export_model(folder, "litert", out_dir=tmp_path / "phone")

    assert result.path == tmp_path / "phone" / LITERT_FLOAT_FILE
    assert result.images_checked == 9 and result.top1_agreement == 1.0  # up to 20 training pictures
    assert "training pictures" in _card(folder).extra["exports"][LITERT_FLOAT_FILE]["checked_on"]
    assert (tmp_path / "phone" / SPEC_FILE).is_file()


@pytest.mark.parametrize("fmt, int8, message", [
    ("coreml", False, "Unknown export format; use one of litert, onnx, saved_model. Received: fmt='coreml'."),
    ("onnx", True, "only available for the LiteRT export; use fmt='litert' with int8, or export 'onnx' without int8. "
                   "Received: fmt='onnx', int8=True."),
    ("saved_model", True, "only available for the LiteRT export"),
])
def test_bad_requests_say_what_to_do(tmp_path, fmt, int8, message):
    with pytest.raises(ExportError, match=re.escape(message)):
        export_model(tmp_path, fmt, int8=int8)


def test_int8_needs_training_pictures(toy_model_dir):
    folder = _copy(toy_model_dir, "model_no_train")
    card = _card(folder)
    card.split = {"test": card.split["test"]}
    card.save(folder)

    with pytest.raises(ExportError, match="int8 quantisation needs the training pictures"):
        export_model(folder, "litert", int8=True)
    assert not (folder / LITERT_INT8_FILE).exists()


def test_missing_pictures_fail_before_writing(toy_model_dir):
    folder = _copy(toy_model_dir, "model_moved_data")
    card = _card(folder)
    card.split["test"][0][0] = "../data/gone.png"
    card.save(folder)

    with pytest.raises(ExportError, match="1 of the pictures the model card lists are missing"):
        export_model(folder, "onnx")
    assert not (folder / ONNX_FILE).exists() and not (folder / SPEC_FILE).exists()
