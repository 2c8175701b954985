"""A spatial transformer layer (Jaderberg et al., 2015, https://arxiv.org/abs/1506.02025).

Why: the sign-language study this project follows puts a spatial transformer in front of its
backbone, so the network can learn to undo tilt, scale and shift of the hand (here: the cloth)
before it classifies. A small localisation network looks at a shrunken copy of the image and
predicts an affine warp; a bilinear sampler applies it. Both are differentiable, so the warp is
learnt from the classification loss alone.

The sampler is written with `keras.ops` gathers and arithmetic rather than
`keras.ops.image.affine_transform`: TensorFlow registers no gradient for the transform in that
op, so the localisation network would never learn. Gathers also convert to builtin TFLite ops.
"""

import math

import keras
import numpy as np
from keras import ops

IDENTITY = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]  # the affine [[1, 0, 0], [0, 1, 0]], flattened row by row


def affine_sample(images, theta):
    """Warp `images` (batch, H, W, C) by `theta` (batch, 6), a 2x3 affine matrix row by row.

    Standard STN convention: in normalised coordinates, where -1 and 1 are the centres of the
    first and last pixel along each axis, output pixel (x, y) samples the input at
    (a*x + b*y + c, d*x + e*y + f). Points outside the image clamp to the border pixels
    (no black corners for the backbone to learn from). The bilinear weights carry the gradient
    to `theta`. H, W and C must be static, H and W at least 2.
    """
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    # The output grid is a constant, kept in pixels from the centre (cx, cy) rather than in [-1, 1]:
    # then the identity and flips land exactly on pixel centres, with no float drift on big images.
    cx, cy = (width - 1) / 2, (height - 1) / 2
    v, u = np.meshgrid(np.arange(height) - cy, np.arange(width) - cx, indexing="ij")
    u, v = u.reshape(1, -1), v.reshape(1, -1)

    def constant(array):
        return ops.convert_to_tensor(array, dtype=theta.dtype)

    # Source pixel = centre + centre * (theta @ [u / cx, v / cy, 1]), clamped to the image (the border rule).
    x = theta[:, 0:1] * constant(u) + theta[:, 1:2] * constant(v * cx / cy) + (theta[:, 2:3] + 1.0) * cx
    y = theta[:, 3:4] * constant(u * cy / cx) + theta[:, 4:5] * constant(v) + (theta[:, 5:6] + 1.0) * cy
    # A diverged localisation net (NaN) samples the centre instead of gathering out of range.
    x, y = ops.where(x == x, x, cx), ops.where(y == y, y, cy)
    x, y = ops.clip(x, 0.0, width - 1.0), ops.clip(y, 0.0, height - 1.0)
    x0, y0 = ops.floor(x), ops.floor(y)
    wx, wy = ops.expand_dims(x - x0, -1), ops.expand_dims(y - y0, -1)  # (batch, H*W, 1)
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    x1, y1 = ops.minimum(x0 + 1, width - 1), ops.minimum(y0 + 1, height - 1)

    # One gather per corner from the batch flattened to rows of pixels.
    batch = ops.shape(images)[0]
    pixels = ops.reshape(images, (-1, channels))
    offset = ops.expand_dims(ops.arange(batch, dtype="int32") * (height * width), -1)

    def corner(yi, xi):
        rows = ops.take(pixels, ops.reshape(offset + yi * width + xi, (-1,)), axis=0)
        return ops.reshape(rows, (-1, height * width, channels))

    top = corner(y0, x0) * (1.0 - wx) + corner(y0, x1) * wx
    bottom = corner(y1, x0) * (1.0 - wx) + corner(y1, x1) * wx
    return ops.reshape(top * (1.0 - wy) + bottom * wy, (-1, height, width, channels))


@keras.saving.register_keras_serializable(package="sasirangan")
class SpatialTransformer(keras.layers.Layer):
    """Learns an affine warp of its input images and applies it; same shape in and out.

    Starts as the exact identity (the last Dense has a zero kernel and the identity as bias), so
    putting it in front of a pretrained backbone changes nothing until training moves it.
    Where the warp points outside the image, the nearest border pixel is used (not zeros).

    Args:
        localisation_size: the localisation network sees the image average-pooled to about this
            many pixels on its longest side (cheap, and the warp needs no fine detail).
        filters: filters of the first conv block; the second has twice as many.
        units: width of the hidden Dense layer before the 6 affine numbers.
    """

    def __init__(self, localisation_size=48, filters=8, units=32, **kwargs):
        super().__init__(**kwargs)
        self.localisation_size = localisation_size
        self.filters = filters
        self.units = units

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        if height is None or width is None:
            raise ValueError(f"SpatialTransformer needs a static image size, got input shape {input_shape}")
        pool = max(1, math.ceil(max(height, width) / self.localisation_size))
        self.localisation = keras.Sequential([
            keras.layers.AveragePooling2D(pool, padding="same"),
            keras.layers.Conv2D(self.filters, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2, padding="same"),
            keras.layers.Conv2D(2 * self.filters, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2, padding="same"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(self.units, activation="relu"),
            keras.layers.Dense(6, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(IDENTITY),
                               name="affine"),
        ], name="localisation")
        self.localisation.build(input_shape)  # create the weights now, so a loaded model can fill them

    def call(self, images):
        return affine_sample(images, self.localisation(images))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "localisation_size": self.localisation_size, "filters": self.filters,
                "units": self.units}
