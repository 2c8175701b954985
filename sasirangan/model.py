"""The transfer model (a backbone from `backbones`), and saving and loading its model folder.

A model folder holds `model.keras`, `class_names.json` (output order), `model_card.json`
(everything serving and evaluation need: `card.ModelCard`, which owns the file names) and
`model.tflite` (the fast serving export).
"""

from __future__ import annotations

import json
from pathlib import Path

from .card import CLASS_NAMES_FILE, MODEL_FILE, TFLITE_FILE, ModelCard
from .backbones import BACKBONES, DEFAULT_BACKBONE, get_backbone

WEIGHT_CHOICES = ("imagenet", "none", "<path to .h5 file>")
# What the head reads: the backbone row's mid-level `embedding_layer` (stride 16; the network is
# cut there, so it is smaller and faster) or the network's last layer, each average-pooled.
FEATURE_CHOICES = ("middle", "top")


def resolve_weights(weights):
    """Map the `weights` setting to what keras.applications takes, checking it first."""
    if weights is None or str(weights).lower() == "none":
        return None
    if str(weights).lower() == "imagenet":
        return "imagenet"
    if not Path(weights).is_file():
        raise FileNotFoundError(
            f"weights must be one of {', '.join(WEIGHT_CHOICES)}; the file '{weights}' does not exist. "
            f"Received: weights={weights!r}."
        )
    return str(weights)


def build_model(num_classes: int, image_size: int = 224, weights="imagenet", dense_units: int = 0, dropout: float = 0.2,
                backbone: str = DEFAULT_BACKBONE, weight_decay: float = 1e-3, stn: bool = False, features: str = "middle"):
    """Backbone + pooler + a small head, with the backbone's input normalisation built in.

    The model takes float32 images in [0, 1] (what `views.image_views` gives) and maps them
    to the backbone's own range itself, so training and serving cannot disagree on it.

    Args:
        num_classes: outputs of the softmax (unknown class included).
        image_size: square input side; >= 32.
        weights: "imagenet", None/"none" or a path to backbone weights (.h5, no top).
        dense_units: width of a hidden layer in the head; 0 = a linear head on the
            standardised pooled features (a logistic regression, the default).
        dropout: dropout rate on the pooled features (and after the hidden layer).
        backbone: a key of `backbones.BACKBONES`.
        weight_decay: L2 penalty on the head's weights.
        stn: put a spatial transformer (identity at first) in front of the backbone.
        features: "middle": the head reads the backbone's mid-level `embedding_layer` (the
            motifs' texture, and what generalised to webcam views of held-out regions:
            BENCHMARKS.md); the backbone still ends with its last layer, which the cloth
            score reads beside it (ImageNet's sense of rooms, faces and objects). "top": the
            head reads the last layer.

    Returns:
        An uncompiled keras.Model with layers named normalise, backbone, pooler, standardise,
        logits, predictions (and hidden when dense_units > 0, stn when stn).

    Example:
        >>> model = build_model(5, image_size=32, weights=None)
        >>> model.count_params()
        2262022
    """
    import keras

    row = get_backbone(backbone)
    if num_classes < 2:
        raise ValueError(f"A classifier needs at least 2 classes. Received: num_classes={num_classes}.")
    if image_size < 32:
        raise ValueError(f"The backbone needs images of at least 32 px. Received: image_size={image_size}.")
    if features not in FEATURE_CHOICES:
        raise ValueError(f"features must be one of {', '.join(FEATURE_CHOICES)}. Received: features={features!r}.")
    network = row.build(image_size, resolve_weights(weights))
    if features == "middle":  # two outputs: the head's mid-level tap, and the last layer for the cloth score
        network = keras.Model(network.inputs, [row.embedding_output(network), network.output])
        head_part = {id(layer) for layer in head_backbone_layers(network)}
        for layer in network.layers:  # the layers after the tap feed only the cloth score: never trained
            layer.trainable = layer.trainable and id(layer) in head_part
    network.name = "backbone"

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = inputs
    if stn:
        from .spatial_transformer import SpatialTransformer

        x = SpatialTransformer(name="stn")(x)
    x = row.normalise_layer()(x)
    # training=False keeps BatchNorm in inference mode, even when the backbone is unfrozen
    # for fine-tuning: updating its statistics on a few hundred photos would wreck them.
    x = head_map(network(x, training=False))
    x = keras.layers.GlobalAveragePooling2D(name="pooler")(x)
    # Standardised features (mean and variance adapted on the training features in train.py),
    # so one L2 penalty treats every feature alike, as a scaled logistic regression does.
    x = keras.layers.Normalization(name="standardise")(x)
    x = keras.layers.Dropout(dropout, name="dropout_pooled")(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", name="hidden")(x)
        x = keras.layers.Dropout(dropout, name="dropout_hidden")(x)
    logits = keras.layers.Dense(num_classes, kernel_regularizer=keras.regularizers.L2(weight_decay), name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="predictions")(logits)
    return keras.Model(inputs, outputs, name=f"{MODEL_NAME_PREFIX}{backbone}")


MODEL_NAME_PREFIX = "sasirangan_"


def backbone_name(model) -> str:
    """The backbone table key a built model was made from (older models: MobileNetV2)."""
    name = model.name.removeprefix(MODEL_NAME_PREFIX)
    return name if name in BACKBONES else DEFAULT_BACKBONE


def head_map(backbone_outputs):
    """The feature map the head reads, of what the backbone layer returns (one map, or the
    mid-level tap and the last layer of a features="middle" backbone)."""
    return backbone_outputs[0] if isinstance(backbone_outputs, (list, tuple)) else backbone_outputs


def head_backbone_layers(backbone) -> list:
    """The backbone's layers up to the map the head reads: what fine-tuning can change. (A
    features="middle" backbone's layers after its tap only feed the cloth score.)"""
    import keras

    if len(backbone.outputs) == 1:
        return list(backbone.layers)
    head_part = {id(layer) for layer in keras.Model(backbone.inputs, backbone.outputs[0]).layers}
    return [layer for layer in backbone.layers if id(layer) in head_part]


def head_layers(model) -> list:
    """The layers after the pooler, in order (dropout is inactive outside training)."""
    names = ["standardise", "dropout_pooled", "hidden", "dropout_hidden", "logits"]
    present = {layer.name for layer in model.layers}
    return [model.get_layer(name) for name in names if name in present]


def head_model(model, probabilities: bool = True):
    """Pooled features -> class probabilities (or the logits before them), sharing the model's
    head layers: phase 1 trains this on features computed once, instead of running the frozen
    backbone every epoch."""
    import keras

    features = keras.Input((model.get_layer("pooler").output.shape[-1],), name="features")
    x = features
    for layer in head_layers(model):
        x = layer(x)
    return keras.Model(features, model.get_layer("predictions")(x) if probabilities else x, name="head")


def feature_model(model):
    """Image -> pooled backbone features (what the head reads)."""
    import keras

    return keras.Model(model.inputs, model.get_layer("pooler").output, name="features")


def serving_model(model):
    """Same weights; outputs probabilities, logits, pooled features, a mid-level embedding
    and, where the model holds its backbone's last layer, the scene.

    The embedding (pooled activations at the backbone row's `embedding_layer`) lets the
    open-set scorer see texture statistics that the last layer has already traded for
    class evidence. (In a features="middle" model the head reads that same tap, so
    `embedding` and `features` hold the same numbers.) The scene (the pooled last layer) is that class evidence: ImageNet's
    sense of a room, a face or an object, which the cloth score reads beside the embedding
    (`verdict.CLOTH_INPUTS`). Models whose backbone was cut at the embedding (made before
    2026-12-02) have no scene.
    """
    import keras

    network = model.get_layer("backbone")
    inputs = keras.Input(model.input_shape[1:], name="image")
    x = inputs
    if "stn" in {layer.name for layer in model.layers}:
        x = model.get_layer("stn")(x)
    x = model.get_layer("normalise")(x)
    scene_map = None
    if len(network.outputs) == 2:  # features="middle": the head reads the tap, the scene the last layer
        head, scene_map = network(x, training=False)
        middle = head
    elif (embedding := get_backbone(backbone_name(model)).embedding_output(network)) is network.output:
        head = middle = network(x, training=False)  # a backbone cut at its embedding (older models)
    else:  # features="top"
        head, middle = keras.Model(network.inputs, [network.output, embedding])(x, training=False)
        scene_map = head
    features = model.get_layer("pooler")(head)
    x = features
    for layer in head_layers(model):
        x = layer(x, training=False)
    outputs = {
        "probabilities": model.get_layer("predictions")(x),
        "logits": x,
        "features": features,
        "embedding": keras.layers.GlobalAveragePooling2D(name="embedding")(middle),
    }
    if scene_map is not None:
        outputs["scene"] = keras.layers.GlobalAveragePooling2D(name="scene")(scene_map)
    return keras.Model(inputs, outputs)


def export_tflite(model, path) -> Path:
    """Write the LiteRT/TFLite export used for fast single-frame serving."""
    import contextlib
    import io

    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(serving_model(model))
    with contextlib.redirect_stdout(io.StringIO()):  # the converter lists every variable
        flatbuffer = converter.convert()
    path = Path(path)
    path.write_bytes(flatbuffer)
    return path


def save_model_folder(model, class_names, card: ModelCard, model_dir) -> Path:
    """Write model.keras, class_names.json, model_card.json and model.tflite into a folder."""
    import keras

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    # Save an uncompiled copy: the optimizer's state would double the file and serving needs none
    # (clone_model would compile the copy again, so rebuild it from its config).
    weights_only = keras.Model.from_config(model.get_config())
    weights_only.set_weights(model.get_weights())
    weights_only.save(model_dir / MODEL_FILE)
    (model_dir / CLASS_NAMES_FILE).write_text(json.dumps(list(class_names), indent=2))
    card.save(model_dir)
    export_tflite(model, model_dir / TFLITE_FILE)
    return model_dir


def load_model_folder(model_dir):
    """Load (model, class_names, card) from a model folder, checking they belong together.

    Raises:
        FileNotFoundError: the folder, model.keras or class_names.json is missing.
        ValueError: the class list does not match the model's number of outputs, or the
            card is unreadable or newer than this version reads.
    """
    import keras

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"Model folder '{model_dir}' does not exist.")
    for name in (MODEL_FILE, CLASS_NAMES_FILE):
        if not (model_dir / name).is_file():
            raise FileNotFoundError(
                f"'{model_dir}' is not a sasirangan model folder: {name} is missing. "
                "Train one with `sasirangan train DATA_DIR --out MODEL_DIR`."
            )
    try:
        class_names = json.loads((model_dir / CLASS_NAMES_FILE).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{model_dir / CLASS_NAMES_FILE} is not valid JSON ({error}).") from None
    if not isinstance(class_names, list) or not all(isinstance(c, str) for c in class_names):
        raise ValueError(f"{model_dir / CLASS_NAMES_FILE} must hold a JSON list of class names.")
    from . import layers, spatial_transformer  # noqa: F401  (registers the custom layers a model may hold)

    card = ModelCard.load(model_dir, class_names, None)  # first: a card from a newer sasirangan says so plainly
    model = keras.models.load_model(model_dir / MODEL_FILE, compile=False)
    outputs = model.output_shape[-1]
    if outputs != len(class_names):
        raise ValueError(
            f"{model_dir / CLASS_NAMES_FILE} lists {len(class_names)} classes but the model has {outputs} outputs. "
            "The class list must be the one saved with this model; retrain or restore the matching file."
        )
    if card.input_size is None:
        card.input_size = int(model.input_shape[1])
    return model, class_names, card
