"""The table of backbones: each row says how to build one and how to feed it.

A new backbone is a new row here, not edits in four modules: `model.build_model` builds
from the row, its input normalisation becomes a `layers.Normalise` inside the saved model,
the open-set score reads the row's embedding layer, and the model card records the row's
name. Only MobileNetV2's ImageNet weights ship with these machines; the others download as
Keras does for users online (`weights="imagenet"`), and offline a missing file is one clear
error (`WeightsUnavailable`), never a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CAFFE_MEAN_BGR = (-103.939, -116.779, -123.68)  # ResNet50 and VGG19: BGR on 0..255, ImageNet mean taken away


class WeightsUnavailable(FileNotFoundError):
    """The ImageNet weights are neither in the Keras cache nor downloadable from here."""


@dataclass(frozen=True)
class Backbone:
    """How to build and feed one `keras.applications` network (include_top=False)."""

    constructor: str  # attribute of keras.applications
    scale: float  # inside the model: RGB in [0, 1] -> (BGR if bgr) * scale + offset, the range the weights expect
    offset: float | tuple[float, float, float]
    embedding_layer: str  # mid-level layer (stride 16 at the native size): the head's features="middle" and the open-set score
    native_size: int  # the input side its ImageNet weights were trained at (the default image_size)
    bgr: bool = False  # Caffe-style weights take BGR
    embedding_is_input: bool = False  # the embedding is what enters `embedding_layer` (a stage ending in a sum, not a layer)

    @property
    def description(self) -> str:
        """What the model card says about it."""
        return f"keras.applications.{self.constructor}, include_top=False"

    @property
    def normalisation(self) -> str:
        """The input mapping in words, for the model card (and a phone developer)."""
        offset = ", ".join(f"{v:g}" for v in self.offset) if isinstance(self.offset, tuple) else f"{self.offset:g}"
        return (f"inside the model: RGB in [0, 1]{' -> BGR' if self.bgr else ''} -> x * {self.scale:g} + ({offset})"
                + (", then the network's own preprocessing layers" if self.scale == 255.0 and not self.bgr else ""))

    def embedding_output(self, network):
        """The stride-16 tensor of a built network. A network cut there (features="middle")
        ends with it."""
        try:
            layer = network.get_layer(self.embedding_layer)
        except ValueError:  # the layer after the cut is not in a cut network
            return network.output
        return layer.input if self.embedding_is_input else layer.output

    def normalise_layer(self):
        """The layer that maps RGB in [0, 1] to this backbone's input range."""
        from .layers import Normalise

        offset = list(self.offset) if isinstance(self.offset, tuple) else self.offset
        return Normalise(self.scale, offset, bgr=self.bgr, name="normalise")

    def build(self, image_size: int, weights):
        """The network without its classifier; `weights` as keras.applications takes it."""
        import keras

        constructor = getattr(keras.applications, self.constructor)
        try:
            return constructor(input_shape=(image_size, image_size, 3), include_top=False, weights=weights)
        except Exception as error:  # Keras raises a bare Exception("URL fetch failure on ...") offline
            if weights == "imagenet" and _is_download_failure(error):
                raise WeightsUnavailable(
                    f"The ImageNet weights of {self.constructor} are not in the Keras cache ({keras_cache()}) and "
                    f"could not be downloaded ({str(error).splitlines()[0][:160]}). Run once where the internet is "
                    "reachable (Keras downloads them), copy the file into that folder, or train with "
                    "--weights none or --weights PATH_TO.h5."
                ) from None
            raise


def _is_download_failure(error: Exception) -> bool:
    import urllib.error

    return isinstance(error, (urllib.error.URLError, ConnectionError, TimeoutError)) or "URL fetch failure" in str(error)


def keras_cache() -> Path:
    """Where Keras keeps downloaded weights ($KERAS_HOME/models, else ~/.keras/models)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


_EFFICIENTNET_EMBEDDING = "block6a_expand_activation"  # the expansion before the stride-32 stage
BACKBONES = {
    "mobilenet_v2": Backbone("MobileNetV2", 2.0, -1.0, "block_13_expand_relu", 224),
    "mobilenet_v3_small": Backbone("MobileNetV3Small", 255.0, 0.0, "expanded_conv_8_expand_bn", 224),
    "mobilenet_v3_large": Backbone("MobileNetV3Large", 255.0, 0.0, "expanded_conv_12_expand_bn", 224),
    "resnet50": Backbone("ResNet50", 255.0, CAFFE_MEAN_BGR, "conv4_block6_out", 224, bgr=True),
    "efficientnet_b0": Backbone("EfficientNetB0", 255.0, 0.0, _EFFICIENTNET_EMBEDDING, 224),
    "efficientnet_b1": Backbone("EfficientNetB1", 255.0, 0.0, _EFFICIENTNET_EMBEDDING, 240),
    "efficientnet_b2": Backbone("EfficientNetB2", 255.0, 0.0, _EFFICIENTNET_EMBEDDING, 260),
    "efficientnet_b3": Backbone("EfficientNetB3", 255.0, 0.0, _EFFICIENTNET_EMBEDDING, 300),
    "efficientnet_b4": Backbone("EfficientNetB4", 255.0, 0.0, _EFFICIENTNET_EMBEDDING, 380),
    "efficientnet_v2_s": Backbone("EfficientNetV2S", 255.0, 0.0, _EFFICIENTNET_EMBEDDING, 384),
    "vgg19": Backbone("VGG19", 255.0, CAFFE_MEAN_BGR, "block5_conv4", 224, bgr=True),
    # ConvNeXt's residual sums are not layers: stage 2's output is what enters the stage-3 downsampling
    "convnext_tiny": Backbone("ConvNeXtTiny", 255.0, 0.0, "convnext_tiny_downsampling_block_2", 224,
                              embedding_is_input=True),
}
DEFAULT_BACKBONE = "mobilenet_v2"


def get_backbone(name: str) -> Backbone:
    """The row for `name`; a clear error listing the choices otherwise."""
    if name not in BACKBONES:
        raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}. Received: backbone={name!r}.")
    return BACKBONES[name]
