import json

import numpy as np
import pytest

from sasirangan.card import CARD_FILE, CARD_FORMAT, ModelCard
from sasirangan.model import build_model, head_backbone_layers, load_model_folder, save_model_folder, serving_model
from sasirangan.views import WHOLE
from sasirangan.predict import Predictor


def _trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_build_model_parameter_count_matches_recipe():
    model = build_model(5, image_size=224, weights=None, features="top")
    model.get_layer("backbone").trainable = False
    # MobileNetV2 without top (2,257,984) + standardise (1280 means, 1280 variances, a count) + logits (1280 x 5 + 5)
    assert model.count_params() == 2_266_950
    assert _trainable_count(model) == 6_405
    assert [layer.name for layer in model.layers[-5:]] == ["pooler", "standardise", "dropout_pooled", "logits", "predictions"]


def test_build_model_middle_features_read_the_embedding_layer_and_keep_the_last_for_the_scene():
    model = build_model(5, image_size=224, weights=None)  # features="middle", the default
    backbone = model.get_layer("backbone")
    backbone.trainable = False
    assert [tuple(output.shape) for output in backbone.outputs] == [(None, 14, 14, 576), (None, 7, 7, 1280)]
    assert head_backbone_layers(backbone)[-1].name == "block_13_expand_relu"
    fresh = build_model(5, image_size=32, weights=None).get_layer("backbone")  # trainable, as keras builds it
    trainable = {layer.name for layer in fresh.layers if layer.trainable and layer.weights}
    assert "block_13_expand" in trainable and not trainable & {"block_14_expand", "Conv_1"}
    assert model.get_layer("pooler").output.shape == (None, 576)
    # the whole MobileNetV2 (2,257,984) + standardise (576 x 2 + 1) + logits (576 x 5 + 5)
    assert model.count_params() == 2_257_984 + 1_153 + 2_885
    assert _trainable_count(model) == 2_885
    outputs = serving_model(model)(np.zeros((1, 224, 224, 3), np.float32))
    assert outputs["features"].shape == (1, 576) and outputs["scene"].shape == (1, 1280)


def test_fine_tuning_a_middle_model_unfreezes_only_layers_the_head_reads():
    from sasirangan.config import TrainConfig
    from sasirangan.train import unfreeze

    backbone = build_model(3, image_size=32, weights=None).get_layer("backbone")
    unfreeze(backbone, TrainConfig(fine_tune_layers=10))
    trained = [layer.name for layer in backbone.layers if layer.trainable and layer.weights]
    assert trained and "block_13_expand" in trained
    assert not any(name.startswith(("block_14", "block_15", "block_16", "Conv_1")) for name in trained)


def test_build_model_rejects_unknown_features():
    with pytest.raises(ValueError, match="features must be one of middle, top"):
        build_model(3, image_size=32, weights=None, features="bottom")


def test_build_model_hidden_layer_is_optional():
    model = build_model(5, image_size=32, weights=None, dense_units=16)
    model.get_layer("backbone").trainable = False
    assert _trainable_count(model) == 576 * 16 + 16 + 16 * 5 + 5
    assert [layer.name for layer in model.layers[-4:]] == ["hidden", "dropout_hidden", "logits", "predictions"]


@pytest.mark.parametrize("weights,error,match", [
    ("missing.h5", FileNotFoundError, "weights must be one of imagenet, none"),
])
def test_build_model_rejects_bad_weights(weights, error, match):
    with pytest.raises(error, match=match):
        build_model(3, image_size=32, weights=weights)


@pytest.mark.parametrize("kwargs,match", [({"num_classes": 1}, "at least 2 classes"), ({"num_classes": 3, "image_size": 16}, "at least 32 px")])
def test_build_model_rejects_bad_shapes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model(weights=None, **kwargs)


@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory):
    model = build_model(3, image_size=32, weights=None)
    folder = tmp_path_factory.mktemp("saved") / "model"
    save_model_folder(model, ["a", "b", "unknown"], ModelCard(classes=["a", "b", "unknown"], input_size=32), folder)
    return model, folder


def test_save_load_round_trip_gives_identical_predictions(saved_folder):
    model, folder = saved_folder
    batch = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    loaded, class_names, card = load_model_folder(folder)
    np.testing.assert_allclose(loaded.predict(batch, verbose=0), model.predict(batch, verbose=0), atol=1e-6)
    assert class_names == ["a", "b", "unknown"] and card.input_size == 32
    assert sorted(p.name for p in folder.iterdir()) == ["class_names.json", "model.keras", "model.tflite", "model_card.json"]


@pytest.mark.parametrize("backend", ["litert", "tf"])
def test_predictor_fast_path_matches_keras(saved_folder, backend):
    model, folder = saved_folder
    predictor = Predictor(folder, backend=backend)
    assert predictor.backend == backend
    image = np.random.default_rng(1).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    from sasirangan.data import prepare_image

    expected = model.predict(prepare_image(image, 32)[None], verbose=0)[0]
    got = predictor.outputs(image)["probabilities"]
    np.testing.assert_allclose(got, expected, atol=1e-3)
    assert got.sum() == pytest.approx(1.0, abs=1e-5)


def test_predictor_rebuilds_a_stale_export(saved_folder, tmp_path):
    import shutil

    model, folder = saved_folder
    copy = shutil.copytree(folder, tmp_path / "copy")
    other = build_model(3, image_size=32, weights=None)
    other.save(copy / "model.keras")  # new weights, old model.tflite
    predictor = Predictor(copy, backend="litert")
    image = np.random.default_rng(2).random((32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(predictor.raw_outputs(image)["probabilities"], other(image[None]).numpy()[0], atol=1e-3)


def test_load_rejects_class_list_that_does_not_match(saved_folder, tmp_path):
    import shutil

    _, folder = saved_folder
    copy = shutil.copytree(folder, tmp_path / "copy")
    (copy / "class_names.json").write_text(json.dumps(["a", "b"]))
    with pytest.raises(ValueError, match="lists 2 classes but the model has 3 outputs"):
        load_model_folder(copy)
    (copy / "class_names.json").unlink()
    with pytest.raises(FileNotFoundError, match="class_names.json is missing"):
        load_model_folder(copy)


def test_saved_model_carries_no_optimizer_state(tmp_path):
    import zipfile

    import h5py

    model = build_model(3, image_size=32, weights=None)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((2, 32, 32, 3), np.float32), np.array([0, 1]), verbose=0)
    save_model_folder(model, ["a", "b", "c"], ModelCard(classes=["a", "b", "c"], input_size=32), tmp_path / "m")
    with zipfile.ZipFile(tmp_path / "m" / "model.keras") as archive:
        archive.extract("model.weights.h5", tmp_path)
    with h5py.File(tmp_path / "model.weights.h5") as weights:
        assert "optimizer" not in weights


def test_model_card_round_trip_keeps_unknown_keys(tmp_path):
    card = ModelCard(classes=["a", "b"], input_size=32, views={"grid": 3, "zoom": 2.0}, extra={"from_the_future": 1})
    card.save(tmp_path)
    loaded = ModelCard.load(tmp_path, ["a", "b"], 32)
    assert loaded == card and loaded.view_spec.count == 10 and loaded.temperature == 1.0


def test_model_card_from_a_newer_version_is_refused(tmp_path):
    (tmp_path / CARD_FILE).write_text(json.dumps({"format": CARD_FORMAT + 1, "classes": ["a", "b"]}))
    with pytest.raises(ValueError, match="newer than this sasirangan reads"):
        ModelCard.load(tmp_path, ["a", "b"], 32)


def test_older_card_without_views_answers_on_the_whole_picture(tmp_path):
    (tmp_path / CARD_FILE).write_text(json.dumps({"format": 1, "classes": ["a", "b"], "input_size": 224}))
    assert ModelCard.load(tmp_path, ["a", "b"], 224).view_spec == WHOLE
