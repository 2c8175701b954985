import io

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import make_tree, pattern_image
from sasirangan.config import TrainConfig
from sasirangan.data import (
    ImageError,
    Sample,
    load_image,
    make_dataset,
    prepare_image,
    scan_folder,
    split_samples,
)
from sasirangan.views import Views, image_views


# ----------------------------------------------------------------- load_image


@pytest.mark.parametrize("fmt,suffix", [("JPEG", "jpg"), ("PNG", "png"), ("TIFF", "tif"), ("BMP", "bmp"), ("WEBP", "webp")])
def test_load_image_reads_common_formats(tmp_path, fmt, suffix):
    path = tmp_path / f"x.{suffix}"
    pattern_image("stripes", 1, 40).save(path, format=fmt)
    rgb = load_image(path)
    assert rgb.shape == (40, 40, 3) and rgb.dtype == np.uint8


def test_load_image_honours_exif_orientation(tmp_path):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert load_image(path).shape == (40, 20, 3)


def test_load_image_converts_modes_to_rgb(tmp_path):
    Image.new("L", (8, 8), 100).save(tmp_path / "gray.png")
    assert load_image(tmp_path / "gray.png")[0, 0].tolist() == [100, 100, 100]

    Image.new("RGBA", (8, 8), (10, 20, 30, 0)).save(tmp_path / "clear.png")
    assert load_image(tmp_path / "clear.png")[0, 0].tolist() == [255, 255, 255]  # transparent -> white

    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    red = load_image(tmp_path / "cmyk.jpg")[0, 0]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60

    sixteen = Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))
    sixteen.save(tmp_path / "deep.png")
    value = load_image(tmp_path / "deep.png")[0, 0, 0]
    assert 120 <= value <= 135  # half of the 16-bit range, not clipped to 255


def test_load_image_takes_first_frame_of_animation(tmp_path):
    frames = [Image.new("RGB", (10, 10), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    first = load_image(tmp_path / "anim.gif")[0, 0]
    assert first[0] > 200 and first[2] < 60


@pytest.mark.parametrize(
    "content,match",
    [
        (b"hello, I am text", "not an image"),
        (lambda: _jpeg_bytes()[:300], "corrupt or truncated"),
    ],
)
def test_load_image_rejects_bad_files(tmp_path, content, match):
    data = content() if callable(content) else content
    with pytest.raises(ImageError, match=match):
        load_image(data)
    (tmp_path / "bad.jpg").write_bytes(data)
    with pytest.raises(ImageError, match=match):
        load_image(tmp_path / "bad.jpg")


def test_load_image_refuses_decompression_bombs(tmp_path):
    Image.new("1", (9000, 9000)).save(tmp_path / "bomb.png")  # 81 MP, a few kB on disk
    with pytest.raises(ImageError, match="too large"):
        load_image(tmp_path / "bomb.png")


def test_prepare_image_gives_model_input():
    prepared = prepare_image(np.full((5, 7, 3), 255, np.uint8), 32)
    assert prepared.shape == (32, 32, 3) and prepared.dtype == np.float32
    assert prepared.min() == pytest.approx(1.0)


def _jpeg_bytes():
    buffer = io.BytesIO()
    pattern_image("checks", 3, 64).save(buffer, format="JPEG")
    return buffer.getvalue()


# ----------------------------------------------------------------- scan


def test_scan_skips_and_reports_unreadable_files(image_tree):
    (image_tree / "stripes" / "broken.jpg").write_bytes(_jpeg_bytes()[:200])
    (image_tree / "bands" / "notes.txt").write_text("not a photo")
    scan = scan_folder(image_tree)
    skipped = dict(scan.skipped)
    assert len(skipped) == 2
    assert "truncated" in skipped[str(image_tree / "stripes" / "broken.jpg")]
    assert "not an image" in skipped[str(image_tree / "bands" / "notes.txt")]
    assert scan.counts == {"bands": 12, "checks": 12, "stripes": 12}


def test_scan_errors_say_what_to_do(tmp_path, image_tree):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class sub-folders"):
        scan_folder(tmp_path / "empty")
    single = make_tree(tmp_path / "single", classes=("stripes",), per_class=3)
    with pytest.raises(ValueError, match="at least two class sub-folders; found 1 \\('stripes'\\)"):
        scan_folder(single)
    (image_tree / "kawung").mkdir()
    with pytest.raises(ValueError, match="'kawung'.*no readable images"):
        scan_folder(image_tree)


def test_scan_adds_unknown_dirs_to_unknown_class(tmp_path, image_tree):
    extra = make_tree(tmp_path / "negatives", classes=("checks",), per_class=4)
    scan = scan_folder(image_tree, unknown_dirs=[extra])
    assert scan.counts["unknown"] == 4


def test_scan_finds_the_same_picture_filed_under_two_classes(image_tree):
    copy = image_tree / "bands" / "stripes_03_copy.jpg"
    Image.open(image_tree / "stripes" / "stripes_03.png").save(copy, quality=80)  # re-encoded, wrong folder
    Image.open(image_tree / "stripes" / "stripes_04.png").save(image_tree / "stripes" / "again.jpg", quality=80)
    conflicts = scan_folder(image_tree).label_conflicts(max_distance=6)
    assert conflicts == [(str(copy), str(image_tree / "stripes" / "stripes_03.png"))]


# ----------------------------------------------------------------- split


def test_split_is_stratified_and_deterministic(tmp_path):
    scan = scan_folder(make_tree(tmp_path / "d", per_class=20))
    first = split_samples(scan, TrainConfig(seed=1))
    again = split_samples(scan, TrainConfig(seed=1))
    other = split_samples(scan, TrainConfig(seed=2))
    assert first == again
    assert first != other
    for name in scan.class_names:
        counts = {split: sum(s.label == name for s in first[split]) for split in first}
        assert counts == {"train": 16, "val": 2, "test": 2}


def test_split_seed_keeps_the_split_while_the_seed_changes(tmp_path):
    """Retraining with other seeds on one split makes their held-out figures comparable."""
    scan = scan_folder(make_tree(tmp_path / "d", per_class=20))
    assert split_samples(scan, TrainConfig(seed=3, split_seed=1)) == split_samples(scan, TrainConfig(seed=1))
    assert split_samples(scan, TrainConfig(seed=1, split_seed=2)) != split_samples(scan, TrainConfig(seed=1))
    with pytest.raises(ValueError, match="split_seed must be -1"):
        TrainConfig(split_seed=-2).check()


def test_split_keeps_near_duplicates_in_one_split(tmp_path):
    data = make_tree(tmp_path / "d", per_class=20)
    for i in range(0, 20, 2):  # re-encoded copies (JPEG, slightly smaller) of half the images
        original = Image.open(data / "stripes" / f"stripes_{i:02d}.png")
        original.resize((44, 44)).save(data / "stripes" / f"copy_{i:02d}.jpg", quality=70)
    scan = scan_folder(data)
    for seed in range(5):
        splits = split_samples(scan, TrainConfig(seed=seed))
        where = {s.path: split for split, samples in splits.items() for s in samples}
        for i in range(0, 20, 2):
            assert where[str(data / "stripes" / f"copy_{i:02d}.jpg")] == where[str(data / "stripes" / f"stripes_{i:02d}.png")]


def test_split_refuses_class_too_small(tmp_path):
    data = make_tree(tmp_path / "d", per_class=6)
    for extra in sorted((data / "bands").iterdir())[2:]:
        extra.unlink()
    with pytest.raises(ValueError, match="Class 'bands' has 2 distinct image.*--samples-per-class"):
        split_samples(scan_folder(data), TrainConfig())


def test_region_crops_keep_test_regions_unseen(tmp_path):
    data = make_tree(tmp_path / "d", per_class=1, size=96)
    scan = scan_folder(data)
    splits = split_samples(scan, TrainConfig(samples_per_class=30, region_grid=3))
    for name in scan.class_names:
        views = {split: [s for s in samples if s.label == name] for split, samples in splits.items()}
        assert len(views["train"]) >= 20 and views["val"] and views["test"]
        assert max(s.box[2] - s.box[0] for s in views["train"]) > 0.8  # whole-photo scale is trained too
        for held in views["test"] + views["val"]:
            for train in views["train"]:
                overlap = (max(held.box[0], train.box[0]), max(held.box[1], train.box[1]),
                           min(held.box[2], train.box[2]), min(held.box[3], train.box[3]))
                if overlap[2] > overlap[0] and overlap[3] > overlap[1]:  # must be hidden in the training view
                    assert any(r[0] <= overlap[0] and r[1] <= overlap[1] and r[2] >= overlap[2] and r[3] >= overlap[3]
                               for r in train.hide)


def test_held_out_regions_are_the_patterned_corners(tmp_path):
    """Plain corners (a floor, a dark fold) are no test of motif recognition; patterned ones are held out."""
    for plain in [((0, 0), (2, 2)), ((0, 2), (2, 0)), ((0, 0), (0, 2))]:
        rng = np.random.default_rng(0)
        rgb = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)  # noise: pattern everywhere
        for row, col in plain:
            rgb[row * 32 : row * 32 + 32, col * 32 : col * 32 + 32] = 40
        folder = tmp_path / str(plain) / "a"
        folder.mkdir(parents=True)
        Image.fromarray(rgb).save(folder / "photo.png")
        Image.fromarray(rgb[::-1]).save(tmp_path / str(plain) / "b.png")  # second class needs a folder
        (tmp_path / str(plain) / "b").mkdir()
        (tmp_path / str(plain) / "b.png").rename(tmp_path / str(plain) / "b" / "photo.png")
        splits = split_samples(scan_folder(tmp_path / str(plain)), TrainConfig(samples_per_class=20))
        for name in ("val", "test"):
            boxes = [s.box for s in splits[name] if s.label == "a"]
            corner = (int(boxes[0][1] * 3), int(boxes[0][0] * 3))  # (row, col) of the tile
            assert corner not in plain, (plain, name, corner)


def test_hidden_regions_never_reach_the_pixels(tmp_path):
    """A training view over a held-out tile shows mirrored neighbouring cloth there, not the tile."""
    rgb = np.zeros((90, 90, 3), np.uint8)
    rgb[:30, :30] = 255  # the held-out corner is white, everything else black
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    hide = ((0.0, 0.0, 1 / 3, 1 / 3),)
    batch = next(iter(make_dataset([Sample(str(path), "a", (0.0, 0.0, 1.0, 1.0), hide)], ["a"], 90, 1)))[0].numpy()
    assert batch.max() == 0.0
    assert Sample(str(path), "a", (0.0, 0.0, 1.0, 1.0), hide).view(rgb).max() == 0


# ----------------------------------------------------------------- tf.data


def _first_batch(dataset):
    return next(iter(dataset))[0].numpy()


def test_augmentation_only_on_training_split(image_tree):
    scan = scan_folder(image_tree)
    samples = sorted(scan.samples, key=lambda s: s.path)[:4]
    train = make_dataset(samples, scan.class_names, 32, 4, training=True, seed=0)
    evaluation = make_dataset(samples, scan.class_names, 32, 4, training=False)
    assert not np.allclose(np.sort(_first_batch(train).ravel()), np.sort(_first_batch(train).ravel()))
    np.testing.assert_array_equal(_first_batch(evaluation), _first_batch(evaluation))
    plain = make_dataset(samples, scan.class_names, 32, 4, training=True, augment=False)
    assert np.allclose(np.sort(_first_batch(plain).ravel()), np.sort(_first_batch(evaluation).ravel()))


def test_hue_augmentation_dyes_the_cloth_in_other_colours(tmp_path):
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 0], rgb[8:24, 8:24] = 220, 250  # red cloth with a light square
    for i in range(8):
        Image.fromarray(rgb).save(tmp_path / f"red_{i}.png")
    samples = [Sample(str(p), "a") for p in sorted(tmp_path.glob("*.png"))]

    def dominant_hues(hue):
        batch = _first_batch(make_dataset(samples, ["a"], 32, 8, training=True, seed=0, hue=hue))
        hsv = [cv2.cvtColor((image * 255).astype(np.uint8), cv2.COLOR_RGB2HSV) for image in batch]
        return [int(np.median(h[..., 0])) * 2 for h in hsv]  # degrees; red is near 0 or 360

    def away_from_red(hues):
        return sum(30 < h < 330 for h in hues)

    assert away_from_red(dominant_hues(0.0)) == 0
    assert away_from_red(dominant_hues(1.0)) >= 3


def test_blur_softens_each_training_image_by_its_own_amount(tmp_path):
    checks = (np.indices((64, 64)) // 4 % 2).sum(axis=0) % 2 * 255  # 4-pixel checks: a fine weave
    checks = checks.astype(np.uint8)
    for i in range(8):
        Image.fromarray(np.stack([checks] * 3, axis=-1)).save(tmp_path / f"weave_{i}.png")
    samples = [Sample(str(p), "a") for p in sorted(tmp_path.glob("*.png"))]

    def sharpness(blur, training=True):
        batch = _first_batch(make_dataset(samples, ["a"], 64, 8, training=training, augment=training, seed=0, blur=blur))
        return np.array([cv2.Laplacian(image.mean(axis=2), cv2.CV_32F).var() for image in batch])

    crisp, soft = sharpness(0.0), sharpness(0.75)
    assert soft.mean() < crisp.mean() / 2
    assert soft.max() > 3 * soft.min()  # each image its own amount, not one for the whole batch
    np.testing.assert_allclose(sharpness(0.75, training=False), sharpness(0.0, training=False))  # evaluation untouched


def test_pipeline_matches_prepare_image(image_tree):
    scan = scan_folder(image_tree)
    samples = scan.samples[:3]
    batch = _first_batch(make_dataset(samples, scan.class_names, 32, 3))
    for image, sample in zip(batch, samples):
        np.testing.assert_allclose(image, prepare_image(load_image(sample.path), 32), atol=1e-6)



def test_training_crops_range_from_close_ups_to_the_whole_picture(tmp_path):
    halves = np.zeros((64, 64, 3), np.uint8)
    halves[:, 32:] = 255  # left half black, right half white
    Image.fromarray(halves).save(tmp_path / "halves.png")
    samples = [Sample(str(tmp_path / "halves.png"), "a")]
    crops = make_dataset(samples, ["a"], 16, 64, training=True, augment=False, views=Views(3, 2.0), passes=64)
    batch = _first_batch(crops)
    assert batch.shape == (64, 16, 16, 3) and 0.0 <= batch.min() and batch.max() <= 1.0
    means = batch.mean(axis=(1, 2, 3))
    assert means.min() < 0.25 and means.max() > 0.75  # close-ups mostly inside one half, on either side
    assert np.sum(np.abs(means - 0.5) < 0.15) >= 3  # and wide views that show both halves
    evaluation = _first_batch(make_dataset(samples, ["a"], 16, 10, views=Views(3, 2.0)))
    np.testing.assert_allclose(evaluation, image_views(halves, 16, Views(3, 2.0)), atol=1e-6)  # one path for views


def test_sample_shows_held_out_when_its_box_overlaps_a_hidden_region():
    from sasirangan.data import Sample

    hidden = ((0.66, 0.66, 1.0, 1.0),)
    assert Sample("a.png", "x", (0.5, 0.5, 0.8, 0.8), hidden).shows_held_out()
    assert not Sample("a.png", "x", (0.0, 0.0, 0.66, 1.0), hidden).shows_held_out()  # touching is not showing
    assert not Sample("a.png", "x", None, hidden).shows_held_out()
    assert not Sample("a.png", "x", (0.5, 0.5, 0.8, 0.8)).shows_held_out()
