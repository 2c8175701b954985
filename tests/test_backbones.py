"""Every backbone of the table, at toy size with random weights (only MobileNetV2's ImageNet
file is on these machines): one of each family through build, one epoch, save, load, predict
through LiteRT, open-set score, the others built and checked against Keras, and each cut at
its mid-level embedding layer (features="middle", the default);
its input normalisation against Keras's own preprocess_input; an offline download as one error."""

import json
import urllib.error

import keras
import numpy as np
import pytest

from conftest import pattern_image
from sasirangan.backbones import BACKBONES, WeightsUnavailable, get_backbone
from sasirangan.card import ModelCard
from sasirangan.cli import main
from sasirangan.model import build_model, save_model_folder, serving_model
from sasirangan.openset import OpenSetScorer
from sasirangan.predict import Predictor

# keras.applications.<constructor>(include_top=False) parameter counts, as Keras builds them
# (they do not depend on the input size). A row that builds the wrong network fails here.
KERAS_PARAMETERS = {
    "mobilenet_v2": 2_257_984, "mobilenet_v3_small": 939_120, "mobilenet_v3_large": 2_996_352,
    "resnet50": 23_587_712, "efficientnet_b0": 4_049_571, "efficientnet_b1": 6_575_239,
    "efficientnet_b2": 7_768_569, "efficientnet_b3": 10_783_535, "efficientnet_b4": 17_673_823,
    "efficientnet_v2_s": 20_331_360, "vgg19": 20_024_384, "convnext_tiny": 27_820_128,
}
# The keras.applications module whose preprocess_input documents each backbone's input range.
PREPROCESS_MODULE = {
    "mobilenet_v2": "mobilenet_v2", "mobilenet_v3_small": "mobilenet_v3", "mobilenet_v3_large": "mobilenet_v3",
    "resnet50": "resnet50", "vgg19": "vgg19", "convnext_tiny": "convnext", "efficientnet_v2_s": "efficientnet_v2",
    **{f"efficientnet_b{i}": "efficientnet" for i in range(5)},
}
NATIVE_SIZES = {"efficientnet_b1": 240, "efficientnet_b2": 260, "efficientnet_b3": 300, "efficientnet_b4": 380,
                "efficientnet_v2_s": 384}


def test_the_table_holds_the_studies_backbones():
    assert set(BACKBONES) == set(KERAS_PARAMETERS)
    assert {key: row.native_size for key, row in BACKBONES.items() if row.native_size != 224} == NATIVE_SIZES


@pytest.mark.parametrize("key", list(BACKBONES))
def test_normalisation_matches_keras_preprocess_input(key):
    rgb = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    module = getattr(keras.applications, PREPROCESS_MODULE[key])
    expected = module.preprocess_input(rgb * 255.0)  # what Keras feeds the network (some networks rescale inside)
    np.testing.assert_allclose(np.asarray(get_backbone(key).normalise_layer()(rgb)), expected, rtol=1e-5, atol=1e-4)


@pytest.fixture
def fresh_keras():
    """Twelve big networks in one process: let each go before the next (memory on a CI machine)."""
    yield
    keras.backend.clear_session()


# One backbone of each Keras family goes the whole way (train, save, load, LiteRT, open-set score);
# the others share their family's constructor code and embedding layer, and are built and checked
# (parameters, embedding layer) without the conversions that take most of the time.
FAMILY_REPRESENTATIVES = ("mobilenet_v3_small", "resnet50", "efficientnet_b0", "efficientnet_v2_s", "vgg19",
                          "convnext_tiny")


@pytest.mark.parametrize("key", list(BACKBONES))
def test_every_backbone_builds_the_network_keras_builds_and_taps_it_at_its_embedding_layer(key, fresh_keras):
    whole = build_model(3, image_size=32, weights=None, backbone=key, features="top").get_layer("backbone")
    assert whole.count_params() == KERAS_PARAMETERS[key]
    embedding = get_backbone(key).embedding_output(whole)
    assert embedding.shape[1] == 2  # stride 16: a 32-px picture gives a 2x2 map
    model = build_model(3, image_size=32, weights=None, backbone=key)  # features="middle", the default
    tapped = model.get_layer("backbone")
    head_map, last_layer = tapped.outputs  # the head reads the embedding; the cloth score also the last layer
    assert head_map.shape[1:] == embedding.shape[1:] and last_layer.shape[1:] == whole.output.shape[1:]
    assert tapped.count_params() == whole.count_params()
    assert model.get_layer("pooler").output.shape[-1] == embedding.shape[-1]
    if key not in FAMILY_REPRESENTATIVES:  # those go the whole way below
        probabilities = model.predict(np.zeros((1, 32, 32, 3), "float32"), verbose=0)
        np.testing.assert_allclose(probabilities.sum(), 1.0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("key", FAMILY_REPRESENTATIVES)
def test_a_backbone_of_each_family_trains_saves_and_serves(key, tmp_path, fresh_keras):
    classes = ["stripes", "checks", "unknown"]
    model = build_model(len(classes), image_size=32, weights=None, backbone=key)
    pictures = np.stack([np.asarray(pattern_image(name, seed).resize((32, 32)), dtype="float32") / 255
                         for seed in range(4) for name in ("stripes", "checks")])
    labels = np.array([0, 1] * 4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(pictures, labels, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    folder = save_model_folder(model, classes, ModelCard(classes=classes, input_size=32, backbone=key), tmp_path / key)

    predictor = Predictor(folder)  # loads model.keras and checks the LiteRT export against it
    assert predictor.backend == "litert" and predictor.card.backbone == key
    outputs = predictor.outputs(np.asarray(pattern_image("stripes", 99)))
    np.testing.assert_allclose(np.asarray(outputs["probabilities"]).sum(), 1.0, atol=1e-4)
    head_map, last_layer = model.get_layer("backbone").outputs  # the head reads the embedding; the scene, the last layer
    assert np.asarray(outputs["embedding"]).shape[-1] == np.asarray(outputs["features"]).shape[-1] == head_map.shape[-1]
    assert np.asarray(outputs["scene"]).shape[-1] == last_layer.shape[-1]

    embedded = serving_model(model).predict(pictures, verbose=0)
    scorer = OpenSetScorer("mahalanobis").fit(embedded, labels, embedded, labels)
    assert np.isfinite(scorer.score(outputs)).all()


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty Keras cache and no network: what a fresh offline machine sees."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", no_network)


def test_missing_imagenet_weights_offline_is_one_clear_error(offline, image_tree, tmp_path, capsys):
    with pytest.raises(WeightsUnavailable, match="ImageNet weights of ResNet50 are not in the Keras cache"):
        build_model(3, image_size=32, weights="imagenet", backbone="resnet50")
    code = main(["train", str(image_tree), "--out", str(tmp_path / "m"), "--backbone", "resnet50", "--image-size", "32"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "--weights none" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m" / "model.keras").exists()


def test_a_recipe_of_the_studies_trains_and_serves_through_the_cli_and_app(tmp_path, capsys):
    """MobileNetV3 + spatial transformer + RMSprop with a cosine schedule, the first layers
    frozen: each choice reaches the model and its card, and the CLI and the app's handlers
    serve it as they serve the default backbone."""
    from sasirangan.app import predict_frame, predict_upload
    from conftest import make_tree

    data = make_tree(tmp_path / "data", per_class=6, size=40)
    out = tmp_path / "model"
    code = main(["train", str(data), "--out", str(out), "--backbone", "mobilenet_v3_small", "--image-size", "32",
                 "--weights", "none", "--stn", "--optimizer", "rmsprop", "--schedule", "cosine", "--freeze", "100",
                 "--head-epochs", "1", "--fine-tune-epochs", "1", "--crop-passes", "1", "--views-grid", "0",
                 "--batch-size", "8", "--quiet"])
    assert code == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["backbone"] == "mobilenet_v3_small" and "MobileNetV3Small" in card["backbone_description"]
    assert {key: card["config"][key] for key in ("optimizer", "schedule", "freeze", "stn")} == {
        "optimizer": "rmsprop", "schedule": "cosine", "freeze": 100, "stn": True}
    assert "val_loss" in card["history"] and len(card["history"]["loss"]) == 2  # phase 1 and phase 2 ran
    predictor = Predictor(out)
    assert "stn" in {layer.name for layer in predictor.model.layers}
    photo = tmp_path / "photo.png"
    pattern_image("stripes", 5).save(photo)
    capsys.readouterr()
    assert main(["predict", str(out), str(photo), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["top"][0][0] in card["classes"] and answer["verdict"] in ("motif", "uncertain", "not_motif")
    scores, answer_card, timing, shown = predict_upload(predictor, str(photo))
    assert answer_card and shown["source"] == "upload"
    frame = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    *_, history, shown = predict_frame(predictor, frame, [])
    assert len(history) == 1 and shown is not None
