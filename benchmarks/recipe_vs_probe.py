"""The floor inside the benchmark: the default recipe against a frozen-feature probe, same splits.

A recipe that loses to a logistic regression on frozen features of its own backbone throws away
what the backbone knows. For each seed (each draws its own duplicate-aware 80/10/10 split of
../shared/datasets/batik10) this trains the default recipe (`sasirangan.train`, saved model refit
on train + validation) and fits the probe the recipe must beat on the very same split: a
standardised logistic regression (C = 0.1) on ImageNet MobileNetV2 pooled features averaged over
the whole photo and a 3x3 grid of 224-px close-up tiles of the photo scaled to 448 px on its
short side, fitted on train + validation. Both are scored on the untouched test split, per split
and pooled, with Wilson 95% intervals, and the recipe's training time is printed.

    python benchmarks/recipe_vs_probe.py [--seeds 1 2 3 4 5] [--skip-training] [--folds 5]
        [--set fine_tune_layers=40 ...] [--runs runs/recipe]

(--set changes a TrainConfig field for every seed, to measure a variant on the same splits.)
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from _common import SHARED, seed_keras_cache
from feature_probe import close_up_tiles  # the probe's close-ups: the photo scaled to 448 px on its short side

ROOT = Path(__file__).resolve().parents[1]
BATIK = SHARED / "datasets" / "batik10"


def probe_features(paths, cache: Path) -> dict[str, np.ndarray]:
    """{resolved path: pooled features averaged over the whole photo and its close-up tiles}, cached."""
    paths = [str(Path(path).resolve()) for path in paths]  # model cards store resolved paths
    if cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        if set(stored["paths"].tolist()) >= set(paths):
            return dict(zip(stored["paths"].tolist(), stored["features"]))
    import keras

    from sasirangan.data import load_image, prepare_image

    backbone = keras.applications.MobileNetV2(input_shape=(224, 224, 3), include_top=False, weights="imagenet",
                                              pooling="avg")
    features = []
    for path in paths:
        rgb = load_image(path)
        views = np.stack([prepare_image(view, 224) * 2 - 1 for view in [rgb, *close_up_tiles(rgb)]])
        features.append(backbone.predict(views, verbose=0, batch_size=len(views)).mean(0))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, paths=np.array(paths), features=np.array(features))
    return dict(zip(paths, features))


def probe_correct(card: dict, model_dir: Path, features: dict) -> np.ndarray:
    """Right/wrong per test image of the probe fitted on that model's train + validation split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sasirangan.data import Sample

    split = {name: [Sample.from_json(item, model_dir) for item in card["split"][name]] for name in ("train", "val", "test")}
    fit = split["train"] + split["val"]
    x = np.array([features[str(Path(s.path).resolve())] for s in fit])
    y = [s.label for s in fit]
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=0.1)).fit(x, y)
    predicted = probe.predict(np.array([features[str(Path(s.path).resolve())] for s in split["test"]]))
    return predicted == np.array([s.label for s in split["test"]])


def parse_settings(pairs) -> dict:
    from sasirangan.config import TrainConfig

    defaults, settings = TrainConfig(), {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in TrainConfig.field_names():
            raise SystemExit(f"--set {pair}: no TrainConfig field {name!r}")
        kind = type(getattr(defaults, name))
        settings[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return settings


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--skip-training", action="store_true", help="re-score existing model folders")
    parser.add_argument("--reuse", action="store_true", help="train only the seeds whose model folder has no report yet")
    parser.add_argument("--folds", type=int, default=0, help="also report K-fold CV of the recipe on train+val")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="TrainConfig changes")
    parser.add_argument("--runs", default="runs/recipe", help="where the model folders go")
    args = parser.parse_args()
    settings = parse_settings(args.set)
    seed_keras_cache()

    from sasirangan.config import TrainConfig
    from sasirangan.data import scan_folder
    from sasirangan.evaluate import accuracy_interval
    from sasirangan.train import train

    features = probe_features([s.path for s in scan_folder(BATIK).samples], ROOT / "runs" / "probe_features.npz")
    pooled = {"recipe": [], "probe": []}
    minutes = []
    label = ", ".join(args.set) or "default recipe"
    for seed in args.seeds:
        out = ROOT / args.runs / f"seed{seed}"
        if not args.skip_training and not (args.reuse and (out / "evaluation" / "metrics.json").is_file()):
            started = time.time()
            train(BATIK, out, TrainConfig(seed=seed, folds=args.folds, **settings), verbose=0)
            minutes.append((time.time() - started) / 60)
        card = json.loads((out / "model_card.json").read_text())
        metrics = json.loads((out / "evaluation" / "metrics.json").read_text())
        recipe = np.array(metrics["calibration_points"]["correct"], dtype=bool)
        probe = probe_correct(card, out, features)
        pooled["recipe"].append(recipe)
        pooled["probe"].append(probe)
        cv = card.get("cross_validation")
        cv_text = (f"; {cv['folds']}-fold CV on train+val {cv['accuracy']:.1%} "
                   f"(95% CI {cv['accuracy_interval'][0]:.0%}-{cv['accuracy_interval'][1]:.0%})") if cv else ""
        print(f"RESULT seed {seed} ({label}): recipe {recipe.mean():.1%} ({recipe.sum()}/{len(recipe)}), "
              f"probe {probe.mean():.1%} ({probe.sum()}/{len(probe)}) on the same test split; "
              f"recipe validation {card['val_metrics']['accuracy']:.1%}"
              + (f"; trained in {minutes[-1]:.1f} min" if minutes else "") + cv_text, flush=True)
    for name, values in pooled.items():
        correct = np.concatenate(values)
        low, high = accuracy_interval(int(correct.sum()), len(correct))
        print(f"RESULT pooled over {len(args.seeds)} splits, {name}{' (' + label + ')' if name == 'recipe' else ''}: "
              f"{correct.mean():.1%} ({correct.sum()}/{len(correct)}, 95% CI {low:.0%}-{high:.0%})")
    wins = np.concatenate(pooled["recipe"]) & ~np.concatenate(pooled["probe"])
    losses = ~np.concatenate(pooled["recipe"]) & np.concatenate(pooled["probe"])
    print(f"RESULT recipe right where the probe is wrong: {wins.sum()} images; the reverse: {losses.sum()} images")
    if minutes:
        print(f"RESULT training time per split (scan, fit, calibrate, refit, report): mean {np.mean(minutes):.1f} min, "
              f"max {max(minutes):.1f} min")


if __name__ == "__main__":
    main()
