"""Reading photo folders: robust image loading, scanning, duplicate-aware splits and tf.data.

What the model sees of a picture is written once, in `views.image_views` (the whole picture and
its close-ups, float32 in [0, 1]); the evaluation pipeline here and the predictor both call it,
and training crops are cut from the same enlarged picture. The backbone's own normalisation
lives inside the model.
"""

from __future__ import annotations

import io
import math
import os
import random
import warnings
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import imagehash
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import IMAGE_EXTENSIONS, UNKNOWN_CLASS
from .progress import progress
from .views import WHOLE, Views, squash, view_pixels
from .webcam import WebcamSettings, webcam_view

MAX_PIXELS = 64_000_000  # larger pictures are refused before decoding (decompression bombs)
# Webcam-like training frames are filmed from the picture at (up to) this long side: the widest
# window a frame shows (1/1.5 of it) then has about the frame's own 640 pixels, and a folder of
# 12-megapixel phone photos still fits in the training cache.
CAMERA_SOURCE_SIDE = 960
SPLITS = ("train", "val", "test")


class ImageError(ValueError):
    """A file or upload that cannot be used as a picture; the message says why."""


# --------------------------------------------------------------------------- loading


def load_image(source) -> np.ndarray:
    """Decode a picture into an RGB uint8 array, whatever its format or mode.

    Honours EXIF orientation, takes the first frame of animations, flattens transparency
    onto white and maps grayscale, palette, CMYK and 16-bit pictures to 8-bit RGB.

    Args:
        source: a path, raw bytes, a PIL image or a numpy array (H, W[, C]).

    Returns:
        np.ndarray of shape (H, W, 3), dtype uint8.

    Raises:
        ImageError: the source is not a readable picture (message names the reason).
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        return _pil_to_rgb(source)
    name = "upload" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageError(
                        f"{name}: picture is too large ({width}x{height} pixels); "
                        f"the limit is {MAX_PIXELS // 1_000_000} megapixels."
                    )
                image.seek(0)  # first frame of an animated GIF/WebP/TIFF
                image.load()
                return _pil_to_rgb(image)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found.") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (or a format Pillow cannot read).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: picture is too large (decompression bomb guard).") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{name}: corrupt or truncated image ({error}).") from None


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float grayscale: stretch to 8 bits instead of clipping at 255.
        return _array_to_rgb(np.asarray(image, dtype=np.float32), high_bit=True)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _array_to_rgb(array: np.ndarray, high_bit: bool = False) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"expected an image array of shape (H, W), (H, W, 3) or (H, W, 4); got {array.shape}.")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageError(f"image has no pixels (shape {array.shape}).")
    if array.dtype != np.uint8:
        array = array.astype(np.float32)
        if high_bit or array.max(initial=0) > 255:
            top = 65535.0 if array.max(initial=0) > 255 else 255.0
            array = array / top * 255.0
        elif array.max(initial=0) <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        array = (array[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(array)


def prepare_image(rgb: np.ndarray, image_size: int, box=None) -> np.ndarray:
    """One (image_size, image_size, 3) float32 [0, 1] view of the whole picture (or of `box`).

    The single-view case of `views.image_views`, for the live webcam path and for callers
    that want one view; models average over the views recorded in their card.
    """
    return resize_image(rgb, image_size, box).astype(np.float32) / 255.0


def resize_image(rgb: np.ndarray, image_size: int, box=None, hide=()) -> np.ndarray:
    """Crop (optionally) and squash to a square, uint8 (what the training pipeline caches).

    `hide` lists relative rectangles (held-out regions of a photo) to cover, before cropping,
    with a mirror image of the cloth beside them, so a training view never shows them.
    """
    if len(hide):
        rgb = _cover(rgb, hide)
    if box is not None and box[0] >= 0:
        height, width = rgb.shape[:2]
        left, top = int(box[0] * width), int(box[1] * height)
        right, bottom = max(left + 1, int(box[2] * width)), max(top + 1, int(box[3] * height))
        rgb = rgb[top:bottom, left:right]
    return squash(rgb, image_size)


def _cover(rgb: np.ndarray, hide) -> np.ndarray:
    """Replace each rectangle with the horizontally mirrored strip of pixels next to it."""
    rgb = rgb.copy()
    height, width = rgb.shape[:2]
    for left, top, right, bottom in hide:
        if left < 0:
            continue
        x0, x1, y0, y1 = int(left * width), int(right * width), int(top * height), int(bottom * height)
        span = x1 - x0
        if x0 >= span:  # take the strip on the left, else the one on the right
            source = rgb[y0:y1, x0 - span : x0]
        else:
            source = rgb[y0:y1, x1 : x1 + span]
        source = source[:, ::-1]
        rgb[y0:y1, x0 : x0 + source.shape[1]] = source
    return rgb


def shift_hue(rgb: np.ndarray, degrees: int) -> np.ndarray:
    """The same cloth in another colourway: every hue turned by `degrees` round the colour wheel."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + degrees // 2) % 180  # OpenCV's hue runs 0-179 for 0-358 degrees
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def turn_hue(rgb: np.ndarray, rng: np.random.Generator, amount: float = 1.0) -> np.ndarray:
    """The picture's colours turned round the colour wheel by a random angle of up to `amount`
    x 180 degrees either way (1.0: any colourway): the same motif dyed in other colours."""
    steps = int(rng.integers(0, 180)) if amount >= 1.0 else round(rng.uniform(-amount, amount) * 90)
    return shift_hue(rgb, 2 * steps)  # steps of OpenCV's 2-degree hue


def limit_side(rgb: np.ndarray, longest: int) -> np.ndarray:
    """The picture shrunk (aspect kept) so its long side is at most `longest` pixels."""
    height, width = rgb.shape[:2]
    scale = longest / max(height, width)
    if scale >= 1.0:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class Sample:
    """One example: a file, its class, an optional crop box and regions to hide (relative coords)."""

    path: str
    label: str
    box: tuple[float, float, float, float] | None = None
    hide: tuple = ()  # held-out regions of the photo this (training) view must not show

    def to_json(self, base: Path) -> list:
        """[path relative to `base`, label, box(, hide)]: survives moving data and model together."""
        item = [os.path.relpath(Path(self.path).resolve(), Path(base).resolve()), self.label,
                list(self.box) if self.box else None]
        return item + [[list(rect) for rect in self.hide]] if self.hide else item

    @classmethod
    def from_json(cls, item: list, base: Path) -> "Sample":
        path = item[0] if os.path.isabs(item[0]) else os.path.normpath(Path(base).resolve() / item[0])
        hide = tuple(tuple(rect) for rect in item[3]) if len(item) > 3 else ()
        return cls(path, item[1], tuple(item[2]) if item[2] else None, hide)

    def shows_held_out(self) -> bool:
        """Whether this (training) sample's box overlaps a held-out region of its photo (then
        covered in its view): a crop that is False here is cloth the held-out regions never show."""
        return bool(self.box) and any(self.box[0] < rect[2] and rect[0] < self.box[2] and
                                      self.box[1] < rect[3] and rect[1] < self.box[3] for rect in self.hide)

    def covered(self, rgb: np.ndarray) -> np.ndarray:
        """Its decoded photo with the held-out regions this sample must not show covered (not cropped)."""
        return _cover(rgb, self.hide) if self.hide else rgb

    def view(self, rgb: np.ndarray) -> np.ndarray:
        """The pixels this sample shows of its decoded photo (hidden regions covered, box cropped)."""
        rgb = self.covered(rgb)
        if not self.box:
            return rgb
        height, width = rgb.shape[:2]
        left, top = int(self.box[0] * width), int(self.box[1] * height)
        right, bottom = max(left + 1, int(self.box[2] * width)), max(top + 1, int(self.box[3] * height))
        return rgb[top:bottom, left:right]


@dataclass
class Scan:
    """What a folder scan found: usable images, class names, and what was skipped and why."""

    root: Path
    samples: list[Sample]
    class_names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    hashes: dict[str, imagehash.ImageHash] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        counter = Counter(sample.label for sample in self.samples)
        return {name: counter[name] for name in self.class_names}

    def label_conflicts(self, max_distance: int) -> list[tuple[str, str]]:
        """Pairs of near-identical images filed under two different classes (one label is wrong).

        The split keeps each pair together, but the model is still taught two answers for one
        picture; the user should look at them.
        """
        hashed = [s for s in self.samples if s.path in self.hashes]
        pairs = near_duplicate_pairs([self.hashes[s.path] for s in hashed], max_distance)
        return [(hashed[i].path, hashed[j].path) for i, j in pairs if hashed[i].label != hashed[j].label]


def _list_files(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / name for name in sorted(filenames) if not name.startswith(".")]
    return files


def _check_file(path: Path) -> tuple[str, imagehash.ImageHash | None, str | None]:
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        return str(path), None, f"not an image file (extension '{path.suffix or 'none'}')"
    try:
        rgb = load_image(path)
    except ImageError as error:
        return str(path), None, str(error).split(": ", 1)[-1]
    return str(path), perceptual_hash(rgb), None


def perceptual_hash(rgb: np.ndarray) -> imagehash.ImageHash:
    """64-bit pHash of a picture: re-encoded or resized copies land within a few bits."""
    return imagehash.phash(Image.fromarray(resize_image(rgb, 128)))


def scan_folder(root, unknown_dirs=(), show_progress: bool = False) -> Scan:
    """Find the images of a folder-per-class tree, checking that each one decodes.

    A folder named `unknown` is the rejection class; `unknown_dirs` adds more negatives
    to it. Unreadable files are skipped and listed in `Scan.skipped`, never raised.
    `show_progress` draws a bar while the files are decoded (minutes for thousands of photos).

    Raises:
        FileNotFoundError: `root` or an unknown dir does not exist.
        ValueError: no classes, a single class, or a class folder without readable images.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Data folder '{root}' does not exist or is not a folder.")
    class_dirs = {d.name: [d] for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    for extra in unknown_dirs:
        if not Path(extra).is_dir():
            raise FileNotFoundError(f"Unknown-images folder '{extra}' does not exist or is not a folder.")
        class_dirs.setdefault(UNKNOWN_CLASS, []).append(Path(extra))
    if not class_dirs:
        raise ValueError(
            f"'{root}' has no class sub-folders. Lay it out as {root}/<class name>/<photo>.jpg, "
            "one sub-folder per motif."
        )
    jobs = [(name, path) for name, dirs in class_dirs.items() for d in dirs for path in _list_files(d)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(progress(pool.map(lambda job: _check_file(job[1]), jobs), len(jobs), "Scanning",
                                enabled=show_progress))
    samples, skipped, hashes = [], [], {}
    for (name, _), (path, phash, reason) in zip(jobs, results):
        if reason:
            skipped.append((path, reason))
        else:
            samples.append(Sample(path, name))
            hashes[path] = phash
    class_names = sorted(class_dirs)
    counts = Counter(sample.label for sample in samples)
    empty = [name for name in class_names if counts[name] == 0]
    if empty:
        raise ValueError(
            f"Class folder(s) {', '.join(repr(n) for n in empty)} in '{root}' hold no readable images. "
            "Add photos to them or remove the folder(s)."
        )
    if len(class_names) < 2:
        raise ValueError(
            f"'{root}' needs at least two class sub-folders; found {len(class_names)} "
            f"({', '.join(repr(n) for n in class_names)}). Add another class folder "
            f"(a folder named '{UNKNOWN_CLASS}' of other pictures counts)."
        )
    return Scan(root, samples, class_names, skipped, hashes)


# --------------------------------------------------------------------------- splitting


def duplicate_groups(paths: list[str], hashes: dict, max_distance: int) -> list[int]:
    """Group ids such that images within `max_distance` phash bits share a group.

    Connected components (union-find), so a chain of near-copies stays together too.
    """
    parent = list(range(len(paths)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in near_duplicate_pairs([hashes[p] for p in paths], max_distance):
        parent[find(j)] = find(i)
    return [find(i) for i in range(len(paths))]


def near_duplicate_pairs(hashes: list, max_distance: int) -> list[tuple[int, int]]:
    """Index pairs (i < j) of hashes at most `max_distance` bits apart."""
    if not hashes:
        return []
    bits = np.array([np.asarray(h.hash, dtype=bool).ravel() for h in hashes])
    pairs = []
    for i in range(len(hashes) - 1):
        distances = np.count_nonzero(bits[i + 1 :] != bits[i], axis=1)
        pairs += [(i, int(j)) for j in np.nonzero(distances <= max_distance)[0] + i + 1]
    return pairs


def _split_counts(total: int, val_split: float, test_split: float) -> dict[str, int]:
    n_test = max(1, round(total * test_split)) if test_split > 0 else 0
    n_val = max(1, round(total * val_split)) if val_split > 0 else 0
    return {"train": total - n_val - n_test, "val": n_val, "test": n_test}


def split_samples(scan: Scan, config) -> dict[str, list[Sample]]:
    """Split 80/10/10 (config ratios), stratified by class, before any augmentation.

    Near-duplicate images (perceptual hash) always land in the same split. Classes with
    fewer than `config.samples_per_class` photos are instead cut into a grid of regions,
    each region assigned to one split, and random crops are sampled inside the regions,
    so test crops show parts of the cloth that training never saw.

    Raises:
        ValueError: a class has too few distinct images to give each split one.
    """
    rng = random.Random(config.split_random_state)
    counts = scan.counts
    crop_classes = {c for c, n in counts.items() if config.samples_per_class and n < config.samples_per_class}
    splits: dict[str, list[Sample]] = {name: [] for name in SPLITS}

    whole = [s for s in scan.samples if s.label not in crop_classes]
    groups = duplicate_groups([s.path for s in whole], scan.hashes, config.duplicate_distance)
    members: dict[int, list[Sample]] = defaultdict(list)
    for sample, group in zip(whole, groups):
        members[group].append(sample)
    by_label: dict[str, list[list[Sample]]] = defaultdict(list)
    for group_samples in members.values():
        label = Counter(s.label for s in group_samples).most_common(1)[0][0]
        by_label[label].append(group_samples)

    needed = 1 + (config.val_split > 0) + (config.test_split > 0)
    for label in sorted(by_label):
        label_groups = sorted(by_label[label], key=lambda g: g[0].path)
        if len(label_groups) < needed:
            raise ValueError(
                f"Class '{label}' has {len(label_groups)} distinct image(s) (near-duplicates count once); "
                f"at least {needed} are needed to give each of train/val/test one. Add photos, or pass "
                f"--samples-per-class N to train from region crops of few photos."
            )
        rng.shuffle(label_groups)
        target = _split_counts(sum(len(g) for g in label_groups), config.val_split, config.test_split)
        have = {name: 0 for name in SPLITS}
        for index, group_samples in enumerate(label_groups):
            if index == 0 and target["test"]:
                name = "test"
            elif index == 1 and target["val"]:
                name = "val"
            else:
                name = max(SPLITS, key=lambda n: (target[n] - have[n], n == "train"))
            splits[name] += group_samples
            have[name] += len(group_samples)

    for label in sorted(crop_classes):
        photos = [s for s in scan.samples if s.label == label]
        per_photo = math.ceil(config.samples_per_class / len(photos))
        for photo in photos:
            detail = tile_detail(load_image(photo.path), config.region_grid)
            for name, views in region_crops(per_photo, config, rng, detail).items():
                splits[name] += [Sample(photo.path, label, box, hide) for box, hide in views]
    return splits


def _overlaps(box, other) -> bool:
    return min(box[2], other[2]) > max(box[0], other[0]) and min(box[3], other[3]) > max(box[1], other[1])


def tile_detail(rgb: np.ndarray, grid: int) -> np.ndarray:
    """How much pattern each tile of a grid x grid tiling shows (variance of the Laplacian).

    Plain cloth, a floor or a dark fold score low; dye lines and motif edges score high.
    Used to keep plain corners out of the held-out regions: a crop of plain black cloth is
    no test of motif recognition.
    """
    gray = cv2.cvtColor(cv2.resize(rgb, (64 * grid, 64 * grid), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    edges = cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F)
    return edges.reshape(grid, 64, grid, 64).var(axis=(1, 3))


def region_crops(n_crops: int, config, rng: random.Random, detail: np.ndarray | None = None) -> dict[str, list[tuple]]:
    """Random views of one photo; validation and test views come from regions training never sees.

    The photo is a grid x grid of tiles. One corner tile belongs to the test split and another
    to validation: the two corners with the most pattern when `detail` (from `tile_detail`)
    is given, else two at random. Their crops stay inside them. Training views have any size
    up to the whole photo, so the model sees the cloth at the scale of a whole photo as well as
    in close-up; where a view covers a held-out tile, that tile is hidden (covered by a mirror
    image of the cloth beside it).

    Returns:
        {split: [(box, hide), ...]} with relative (left, top, right, bottom) boxes.
    """
    grid = config.region_grid
    if grid < 3:
        raise ValueError(f"region_grid must be at least 3. Received: region_grid={grid}.")
    corners = [(0, 0), (0, grid - 1), (grid - 1, 0), (grid - 1, grid - 1)]
    rng.shuffle(corners)
    if detail is not None:  # the two most detailed corners, in random order
        corners = sorted(corners, key=lambda rc: -detail[rc])
        corners[:2] = rng.sample(corners[:2], 2)
    tile = 1.0 / grid
    held = {}
    for name, corner in zip(("test", "val"), corners):
        if (config.test_split if name == "test" else config.val_split) > 0:
            row, col = corner
            held[name] = (round(col * tile, 4), round(row * tile, 4), round((col + 1) * tile, 4), round((row + 1) * tile, 4))
    n_per_split = _split_counts(n_crops, config.val_split, config.test_split)
    views = {name: [] for name in SPLITS}
    for name, region in held.items():
        for _ in range(n_per_split[name]):
            side = rng.uniform(0.5, 1.0) * tile
            left = region[0] + rng.uniform(0, tile - side)
            top = region[1] + rng.uniform(0, tile - side)
            views[name].append(((round(left, 4), round(top, 4), round(left + side, 4), round(top + side, 4)), ()))
    for _ in range(n_per_split["train"]):
        side = rng.uniform(0.5 * tile, 1.0)
        left, top = rng.uniform(0, 1.0 - side), rng.uniform(0, 1.0 - side)
        box = (round(left, 4), round(top, 4), round(left + side, 4), round(top + side, 4))
        views["train"].append((box, tuple(region for region in held.values() if _overlaps(box, region))))
    return views


# --------------------------------------------------------------------------- tf.data


def build_augmentation(seed: int | None = None, hue: float = 0.0, tilt: float = 20.0, perspective: float = 0.0):
    """Random changes a camera could make; applied to the training split only.

    `hue` > 0 also turns colours round the colour wheel (up to hue x 180 degrees), for motifs
    that are dyed in many colourways: the model then has to learn the shape, not the colour.
    `tilt` is the largest turn in degrees; `perspective` > 0 warps the picture as a camera
    held at a slant over the cloth does.
    """
    import keras

    hue_layers = [keras.layers.RandomHue(hue, value_range=(0.0, 1.0), seed=seed)] if hue > 0 else []
    slant_layers = ([keras.layers.RandomPerspective(factor=1.0, scale=perspective, fill_value=0.5, seed=seed)]
                    if perspective > 0 else [])
    return keras.Sequential(
        [
            *slant_layers,
            keras.layers.RandomRotation(tilt / 360, fill_mode="reflect", seed=seed),
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomZoom((-0.2, 0.2), fill_mode="reflect", seed=seed),  # zoom 0.8-1.2
            keras.layers.RandomBrightness(0.2, value_range=(0.0, 1.0), seed=seed),
            keras.layers.RandomContrast(0.2, value_range=(0.0, 1.0), seed=seed),
            *hue_layers,
        ],
        name="augmentation",
    )


def soften(image, image_size: int, blur: float, seed: int = 0):
    """Shrink one image to a random (1 - blur) to 1 times its side and enlarge it back.

    What a webcam does to cloth: fewer pixels on the pattern and soft edges. Each image gets
    its own amount (Keras' RandomGaussianBlur draws one per batch), and some get none.
    """
    import tensorflow as tf

    factor = tf.random.uniform([], 1.0 - blur, 1.0, seed=seed)
    side = tf.maximum(8, tf.cast(tf.round(factor * image_size), tf.int32))
    small = tf.image.resize(image, [side, side], method="area")
    return tf.image.resize(small, [image_size, image_size], method="bilinear")


def random_crop(image, image_size: int, smallest: float, seed: int = 0):
    """One random square-ish crop of a cached (enlarged) picture, resized to the model's input.

    Its side is drawn between `smallest` (a close-up tile) and the whole picture, its aspect
    between 3:4 and 4:3: the scales the evaluation views show, and every scale between.
    """
    import tensorflow as tf

    # One draw of four numbers: separate ops with the same seed would draw the same number,
    # tying a crop's size to its position (every crop would lean to the top-left).
    draw = tf.random.uniform([4], seed=seed)
    side = tf.sqrt(smallest * smallest + draw[0] * (1.0 - smallest * smallest))
    aspect = tf.exp(0.2877 * (2.0 * draw[1] - 1.0))  # log(3/4) .. log(4/3)
    height = tf.minimum(1.0, side / tf.sqrt(aspect))
    width = tf.minimum(1.0, side * tf.sqrt(aspect))
    top = draw[2] * (1.0 - height)
    left = draw[3] * (1.0 - width)
    box = tf.stack([top, left, top + height, left + width])[None]
    return tf.image.crop_and_resize(image[None], box, [0], [image_size, image_size], method="bilinear")[0]


def make_dataset(samples, class_names, image_size: int, batch_size: int, training: bool = False, augment: bool = True,
                 seed: int = 0, hue: float = 0.0, blur: float = 0.0, views: Views = WHOLE, passes: int = 1,
                 tilt: float = 20.0, perspective: float = 0.0, camera: bool = False,
                 camera_zoom: float = WebcamSettings.zoom[1]):
    """tf.data pipeline: decode -> resize -> cache -> rescale -> (shuffle, crop, soften, augment) -> batch -> prefetch.

    Training: each picture is cached once, enlarged to `views.base_side`, and every pass over
    it (`passes`, e.g. for features computed once) draws a random crop between close-up and
    whole-picture scale, then the camera-like augmentation. With `camera`, each picture is
    instead cached at its own resolution (up to `CAMERA_SOURCE_SIDE`, aspect kept) and each pass
    is a webcam-like frame of it (`webcam.webcam_view`: zoomed, turned, slanted, blurred, relit,
    compressed; magnified up to `camera_zoom` times), half of them in other colours when `hue` > 0,
    squashed to the model's input as serving squashes a frame: the frames the app will be
    shown, not frames of an already squashed picture (5-8 points fewer webcam frames right:
    BENCHMARKS.md). Evaluation: each picture yields
    its `views.count` views in order (`views.image_views`), to be averaged per picture
    (`views.average_outputs`). The cache sits after the deterministic steps and before the
    random ones, so decoding happens once while every pass still sees fresh augmentation.
    """
    import tensorflow as tf

    index = {name: i for i, name in enumerate(class_names)}
    paths = [s.path for s in samples]
    labels = np.array([index[s.label] for s in samples], dtype=np.int32)
    none = (-1.0, -1.0, -1.0, -1.0)
    # box followed by up to two hidden rectangles, -1 where absent (tf.data needs fixed shapes)
    boxes = np.array([[*(s.box or none), *[v for rect in (list(s.hide) + [none, none])[:2] for v in rect]]
                      for s in samples], dtype=np.float32).reshape(len(samples), 12)
    base = views.base_side(image_size)

    def region_sample(region) -> Sample:
        return Sample("", "", tuple(region[:4]) if region[0] >= 0 else None,
                      tuple(tuple(r) for r in region[4:].reshape(2, 4) if r[0] >= 0))

    def training_picture(path, region):
        return resize_image(load_image(path.decode()), base, region[:4], region[4:].reshape(2, 4))

    def camera_picture(path, region):
        return limit_side(region_sample(region).view(load_image(path.decode())), CAMERA_SOURCE_SIDE)

    def evaluation_views(path, region):
        return view_pixels(region_sample(region).view(load_image(path.decode())), image_size, views)

    def load(path, box, label):
        if training and camera:
            image = tf.numpy_function(camera_picture, [path, box], tf.uint8, stateful=False)
            image.set_shape((None, None, 3))
        elif training:
            image = tf.numpy_function(training_picture, [path, box], tf.uint8, stateful=False)
            image.set_shape((base, base, 3))
        else:
            image = tf.numpy_function(evaluation_views, [path, box], tf.uint8, stateful=False)
            image.set_shape((views.count, image_size, image_size, 3))
        return image, label

    dataset = tf.data.Dataset.from_tensor_slices((paths, boxes, labels))
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if training or views.count == 1:  # a pipeline of many views per picture is read once: caching it only costs memory
        dataset = dataset.cache()
    if not training:
        dataset = dataset.flat_map(lambda images, label: tf.data.Dataset.from_tensor_slices(
            (images, tf.repeat(label, views.count))))
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(samples) * views.count))
    if training:  # shuffle the cached uint8 pictures: a float32 buffer of enlarged ones would not fit in memory
        dataset = dataset.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True).repeat(passes)
    if training and camera:
        rng = np.random.default_rng(seed)
        settings = WebcamSettings(zoom=(WebcamSettings.zoom[0], camera_zoom))

        def camera_frame(image):
            frame = webcam_view(image, None, rng, settings)
            if augment and hue > 0 and rng.random() < 0.5:  # half the frames in the cloth's own colours
                frame = turn_hue(frame, rng, hue)
            return squash(frame, image_size)

        def film(image, label):
            frame = tf.numpy_function(camera_frame, [image], tf.uint8, stateful=True)
            frame.set_shape((image_size, image_size, 3))
            return frame, label

        dataset = dataset.map(film, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(lambda image, label: (tf.cast(image, tf.float32) / 255.0, label))
    if training and not camera:
        if base > image_size:
            smallest = image_size / base
            dataset = dataset.map(lambda image, label: (random_crop(image, image_size, smallest, seed), label),
                                  num_parallel_calls=tf.data.AUTOTUNE)
    if training and augment and blur > 0 and not camera:
        dataset = dataset.map(lambda image, label: (soften(image, image_size, blur, seed), label),
                              num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size)
    if training and augment and not camera:  # a webcam-like frame is already turned, slanted, blurred and relit
        augmentation = build_augmentation(seed, hue, tilt, perspective)
        dataset = dataset.map(
            lambda images, label: (tf.clip_by_value(augmentation(images, training=True), 0.0, 1.0), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
