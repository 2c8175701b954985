"""The table of backbones: each row says how to build one and how to feed it.

A new backbone is a new row here, not edits in four modules: `model.build_model` builds
from the row, the normalisation becomes a layer inside the saved model, the open-set score
reads the row's embedding layer, and the model card records the row's name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backbone:
    """How to build and feed one `keras.applications` network."""

    constructor: str  # attribute of keras.applications
    scale: float  # inside the model: input in [0, 1] -> input * scale + offset, the range the weights expect
    offset: float
    embedding_layer: str  # mid-level layer whose pooled activations feed the open-set score
    native_size: int  # the input side its ImageNet weights were trained at
    description: str  # what the model card says

    def build(self, image_size: int, weights):
        import keras

        constructor = getattr(keras.applications, self.constructor)
        return constructor(input_shape=(image_size, image_size, 3), include_top=False, weights=weights)


BACKBONES = {
    "mobilenet_v2": Backbone("MobileNetV2", 2.0, -1.0, "block_13_expand_relu", 224,
                             "MobileNetV2 (alpha 1.0), include_top=False"),
}
DEFAULT_BACKBONE = "mobilenet_v2"


def get_backbone(name: str) -> Backbone:
    """The row for `name`; a clear error listing the choices otherwise."""
    if name not in BACKBONES:
        raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}. Received: backbone={name!r}.")
    return BACKBONES[name]
