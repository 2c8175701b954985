"""Other cloth of a motif taught from ONE photo of it: the bundled model's situation, imitated on batik10.

The bundled model learnt each of its 16 motifs from one photo, and users show it other cloth of
those motifs; `../shared` holds no second photo of a Sasirangan motif, but `batik10` holds about 45
photos of each of 10 motifs. So, per draw: one photo of each batik motif teaches, and the other
photos of that motif (never a near-duplicate of the teaching photo) are the other cloth. Judged:
the best motif (top 1 of 10) and the right motif in the top 3, on each other photo whole (the
upload path) and on one webcam-like frame of it (`sasirangan.webcam`, the live path).

The photos of each motif are split once (near-duplicate groups kept together) into a *choice*
half, from which teaching photos are drawn and on whose other photos the variants below are
compared, and a *kept* half, measured only with `--kept`, after the choices are made.

What is taught (frozen ImageNet MobileNetV2, average-pooled; the probe of `feature_layers.py`,
a standardised logistic regression, C = 0.1; and the nearest teaching picture, cosine):
  layer    "middle" (block_13_expand_relu, what the bundled head reads) or "top" (out_relu)
  material "whole + crops" (the photo whole and 10 random crops of 1/3 to all of its side),
           "+ frames" (and 12 webcam-like frames of it), "+ colours" (all of them also with
           their colours turned, as the recipe's --hue 1.0 does)
and, with `--recipe`, the bundled recipe itself (`sasirangan train` with `models/train_default.sh`'s
flags, less those about negatives: no unknown class here) on the same teaching photos.
Then the probe (middle layer, all the material) taught from 2, 3 and 5 photos of each motif: what
more photos per motif (the catalogue's confirmed photos, or a user's own folder) would buy.

    python benchmarks/one_photo.py [--draws 5] [--kept] [--recipe [--recipe-draws 3] [--camera-passes N] [--recipe-seed N]]
"""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from _common import SHARED, image_files, seed_keras_cache
from feature_layers import PooledLayers, fit
from honest_answers import ROOT, wilson

BATIK = SHARED / "datasets" / "batik10"
LAYERS = {"middle": "block_13_expand_relu", "top": "out_relu"}
MATERIALS = ("whole + crops", "+ frames", "+ colours")
CROPS, FRAMES = 10, 12
PHOTOS_PER_MOTIF = (2, 3, 5)  # the curve after the one-photo table
# models/train_default.sh's recipe without its negatives (--unknown-dir, --cloth-dir,
# --balance-negatives, --cloth-folds): here only the 10 motifs are classes.
RECIPE_FLAGS = ["--samples-per-class", "60", "--region-grid", "3", "--hue", "1.0", "--blur", "0.5", "--tilt", "30",
                "--perspective", "0.3", "--camera-zoom", "4.5", "--quiet"]
CAMERA_PASSES = 12  # the bundled recipe's webcam-like frames of each training picture
RECIPE_SEED = 42  # the recipe models' training seed; others go to runs of their own (--recipe-seed)


def halves(photos: list[Path]) -> tuple[list[Path], list[Path], dict[Path, int]]:
    """The choice half and the kept half of one motif's photos, near-duplicate groups (the
    library's perceptual hash and distance) never split; and each photo's group."""
    from sasirangan.config import TrainConfig
    from sasirangan.data import duplicate_groups, load_image, perceptual_hash

    names = [str(path) for path in photos]
    hashes = {name: perceptual_hash(load_image(name)) for name in names}
    group = dict(zip(photos, duplicate_groups(names, hashes, TrainConfig().duplicate_distance)))
    order = list(dict.fromkeys(group[path] for path in photos))
    np.random.default_rng(0).shuffle(order)
    choice, kept = [], []
    for group_id in order:
        members = [path for path in photos if group[path] == group_id]
        (choice if len(choice) <= len(kept) else kept).extend(members)
    return choice, kept, group


def crop_at_random(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = rgb.shape[:2]
    side = int(min(height, width) * rng.uniform(1 / 3, 1.0))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    return rgb[top:top + side, left:left + side]


def teaching_rows(pooled, photo: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Pooled features of what one photo teaches, for each material (cumulative)."""
    from sasirangan.data import load_image, turn_hue
    from sasirangan.webcam import webcam_view

    rgb = load_image(photo)
    pictures = [rgb] + [crop_at_random(rgb, rng) for _ in range(CROPS)]
    frames = [webcam_view(rgb, None, rng) for _ in range(FRAMES)]
    for picture in pictures + frames:
        pooled.add(picture)
    for picture in pictures + frames:
        pooled.add(turn_hue(picture, rng))
    rows = pooled.take()
    plain = len(pictures) + len(frames)
    return {"whole + crops": rows[:len(pictures)], "+ frames": rows[:plain],
            "+ colours": rows}


def other_cloth_rows(pooled, photos: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features of each photo whole, and of one webcam-like frame of it (seeded by its
    place in the list, so every run sees the same frames)."""
    from sasirangan.data import load_image
    from sasirangan.webcam import webcam_view

    frames = []
    for index, photo in enumerate(photos):
        rgb = load_image(photo)
        pooled.add(rgb)
        frames.append(webcam_view(rgb, None, np.random.default_rng(1000 + index)))
    whole = pooled.take()
    for frame in frames:
        pooled.add(frame)
    return whole, pooled.take()


def ranks(scores: np.ndarray, classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The rank (0 = best) of the right class in each row of scores."""
    right = scores[np.arange(len(labels)), np.searchsorted(classes, labels)]
    return (scores > right[:, None]).sum(axis=1)


def nearest_scores(train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Per class, the cosine similarity of its nearest teaching picture (standardised features)."""
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    unit = lambda rows: (rows - mean) / std / np.linalg.norm((rows - mean) / std, axis=1, keepdims=True)  # noqa: E731
    similarity = unit(x) @ unit(train_x).T
    return np.stack([similarity[:, train_y == name].max(axis=1) for name in classes], axis=1)


class Tally:
    """Top-1 and top-3 hits of one variant over the draws, on whole photos and on frames."""

    def __init__(self):
        self.hits = {key: [] for key in ("whole 1", "whole 3", "frame 1", "frame 3")}
        self.total = []

    def add(self, whole_ranks: np.ndarray, frame_ranks: np.ndarray) -> None:
        for kind, rank in (("whole", whole_ranks), ("frame", frame_ranks)):
            self.hits[f"{kind} 1"].append(int((rank == 0).sum()))
            self.hits[f"{kind} 3"].append(int((rank < 3).sum()))
        self.total.append(len(whole_ranks))

    def line(self, draws: int | None = None) -> str:
        """Pooled over the draws (the first `draws` only, if given), and the range over them."""
        total = sum(self.total[:draws])
        parts = []
        for key, hits in self.hits.items():
            hits = hits[:draws]
            per_draw = [h / t for h, t in zip(hits, self.total)]
            parts.append(f"{key}: {sum(hits) / total:5.1%} ({min(per_draw):.0%}-{max(per_draw):.0%})")
        return "  ".join(parts)


def train_recipe(teaching: dict[str, Path], out: Path, seed: int, camera_passes: int) -> Path:
    """The bundled recipe trained on one photo per motif (symbolic links, never copies)."""
    folder = out / "photos"
    for motif, photo in teaching.items():
        (folder / motif).mkdir(parents=True, exist_ok=True)
        link = folder / motif / photo.name
        if not link.is_symlink():
            link.symlink_to(photo.resolve())
    model_dir = out / "model"
    if not (model_dir / "model.keras").is_file():
        subprocess.run([sys.executable, "-m", "sasirangan.cli", "train", str(folder), "--out", str(model_dir),
                        "--seed", str(seed), *RECIPE_FLAGS, "--camera-passes", str(camera_passes)], check=True)
    return model_dir


def recipe_ranks(model_dir: Path, photos: list[Path], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks of the right motif for each photo whole (upload path) and one frame (live path)."""
    from sasirangan.data import load_image
    from sasirangan.predict import Predictor
    from sasirangan.views import WHOLE
    from sasirangan.webcam import webcam_view

    predictor = Predictor(model_dir, backend="tf")
    classes = np.array(predictor.class_names)
    motifs = np.flatnonzero(classes != predictor.card.unknown_class)
    whole, frames = [], []
    for index, photo in enumerate(photos):
        rgb = load_image(photo)
        whole.append(predictor.probabilities(rgb)[motifs])
        frame = webcam_view(rgb, None, np.random.default_rng(1000 + index))
        frames.append(predictor.calibrated(predictor.outputs(frame, WHOLE))[motifs])
    order = np.argsort(classes[motifs])
    sorted_classes = classes[motifs][order]
    return (ranks(np.array(whole)[:, order], sorted_classes, labels),
            ranks(np.array(frames)[:, order], sorted_classes, labels))


def more_photos_curve(pooled, split: dict, measured: list, measured_y: np.ndarray,
                      other_cloth_x: tuple[np.ndarray, np.ndarray], draws: int) -> None:
    """The probe taught from 2, 3, 5 photos of each motif instead of one, on the same halves and
    draws: how much a user's own photos (or the catalogue's) buy against any change to the recipe."""
    whole_x, frame_x = other_cloth_x
    print(f"\nThe probe ({LAYERS['middle']}, {MATERIALS[-1]}) taught from more photos of each motif, same halves and draws:")
    columns = pooled.columns(LAYERS["middle"])
    taught = {}  # photo -> its rows, made once for the whole curve
    for count in PHOTOS_PER_MOTIF:
        tally = Tally()
        for draw in range(draws):
            rng = np.random.default_rng(draw + 1)
            teaching = {motif: [split[motif][0][i] for i in rng.permutation(len(split[motif][0]))[:count]]
                        for motif in split}
            taught_groups = {motif: {split[motif][2][photo] for photo in photos} for motif, photos in teaching.items()}
            other = np.array([split[motif][2][photo] not in taught_groups[motif] for photo, motif in measured])
            for photo in (photo for photos in teaching.values() for photo in photos if photo not in taught):
                taught[photo] = teaching_rows(pooled, photo, rng)[MATERIALS[-1]]
            rows = [(taught[photo], motif) for motif, photos in teaching.items() for photo in photos]
            probe = fit(np.concatenate([x for x, _ in rows])[:, columns],
                        np.concatenate([[motif] * len(x) for x, motif in rows]))
            tally.add(*(ranks(probe.predict_proba(x[other][:, columns]), np.array(probe.classes_), measured_y[other])
                        for x in (whole_x, frame_x)))
        print(f"  {count} photos a motif ({sum(tally.total)} other photos)  {tally.line()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=5, help="teaching photos drawn per motif, one draw after another")
    parser.add_argument("--kept", action="store_true", help="measure on the kept half (once the choices are made)")
    parser.add_argument("--recipe", action="store_true", help="also train the bundled recipe on the first draws")
    parser.add_argument("--recipe-draws", type=int, default=3)
    parser.add_argument("--camera-passes", type=int, default=CAMERA_PASSES,
                        help=f"the recipe with this many webcam-like frames of each training picture (bundled: {CAMERA_PASSES})")
    parser.add_argument("--recipe-seed", type=int, default=RECIPE_SEED,
                        help=f"the recipe's training seed (other than {RECIPE_SEED}: its models go to RUNS_seedN)")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "one_photo"), help="where the recipe's models go")
    args = parser.parse_args()
    seed_keras_cache()

    motifs = sorted(path.name for path in BATIK.iterdir() if path.is_dir())
    split = {motif: halves(image_files(BATIK / motif)) for motif in motifs}
    measured_half = "kept" if args.kept else "choice"
    print(f"batik10: {len(motifs)} motifs; photos per motif, choice / kept half: "
          + ", ".join(f"{motif} {len(choice)}/{len(kept)}" for motif, (choice, kept, _) in split.items()))

    pooled = PooledLayers()
    measured = [(photo, motif) for motif in motifs for photo in split[motif][1 if args.kept else 0]]
    whole_x, frame_x = other_cloth_rows(pooled, [photo for photo, _ in measured])
    measured_y = np.array([motif for _, motif in measured])
    classes = np.array(motifs)

    tallies = {}
    recipe_tally = Tally()
    for draw in range(args.draws):
        rng = np.random.default_rng(draw + 1)
        teaching = {motif: split[motif][0][rng.integers(len(split[motif][0]))] for motif in motifs}
        other = np.array([split[motif][2][photo] != split[motif][2][teaching[motif]] for photo, motif in measured])
        rows = {motif: teaching_rows(pooled, teaching[motif], rng) for motif in motifs}
        for material in MATERIALS:
            train = np.concatenate([rows[motif][material] for motif in motifs])
            labels = np.concatenate([[motif] * len(rows[motif][material]) for motif in motifs])
            for layer, name in LAYERS.items():
                columns = pooled.columns(name)
                probe = fit(train[:, columns], labels)
                scores = [probe.predict_proba(x[other][:, columns]) for x in (whole_x, frame_x)]
                tallies.setdefault(("probe", layer, material), Tally()).add(
                    *(ranks(s, np.array(probe.classes_), measured_y[other]) for s in scores))
                near = [nearest_scores(train[:, columns], labels, x[other][:, columns], classes) for x in (whole_x, frame_x)]
                tallies.setdefault(("nearest", layer, material), Tally()).add(
                    *(ranks(s, classes, measured_y[other]) for s in near))
        if args.recipe and draw < args.recipe_draws:
            runs = args.runs + ("" if args.camera_passes == CAMERA_PASSES else f"_passes{args.camera_passes}") + (
                "" if args.recipe_seed == RECIPE_SEED else f"_seed{args.recipe_seed}")
            model_dir = train_recipe(teaching, Path(runs) / f"draw{draw}", seed=args.recipe_seed,
                                     camera_passes=args.camera_passes)
            photos = [photo for (photo, _), keep in zip(measured, other) if keep]
            recipe_tally.add(*recipe_ranks(model_dir, photos, measured_y[other]))
        print(f"draw {draw}: {int(other.sum())} other photos of the {measured_half} half; teaching "
              + ", ".join(teaching[motif].name for motif in motifs), flush=True)

    print(f"\nRight motif of 10 on OTHER photos of the {measured_half.upper()} half, pooled over {args.draws} draws "
          f"(range over draws); 'whole' = the photo as an upload, 'frame' = one webcam-like frame of it:")
    for (method, layer, material), tally in tallies.items():
        print(f"  {method:7s} {layer:6s} {material:14s} {tally.line()}")
    if recipe_tally.total:
        trained = len(recipe_tally.total)
        print(f"  on the recipe's {trained} draws alone:")
        print(f"  recipe ({args.camera_passes:2d} camera passes)  {recipe_tally.line()}")
        for key in (("probe", "middle", MATERIALS[-1]), ("nearest", "middle", MATERIALS[-1])):
            print(f"  {' '.join(key):29s} {tallies[key].line(trained)}")
        print(f"    pooled interval of its top 1 on whole photos: "
              f"{wilson(sum(recipe_tally.hits['whole 1']), sum(recipe_tally.total))}")
    more_photos_curve(pooled, split, measured, measured_y, (whole_x, frame_x), args.draws)
    best = max(tallies, key=lambda key: sum(tallies[key].hits["whole 1"]) + sum(tallies[key].hits["frame 1"]))
    total = sum(tallies[best].total)
    print(f"Best by top 1 (whole + frame): {' '.join(best)}; whole {wilson(sum(tallies[best].hits['whole 1']), total)}, "
          f"frame {wilson(sum(tallies[best].hits['frame 1']), total)}")


if __name__ == "__main__":
    main()
