"""The spatial transformer: identity at start, the sampler's convention, gradients to the
localisation network, .keras round trip and the LiteRT export."""

import contextlib
import io

import keras
import numpy as np
import pytest
import tensorflow as tf

from sasirangan.spatial_transformer import IDENTITY, SpatialTransformer, affine_sample

HFLIP = [-1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
ZOOM_SHIFT = [0.7, 0.1, 0.2, -0.15, 0.8, -0.1]  # a non-trivial warp: scale, shear and shift


def _images(batch=2, height=40, width=48, seed=0):
    """Random noise plus a gradient: every pixel differs from its neighbours, so a wrong index shows."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 0.5, width, dtype="float32")[None, None, :, None]
    return (0.5 * rng.random((batch, height, width, 3), dtype="float32") + ramp).astype("float32")


def _model(height=40, width=48):
    inputs = keras.Input((height, width, 3))
    return keras.Model(inputs, SpatialTransformer(name="stn")(inputs))


def _set_affine(layer, values):
    """Set the last Dense to a fixed warp: zero kernel, `values` as bias."""
    dense = layer.localisation.get_layer("affine")
    kernel, _ = dense.get_weights()
    dense.set_weights([np.zeros_like(kernel), np.array(values, dtype="float32")])


@pytest.mark.parametrize("height, width", [(40, 48), (384, 256)])
def test_identity_at_initialisation_on_a_non_square_image(height, width):
    images = _images(batch=1, height=height, width=width)
    layer = SpatialTransformer()
    out = np.asarray(layer(images))
    assert out.shape == images.shape
    np.testing.assert_allclose(out, images, atol=1e-5)


def test_known_warps_follow_the_stn_convention():
    images = _images(batch=1, height=32, width=40)
    layer = SpatialTransformer()
    layer(images)
    _set_affine(layer, HFLIP)  # output x samples input at -x: a left-right mirror
    np.testing.assert_allclose(np.asarray(layer(images)), images[:, :, ::-1], atol=1e-5)
    # c = one pixel in normalised units: output column j samples input column j+1; the last clamps.
    _set_affine(layer, [1.0, 0.0, 2.0 / (40 - 1), 0.0, 1.0, 0.0])
    expected = np.concatenate([images[:, :, 1:], images[:, :, -1:]], axis=2)
    np.testing.assert_allclose(np.asarray(layer(images)), expected, atol=1e-5)
    # Half a pixel down: the average of each row and the next (bilinear), last row clamps.
    _set_affine(layer, [1.0, 0.0, 0.0, 0.0, 1.0, 1.0 / (32 - 1)])
    below = np.concatenate([images[:, 1:], images[:, -1:]], axis=1)
    np.testing.assert_allclose(np.asarray(layer(images)), (images + below) / 2, atol=1e-5)


def _reference_warp(image, theta):
    """The STN sampler as the paper writes it, in float64 numpy: normalised grid, clamp, bilinear."""
    height, width, _ = image.shape
    y_t, x_t = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    a, b, c, d, e, f = theta
    x = np.clip((a * x_t + b * y_t + c + 1) * (width - 1) / 2, 0, width - 1)
    y = np.clip((d * x_t + e * y_t + f + 1) * (height - 1) / 2, 0, height - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    wx, wy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - wx) + image[y0, x1] * wx
    bottom = image[y1, x0] * (1 - wx) + image[y1, x1] * wx
    return top * (1 - wy) + bottom * wy


@pytest.mark.parametrize("theta", [ZOOM_SHIFT, [0.0, -1.0, 0.0, 1.0, 0.0, 0.0], [1.3, 0.4, -0.5, 0.3, 1.2, 0.6]],
                         ids=["zoom-shift", "rotate-90", "out-of-image"])
def test_matches_a_plain_numpy_sampler_on_a_non_square_image(theta):
    images = _images(batch=1, height=24, width=40)
    out = np.asarray(affine_sample(tf.constant(images), tf.constant([theta])))
    np.testing.assert_allclose(out[0], _reference_warp(images[0], theta), atol=1e-5)


def test_batch_of_one_and_per_image_warps():
    images = _images(batch=2, height=32, width=32)
    theta = tf.constant([IDENTITY, HFLIP])
    out = np.asarray(affine_sample(tf.constant(images), theta))
    np.testing.assert_allclose(out[0], images[0], atol=1e-5)
    np.testing.assert_allclose(out[1], images[1, :, ::-1], atol=1e-5)
    single = np.asarray(affine_sample(tf.constant(images[1:]), theta[1:]))
    np.testing.assert_allclose(single, out[1:], atol=1e-6)


def test_gradients_reach_the_localisation_network():
    images = tf.constant(_images())
    target = tf.constant(_images(seed=1))
    layer = SpatialTransformer()
    layer(images)
    dense = layer.localisation.get_layer("affine")

    def gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((layer(images) - target) ** 2)
        return tape.gradient(loss, [v.value for v in layer.trainable_variables])

    grads = gradients()
    assert all(g is not None for g in grads)  # every weight is on the differentiable path
    by_name = dict(zip([v.path for v in layer.trainable_variables], grads))
    for variable in (dense.kernel, dense.bias):
        assert np.abs(by_name[variable.path].numpy()).max() > 1e-6
    # The zero kernel blocks the gradient below it only until the first step.
    keras.optimizers.SGD(0.1).apply_gradients(zip(grads, layer.trainable_variables))
    first_conv = layer.localisation.layers[1].kernel
    grads = dict(zip([v.path for v in layer.trainable_variables], gradients()))
    assert np.abs(grads[first_conv.path].numpy()).max() > 0


def test_save_and_load_round_trip(tmp_path):
    images = _images()
    model = _model()
    _set_affine(model.get_layer("stn"), ZOOM_SHIFT)
    before = np.asarray(model(images))
    assert not np.allclose(before, images, atol=1e-2)  # the warp really moved pixels
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    layer = loaded.get_layer("stn")
    assert isinstance(layer, SpatialTransformer)
    assert (layer.localisation_size, layer.filters, layer.units) == (48, 8, 32)
    np.testing.assert_array_equal(np.asarray(loaded(images)), before)


def test_config_round_trip():
    layer = SpatialTransformer(localisation_size=32, filters=4, units=16, name="warp")
    clone = SpatialTransformer.from_config(layer.get_config())
    assert (clone.localisation_size, clone.filters, clone.units, clone.name) == (32, 4, 16, "warp")


def _interpreter(flatbuffer):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=flatbuffer)


@pytest.mark.parametrize("batch", [1, 2])
def test_tflite_export_matches_keras(batch):
    images = _images(batch=batch, height=40, width=48)
    model = _model()
    _set_affine(model.get_layer("stn"), ZOOM_SHIFT)
    # A non-zero kernel too, so the localisation network's own output is compared, not only the bias.
    dense = model.get_layer("stn").localisation.get_layer("affine")
    kernel, bias = dense.get_weights()
    dense.set_weights([np.random.default_rng(2).normal(0, 0.05, kernel.shape).astype("float32"), bias])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # builtin ops only
    with contextlib.redirect_stdout(io.StringIO()):
        flatbuffer = converter.convert()
    interpreter = _interpreter(flatbuffer)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.resize_tensor_input(inp["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], images)
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(out["index"]), np.asarray(model(images)), atol=1e-4)


def test_a_diverged_warp_samples_the_centre_instead_of_failing():
    images = np.random.default_rng(3).random((1, 8, 8, 3)).astype("float32")
    theta = np.array([[np.nan] * 6], dtype="float32")
    warped = np.asarray(affine_sample(images, theta))
    assert np.isfinite(warped).all()
    np.testing.assert_allclose(warped[0], np.broadcast_to(images[0, 3:5, 3:5].mean((0, 1)), (8, 8, 3)), atol=1e-6)
