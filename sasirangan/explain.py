"""Why did it say that? A Grad-CAM heatmap of where the model looked.

A motif answer is only worth trusting if the model looked at the motif: a heatmap over the
picture shows whether its evidence came from the cloth's pattern or from the background
(a table, a hand, a watermark). This is the method of the Keras code example "Grad-CAM
class activation visualization" (keras.io/examples/vision/grad_cam): the gradient of the
class score (the logit, before the softmax, for stable gradients) with respect to the
backbone's last feature map, averaged over space, weights that map's channels; the ReLU of
the weighted sum, scaled to [0, 1], is the heatmap, which is then resized onto the picture
and coloured.

It runs on the Keras model (`Predictor.model`), not on the LiteRT export that serves
answers, because LiteRT has no gradients; and a forward plus backward pass through the
backbone costs far more than a served frame, so it runs only on request (a button, a CLI
flag, a report page), never on the live webcam path.

The heatmap is of the whole picture as the model sees it (`views.WHOLE`: squashed to its
input square), while served answers are averaged over the model card's views; with a
spatial transformer (`stn`) it is in the transformed frame, which starts as the identity.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import load_image
from .views import WHOLE, image_views

CAPTION = "looked at for: {name} ({probability:.0%})"
PANEL_SIDE = 512  # the written PNG shows each panel at most this tall (the overlay array keeps full size)

_models: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> its Grad-CAM model
_models_lock = threading.Lock()


@dataclass
class Explanation:
    """What `explain` found for one picture."""

    class_name: str  # the class explained
    probability: float  # its probability, as the predictor answers the picture (views averaged, calibrated)
    overlay: np.ndarray  # the heatmap over the picture: (H, W, 3) uint8 RGB at the picture's size
    heat: np.ndarray  # the heatmap itself: float32 in [0, 1] at the backbone's feature-map resolution
    out_path: Path | None = None  # the PNG written, if one was asked for


def gradcam_model(model):
    """Image -> [the backbone's last feature map, the class logits], sharing the model's layers.

    The backbone is a nested model, so its inner feature map is not an output of `model`:
    the forward path is rebuilt as `model.serving_model` does (stn if present, normalise,
    backbone, pooler, the head layers up to `logits`), all with training=False. Built once
    per model object and cached.

    Raises:
        ValueError: `model` lacks the layers `model.build_model` names.
    """
    with _models_lock:
        cached = _models.get(model)
        if cached is None:
            cached = _models[model] = _build_gradcam_model(model)
        return cached


def _build_gradcam_model(model):
    import keras

    from .model import head_layers, head_map

    names = {layer.name for layer in model.layers}
    missing = [name for name in ("normalise", "backbone", "pooler", "logits") if name not in names]
    if missing:
        raise ValueError(f"Grad-CAM needs a sasirangan model (see sasirangan.model.build_model); "
                         f"model '{model.name}' has no layer named {', '.join(missing)}.")
    inputs = keras.Input(model.input_shape[1:], name="image")
    x = inputs
    if "stn" in names:
        x = model.get_layer("stn")(x, training=False)
    feature_map = head_map(model.get_layer("backbone")(model.get_layer("normalise")(x), training=False))
    x = model.get_layer("pooler")(feature_map)
    for layer in head_layers(model):
        x = layer(x, training=False)
    return keras.Model(inputs, [feature_map, x], name="gradcam")


def heatmap(model, picture_rgb_uint8, class_index: int | None = None, image_size: int | None = None):
    """Grad-CAM heatmap of one picture for one class.

    Args:
        model: a Keras model from `model.build_model` (a Predictor's `.model`).
        picture_rgb_uint8: the picture, (H, W, 3) uint8 RGB (or anything `data.load_image` takes).
        class_index: the class to explain; None = the model's top class for this picture.
        image_size: the model's input side (checked); None reads it from the model.

    Returns:
        (heat, class_index): heat is float32 (h, w) in [0, 1] at the backbone's feature-map
        resolution, 1 where the evidence for the class is strongest (all 0 when no place
        speaks for it); class_index is the class explained.
    """
    import tensorflow as tf

    side = int(model.input_shape[1])
    if image_size is not None and int(image_size) != side:
        raise ValueError(f"The model takes {side}x{side} pictures. Received: image_size={image_size}.")
    prepared = image_views(load_image(picture_rgb_uint8), side, WHOLE)  # (1, side, side, 3) float32 in [0, 1]
    batch = tf.convert_to_tensor(prepared)
    with tf.GradientTape() as tape:
        # The tape records an op only when one of its inputs is watched. Keras 3 makes every TF
        # variable watchable (even a frozen layer's), so the backbone's ops are recorded anyway;
        # watching the input keeps the feature map's gradient defined whatever the layers hold.
        tape.watch(batch)
        feature_map, logits = gradcam_model(model)(batch, training=False)
        classes = int(logits.shape[-1])
        if class_index is None:
            class_index = int(tf.argmax(logits[0]))
        elif not 0 <= int(class_index) < classes:
            raise ValueError(f"class_index must be in [0, {classes}). Received: class_index={class_index}.")
        score = logits[:, int(class_index)]
    gradients = tape.gradient(score, feature_map)[0]  # (h, w, channels)
    weights = tf.reduce_mean(gradients, axis=(0, 1))  # one weight per channel: its average gradient
    cam = tf.nn.relu(tf.reduce_sum(feature_map[0] * weights, axis=-1)).numpy().astype(np.float32)
    top = float(cam.max())
    heat = cam / top if top > 0 else np.zeros_like(cam)
    return np.clip(heat, 0.0, 1.0).astype(np.float32), int(class_index)


def overlay(picture_rgb_uint8: np.ndarray, heat: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """The heatmap resized to the picture, coloured with matplotlib's `jet` and blended in.

    Returns (H, W, 3) uint8 RGB: (1 - alpha) * picture + alpha * colour.
    """
    import cv2
    import matplotlib

    picture = np.asarray(picture_rgb_uint8)
    if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
        raise ValueError(f"overlay needs an (H, W, 3) uint8 RGB picture. Received: shape={picture.shape}, "
                         f"dtype={picture.dtype}.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]. Received: alpha={alpha}.")
    height, width = picture.shape[:2]
    heat = cv2.resize(np.asarray(heat, np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    colour = matplotlib.colormaps["jet"](np.clip(heat, 0.0, 1.0))[..., :3] * 255.0
    blended = (1.0 - alpha) * picture.astype(np.float32) + alpha * colour
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def explain(model_dir_or_predictor, image, out_path=None, class_name: str | None = None) -> Explanation:
    """Where the model looked when it answered one picture.

    Args:
        model_dir_or_predictor: a model folder, or a loaded `predict.Predictor` (reuse it: loading is slow).
        image: a path, bytes, PIL image or RGB array (`data.load_image`).
        out_path: where to write a PNG of the picture and the overlay side by side, captioned
            "looked at for: <class> (<p>%)"; None writes nothing.
        class_name: the class to explain; None = the predictor's top class for the picture.

    Raises:
        ImageError: the picture cannot be read (the message says why).
        ValueError: `class_name` is not one of the model's classes.
    """
    from .predict import Predictor

    predictor = (model_dir_or_predictor if isinstance(model_dir_or_predictor, Predictor)
                 else Predictor(model_dir_or_predictor))
    picture = load_image(image)
    probabilities = predictor.probabilities(picture)
    if class_name is None:
        index = int(np.argmax(probabilities))
    elif class_name in predictor.class_names:
        index = predictor.class_names.index(class_name)
    else:
        raise ValueError(f"class_name must be one of {', '.join(predictor.class_names)}. "
                         f"Received: class_name={class_name!r}.")
    heat, index = heatmap(predictor.model, picture, index, predictor.image_size)
    result = Explanation(class_name=predictor.class_names[index], probability=float(probabilities[index]),
                         overlay=overlay(picture, heat), heat=heat)
    if out_path is not None:
        result.out_path = write_png(picture, result.overlay, CAPTION.format(name=result.class_name,
                                                                            probability=result.probability), out_path)
    return result


def write_png(picture: np.ndarray, overlaid: np.ndarray, caption: str, out_path) -> Path:
    """The picture and its overlay side by side under a caption line, as a PNG."""
    import cv2
    from PIL import Image, ImageDraw, ImageFont

    height = picture.shape[0]
    if height > PANEL_SIDE:
        width = max(1, round(picture.shape[1] * PANEL_SIDE / height))
        picture, overlaid = (cv2.resize(a, (width, PANEL_SIDE), interpolation=cv2.INTER_AREA)
                             for a in (picture, overlaid))
    gap = 8
    panels = np.concatenate([picture, np.full((picture.shape[0], gap, 3), 255, np.uint8), overlaid], axis=1)
    font = ImageFont.load_default(size=16)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), caption, font=font)
    band = bottom + 12
    canvas = Image.new("RGB", (max(panels.shape[1], right + 16), panels.shape[0] + band), "white")
    ImageDraw.Draw(canvas).text((8, 6), caption, fill="black", font=font)
    canvas.paste(Image.fromarray(panels), (0, band))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out_path, format="PNG")
    return out_path
