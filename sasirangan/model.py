"""The MobileNetV2 transfer model, and the model folder that carries it between tools.

A model folder holds `model.keras`, `class_names.json` (output order), `model_card.json`
(everything serving and evaluation need) and `model.tflite` (the fast serving export).
"""

from __future__ import annotations

import json
from pathlib import Path

MODEL_FILE = "model.keras"
CLASS_NAMES_FILE = "class_names.json"
CARD_FILE = "model_card.json"
TFLITE_FILE = "model.tflite"
WEIGHT_CHOICES = ("imagenet", "none", "<path to .h5 file>")


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


def build_model(num_classes: int, image_size: int = 224, weights="imagenet", dense_units: int = 256, dropout: float = 0.2):
    """MobileNetV2 backbone + pooler + a small dense head, with normalisation built in.

    The model takes float32 images in [0, 1] (what `data.prepare_image` gives) and maps
    them to [-1, 1] itself, so training and serving cannot disagree on the input range.

    Args:
        num_classes: outputs of the softmax (unknown class included).
        image_size: square input side; >= 32.
        weights: "imagenet", None/"none" or a path to backbone weights (.h5, no top).
        dense_units: width of the hidden layer of the head.
        dropout: dropout rate before and after the hidden layer.

    Returns:
        An uncompiled keras.Model with layers named backbone, pooler, logits, predictions.

    Example:
        >>> model = build_model(5, image_size=32, weights=None)
        >>> model.count_params()
        2587205
    """
    import keras

    if num_classes < 2:
        raise ValueError(f"A classifier needs at least 2 classes. Received: num_classes={num_classes}.")
    if image_size < 32:
        raise ValueError(f"MobileNetV2 needs images of at least 32 px. Received: image_size={image_size}.")
    backbone = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), include_top=False, weights=resolve_weights(weights)
    )
    backbone.name = "backbone"

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="normalise")(inputs)  # [0, 1] -> [-1, 1]
    # training=False keeps BatchNorm in inference mode, even when the backbone is unfrozen
    # for fine-tuning: updating its statistics on a few hundred photos would wreck them.
    x = backbone(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pooler")(x)
    x = keras.layers.Dropout(dropout, name="dropout_pooled")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="hidden")(x)
    x = keras.layers.Dropout(dropout, name="dropout_hidden")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="predictions")(logits)
    return keras.Model(inputs, outputs, name="sasirangan_mobilenetv2")


EMBEDDING_LAYER = "block_13_expand_relu"  # mid-level backbone activations used by open-set scoring


def serving_model(model):
    """Same weights; outputs probabilities, logits, pooled features and a mid-level embedding.

    The embedding (pooled `block_13_expand_relu` activations) lets the open-set scorer see
    texture statistics that the last layer has already traded for class evidence.
    """
    import keras

    backbone = model.get_layer("backbone")
    tapped = keras.Model(backbone.inputs, [backbone.output, backbone.get_layer(EMBEDDING_LAYER).output])
    inputs = keras.Input(model.input_shape[1:], name="image")
    top, middle = tapped(model.get_layer("normalise")(inputs), training=False)
    features = model.get_layer("pooler")(top)
    logits = model.get_layer("logits")(model.get_layer("hidden")(features))  # dropout is off when serving
    return keras.Model(inputs, {
        "probabilities": model.get_layer("predictions")(logits),
        "logits": logits,
        "features": features,
        "embedding": keras.layers.GlobalAveragePooling2D(name="embedding")(middle),
    })


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


def save_model_folder(model, class_names, card: dict, model_dir) -> Path:
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
    write_card(card, model_dir)
    export_tflite(model, model_dir / TFLITE_FILE)
    return model_dir


def write_card(card: dict, model_dir) -> None:
    (Path(model_dir) / CARD_FILE).write_text(json.dumps(card, indent=2, default=str))


def read_card(model_dir) -> dict:
    path = Path(model_dir) / CARD_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def load_model_folder(model_dir):
    """Load (model, class_names, card) from a model folder, checking they belong together.

    Raises:
        FileNotFoundError: the folder, model.keras or class_names.json is missing.
        ValueError: the class list does not match the model's number of outputs.
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
    model = keras.models.load_model(model_dir / MODEL_FILE, compile=False)
    outputs = model.output_shape[-1]
    if outputs != len(class_names):
        raise ValueError(
            f"{model_dir / CLASS_NAMES_FILE} lists {len(class_names)} classes but the model has {outputs} outputs. "
            "The class list must be the one saved with this model; retrain or restore the matching file."
        )
    return model, class_names, read_card(model_dir)

