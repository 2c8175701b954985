"""The views a model's answer is averaged over, and the settings checked before training."""

import numpy as np
import pytest

from sasirangan.config import TrainConfig
from sasirangan.views import WHOLE, Views, average_outputs, image_views, squash


def _quadrants(size=120):
    """A picture whose four quadrants have four different grey levels."""
    rgb = np.zeros((size, size, 3), np.uint8)
    half = size // 2
    rgb[:half, :half], rgb[:half, half:], rgb[half:, :half], rgb[half:, half:] = 40, 100, 160, 220
    return rgb


def test_image_views_are_the_whole_picture_then_close_ups_row_by_row():
    views = image_views(_quadrants(), 16, Views(grid=3, zoom=2.0))
    assert views.shape == (10, 16, 16, 3) and views.dtype == np.float32
    np.testing.assert_allclose(views[0], squash(_quadrants(), 16) / 255.0)
    corners = [views[i].mean() * 255 for i in (1, 3, 7, 9)]  # top-left, top-right, bottom-left, bottom-right tiles
    assert corners == pytest.approx([40, 100, 160, 220], abs=1)


def test_whole_is_one_view_and_older_cards_mean_whole():
    assert image_views(_quadrants(), 16, WHOLE).shape == (1, 16, 16, 3)
    assert Views.from_dict(None) == WHOLE and Views.from_dict({"grid": 3, "zoom": 2.0}) == Views()
    assert Views().to_dict() == {"grid": 3, "zoom": 2.0}


def test_average_outputs_averages_logits_then_takes_the_softmax():
    logits = np.array([[4.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    outputs = {"logits": logits, "probabilities": np.zeros((3, 2)), "embedding": np.arange(6.0).reshape(3, 2)}
    averaged = average_outputs(outputs, [2, 1])
    np.testing.assert_allclose(averaged["logits"], [[2.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(averaged["probabilities"][0], np.exp([2, 1]) / np.exp([2, 1]).sum(), rtol=1e-6)
    np.testing.assert_allclose(averaged["embedding"], [[1.0, 2.0], [4.0, 5.0]])


@pytest.mark.parametrize("changes,match", [
    ({"folds": 1}, "folds must be 0"),
    ({"cloth_folds": 1, "cloth_dirs": ["cloth"]}, "cloth_folds must be 0"),
    ({"cloth_folds": 5}, "cloth_folds answers the --cloth-dir pictures out of fold: give at least one --cloth-dir"),
    ({"features": "bottom"}, "features must be one of middle, top"),
    ({"backbone": "mobilenet_v9"}, "backbone must be one of mobilenet_v2"),
    ({"open_set_method": "mahalanobos"}, "open_set_method must be one of"),
    ({"views_grid": 3, "views_zoom": 0.5}, "views_zoom must be at least 1"),
    ({"val_split": 0.0}, "val_split must be above 0"),
    ({"crop_passes": 0}, "crop_passes must be at least 1"),
    ({"dropout": 1.5}, "dropout must be in"),
    ({"freeze": 15, "fine_tune_layers": 40}, "freeze .* and fine_tune_layers .* choose the same thing two ways"),
    ({"optimizer": "adamm"}, "optimizer must be one of adam, adamw, sgd, rmsprop"),
    ({"schedule": "step"}, "schedule must be one of constant, exponential, cosine"),
    ({"momentum": 1.0}, "momentum must be in"),
    ({"image_size": 16}, "image_size must be 0 .the backbone's own. or at least 32"),
])
def test_config_check_names_the_bad_setting(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**changes).check()
    assert TrainConfig().check() == TrainConfig(image_size=224)


@pytest.mark.parametrize("backbone,size", [("mobilenet_v2", 224), ("efficientnet_b3", 300), ("efficientnet_v2_s", 384)])
def test_image_size_defaults_to_the_backbones_native_size(backbone, size):
    assert TrainConfig(backbone=backbone).check().image_size == size
    assert TrainConfig(backbone=backbone, image_size=96).check().image_size == 96
