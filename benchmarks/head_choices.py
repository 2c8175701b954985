"""How the head should be trained and how views should be combined, decided on validation splits.

Frozen ImageNet MobileNetV2 features of every batik10 photo are computed once (cached in runs/):
the probe's views (whole photo + 3x3 close-ups of the photo scaled to 448 px on its short side),
the recipe's views (whole + 3x3 close-ups of the photo squashed to 448 x 448) and 12 random crops
between close-up and whole scale (OpenCV here; the library draws them in tf.data). Then, for five
seeded duplicate-aware splits, logistic-regression heads (standardised, C as listed) are trained on
crops, on views, or on both, and scored on validation and test with their answers averaged over
the views (probabilities or features) or on the whole picture alone. Choices were read from the
validation rows; the test rows are printed for the record. About 4 min (features) + 2 min.

    python benchmarks/head_choices.py
"""

import warnings
from pathlib import Path

import cv2
import numpy as np

from _common import SHARED, seed_keras_cache
from feature_probe import close_up_tiles

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "runs" / "head_choices_features.npz"
CROPS = 12


def squashed_tiles(rgb, side=224, grid=3, scale=2):
    big = cv2.resize(rgb, (scale * side, scale * side), interpolation=cv2.INTER_AREA)
    starts = np.linspace(0, big.shape[0] - side, grid).astype(int)
    return [big[r : r + side, c : c + side] for r in starts for c in starts]


def random_crop(rgb, rng, side=224):
    """A crop of 15-100% of the squashed 448-px picture's area, aspect 3:4-4:3, flipped, turned
    up to 20 degrees and lit differently: what training augmentation does."""
    big = cv2.resize(rgb, (2 * side, 2 * side), interpolation=cv2.INTER_AREA)
    fraction = np.sqrt(rng.uniform(0.15, 1.0))
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    width, height = min(1.0, fraction * np.sqrt(aspect)), min(1.0, fraction / np.sqrt(aspect))
    left, top = rng.uniform(0, 1 - width), rng.uniform(0, 1 - height)
    full = 2 * side
    crop = big[int(top * full) : int((top + height) * full), int(left * full) : int((left + width) * full)]
    crop = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    turn = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-20, 20), 1.0)
    crop = cv2.warpAffine(crop, turn, (side, side), borderMode=cv2.BORDER_REFLECT)
    lit = crop.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)
    return np.clip(lit, 0, 255).astype(np.uint8)


def features(paths) -> dict[str, np.ndarray]:
    if CACHE.is_file():
        return dict(np.load(CACHE))
    import keras

    from sasirangan.data import load_image

    backbone = keras.applications.MobileNetV2(input_shape=(224, 224, 3), include_top=False, weights="imagenet",
                                              pooling="avg")
    rng = np.random.default_rng(0)

    def prepare(view):
        return cv2.resize(view, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1

    found = {"probe": [], "views": [], "crops": []}
    for path in paths:
        rgb = load_image(path)
        views = [rgb, *close_up_tiles(rgb), rgb, *squashed_tiles(rgb)] + [random_crop(rgb, rng) for _ in range(CROPS)]
        out = backbone.predict(np.stack([prepare(v) for v in views]), batch_size=64, verbose=0)
        found["probe"].append(out[:10])
        found["views"].append(out[10:20])
        found["crops"].append(out[20:])
    found = {key: np.array(value) for key, value in found.items()}
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, **found)
    return found


def main():
    seed_keras_cache()
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sasirangan.config import TrainConfig
    from sasirangan.data import scan_folder, split_samples

    warnings.filterwarnings("ignore")
    scan = scan_folder(SHARED / "datasets" / "batik10")
    index = {s.path: i for i, s in enumerate(scan.samples)}
    labels = np.array([scan.class_names.index(s.label) for s in scan.samples])
    found = features([s.path for s in scan.samples])
    probe, views, crops = found["probe"].mean(1), found["views"], found["crops"]

    def head(c):
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=c))

    results = {}
    for seed in [1, 2, 3, 4, 5]:
        rows = {name: np.array([index[s.path] for s in items])
                for name, items in split_samples(scan, TrainConfig(seed=seed)).items()}
        fitted = head(0.1).fit(probe[rows["train"]], labels[rows["train"]])
        for split in ("val", "test"):
            results.setdefault(("probe C=0.1, fitted on train", split), []).extend(
                fitted.predict(probe[rows[split]]) == labels[rows[split]])
        for c in (0.01, 0.03, 0.1):
            for rows_of in ("crops", "views", "crops+views"):
                parts = {"crops": [crops], "views": [views], "crops+views": [crops, views]}[rows_of]
                x = np.concatenate([p[rows["train"]] for p in parts], axis=1)
                fitted = head(c).fit(x.reshape(-1, x.shape[-1]), np.repeat(labels[rows["train"]], x.shape[1]))
                for split in ("val", "test"):
                    ix, truth = rows[split], labels[rows[split]]
                    per_view = fitted.predict_proba(views[ix].reshape(-1, views.shape[-1])).reshape(len(ix), views.shape[1], -1)
                    for how, predicted in (("mean probability", per_view.mean(1).argmax(1)),
                                           ("mean feature", fitted.predict(views[ix].mean(1))),
                                           ("whole picture only", per_view[:, 0].argmax(1))):
                        results.setdefault((f"head on {rows_of}, C={c}, answer on {how}", split), []).extend(predicted == truth)
    print("| head | validation (5 splits pooled) | test (5 splits pooled) |\n|---|---|---|")
    for name in dict.fromkeys(name for name, _ in results):
        val, test = np.mean(results[(name, "val")]), np.mean(results[(name, "test")])
        print(f"| {name} | {val:.1%} ({len(results[(name, 'val')])}) | {test:.1%} ({len(results[(name, 'test')])}) |")


if __name__ == "__main__":
    main()
