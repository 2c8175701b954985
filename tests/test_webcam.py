"""Webcam-like frames: the right size, inside the region they are asked for, different each time."""

import numpy as np
import pytest

from sasirangan.config import TrainConfig
from sasirangan.data import Sample, make_dataset
from sasirangan.webcam import FRAME_SIZE, held_out_region, webcam_view


def _photo_with_region():
    """A 300x300 photo: a green textured bottom-left third (the region), red elsewhere."""
    rng = np.random.default_rng(0)
    photo = np.zeros((300, 300, 3), np.uint8)
    photo[..., 0] = 200
    region = np.clip(rng.normal(0, 20, (100, 100, 1)) + [[[20, 180, 20]]], 0, 255).astype(np.uint8)
    photo[200:, :100] = region
    return photo, (0.0, 2 / 3, 1 / 3, 1.0)


def test_webcam_view_is_a_frame_of_the_region_only():
    photo, box = _photo_with_region()
    rng = np.random.default_rng(1)
    for _ in range(20):
        frame = webcam_view(photo, box, rng)
        assert frame.shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3) and frame.dtype == np.uint8
        red = (frame[..., 0].astype(int) - frame[..., 1]) > 60
        assert red.mean() < 0.01, "the frame shows cloth outside its region"


def test_webcam_views_differ_and_repeat_with_the_seed():
    photo, box = _photo_with_region()
    first = [webcam_view(photo, box, np.random.default_rng(5)) for _ in range(2)]
    other = webcam_view(photo, box, np.random.default_rng(6))
    assert np.array_equal(first[0], first[1])
    assert np.abs(first[0].astype(int) - other).mean() > 1


def test_held_out_region_holds_every_box():
    assert held_out_region([(0.1, 0.2, 0.3, 0.4), (0.0, 0.25, 0.2, 0.5)]) == (0.0, 0.2, 0.3, 0.5)


def _save(tmp_path, photo, name="cloth.png"):
    from PIL import Image

    path = tmp_path / name
    Image.fromarray(photo).save(path)
    return path


def _red_cloth(side: int = 300) -> np.ndarray:
    """Red cloth with a fine dark pattern all over, so every frame of it shows pattern."""
    rng = np.random.default_rng(3)
    photo = np.zeros((side, side, 3), np.uint8)
    photo[..., 0] = np.clip(rng.normal(190, 40, (side, side)), 0, 255)
    photo[::8] //= 3
    return photo


def test_camera_passes_give_model_sized_frames(tmp_path):
    path = _save(tmp_path, _red_cloth())
    dataset = make_dataset([Sample(str(path), "cloth")], ["cloth"], 32, 8, training=True, seed=0, passes=3, camera=True)
    (images, labels), = list(dataset)
    assert images.shape == (3, 32, 32, 3) and labels.numpy().tolist() == [0, 0, 0]
    assert 0.0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 1.0
    assert np.abs(images[0].numpy() - images[1].numpy()).mean() > 0.01  # each pass films anew


def _red_share(images) -> float:
    """Share of frames whose colour is still mostly red (the cloth's own colour)."""
    images = images.numpy()
    return float(np.mean(images[..., 0].mean(axis=(1, 2)) > 2 * images[..., 1:].mean(axis=(1, 2, 3))))


def test_camera_frames_keep_their_own_colours_half_the_time(tmp_path):
    path = _save(tmp_path, _red_cloth())
    sample = [Sample(str(path), "cloth")]
    turned = make_dataset(sample, ["cloth"], 32, 200, training=True, seed=0, passes=200, camera=True, hue=1.0)
    own = make_dataset(sample, ["cloth"], 32, 40, training=True, seed=0, passes=40, camera=True, hue=0.0)
    # half stay red, and of the other half, turned by a random angle, about a quarter is still reddish
    assert 0.5 <= _red_share(next(iter(turned))[0]) <= 0.8
    assert _red_share(next(iter(own))[0]) == 1.0


def test_camera_frames_are_filmed_from_the_crop_only(tmp_path):
    photo, box = _photo_with_region()  # the box is the green region; the rest of the photo is red
    path = _save(tmp_path, photo)
    dataset = make_dataset([Sample(str(path), "cloth", box)], ["cloth"], 32, 20, training=True, seed=0, passes=20,
                           camera=True)
    images = next(iter(dataset))[0].numpy()
    assert (images[..., 1] > images[..., 0] + 0.2).mean() > 0.95  # green: the frames show the crop, not the photo


def test_webcam_burst_is_one_view_shaken_a_little():
    from sasirangan.webcam import webcam_burst

    photo, box = _photo_with_region()
    burst = webcam_burst(photo, box, np.random.default_rng(2), frames=5)
    assert len(burst) == 5 and all(frame.shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3) for frame in burst)
    within = np.abs(burst[0].astype(int) - burst[1]).mean()
    between = np.abs(burst[0].astype(int) - webcam_view(photo, box, np.random.default_rng(9))).mean()
    assert 0 < within < between  # consecutive frames differ, by less than two unrelated views do


def test_camera_zoom_magnifies_the_training_frames(tmp_path):
    """--camera-zoom reaches the frames: frames magnified more show fewer of the cloth's stripes."""
    photo = np.full((300, 300, 3), 200, np.uint8)
    photo[(np.arange(300) // 15) % 2 == 1] = 40  # 10 dark stripes across the cloth
    path = _save(tmp_path, photo)

    def stripe_edges(camera_zoom: float) -> float:
        dataset = make_dataset([Sample(str(path), "cloth")], ["cloth"], 64, 30, training=True, seed=0, passes=30,
                               camera=True, camera_zoom=camera_zoom)
        images = next(iter(dataset))[0].numpy()
        return float(np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean())

    assert stripe_edges(12.0) < 0.5 * stripe_edges(1.5)
    with pytest.raises(ValueError, match="camera_zoom must be at least 1.5"):
        TrainConfig(camera_zoom=1.0).check()
