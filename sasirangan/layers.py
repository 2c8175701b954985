"""The custom Keras layer every new model folder holds: its backbone's input normalisation.

Each `keras.applications` backbone expects its own input range (MobileNetV2 [-1, 1];
ResNet50 and VGG19 BGR with the ImageNet mean taken away; EfficientNet, ConvNeXt and
MobileNetV3 [0, 255] with their own rescaling inside). The model takes RGB in [0, 1] and
maps it here, so no caller (training, the CLI, the app, a phone) has to know the backbone.
Importing this module registers the layer, which `keras.models.load_model` needs.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="sasirangan")
class Normalise(keras.layers.Layer):
    """RGB in [0, 1] -> the backbone's range: optional RGB -> BGR, then `x * scale + offset`.

    Args:
        scale: one number, or one per channel (in the output channel order).
        offset: one number, or one per channel (in the output channel order).
        bgr: reverse the channel order first (Caffe-style weights: ResNet50, VGG19).
    """

    def __init__(self, scale=1.0, offset=0.0, bgr: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.offset = offset
        self.bgr = bool(bgr)

    def call(self, images):
        if self.bgr:
            images = keras.ops.flip(images, axis=-1)
        scale = keras.ops.convert_to_tensor(self.scale, dtype=images.dtype)
        offset = keras.ops.convert_to_tensor(self.offset, dtype=images.dtype)
        return images * scale + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset, "bgr": self.bgr}
