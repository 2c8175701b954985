"""The neighbouring studies' recipe options, measured on batik10 on the same seeded splits.

Only MobileNetV2's ImageNet weights are on this machine, so the options are compared on it
(other backbones: `bench_serving.py --backbones` times them; their accuracy needs their weights:
`--set backbone=KEY` runs the same comparison on one of them online, as the script prints). For each seed (its own duplicate-aware 80/10/10 split, as
`sasirangan train` draws it) the features of the default recipe's random crops and views are
computed once (the backbone is frozen in phase 1, so optimizer and schedule only change the head),
then for each variant:

  * head variants (optimizer x schedule): phase 1 with the variant's optimizer, epochs chosen on
    validation; scored on the test split (a) as chosen on validation and (b) after the refit on
    train + validation (what `sasirangan train` ships);
  * phase-2 variants (--freeze N, --stn): phase 1, then phase 2 on images (kept only if the
    validation loss drops, as in training); scored as (a). Also scored on the test photos turned
    by +-30 degrees (the report's "rotation" row), where a spatial transformer should help.

Each variant's own time is printed beside the shared feature time. Results are written per
seed to runs/backbone_options/seed<N>.json and pooled with Wilson 95% intervals.

    python benchmarks/backbone_options.py [--seeds 1 2 3] [--variants default sgd_exponential ...]
        [--fine-tune-epochs 8] [--runs runs/backbone_options] [--set crop_passes=1 ...] [--report-only]
"""

import argparse
import dataclasses
import json
import time
import warnings
from pathlib import Path

import numpy as np

from _common import SHARED, seed_keras_cache

ROOT = Path(__file__).resolve().parents[1]
BATIK = SHARED / "datasets" / "batik10"

VARIANTS = {  # name: (TrainConfig changes, what it repeats)
    "default": ({}, "Adam 1e-3, constant rate lowered on plateaus (the default)"),
    "adamw": ({"optimizer": "adamw"}, "AdamW (decoupled weight decay 0.004)"),
    "sgd_exponential": ({"optimizer": "sgd", "head_learning_rate": 1e-2, "schedule": "exponential"},
                        "SGD 1e-2 (Keras's default rate), momentum 0.9, x0.9 an epoch (sign-language study)"),
    "rmsprop_exponential": ({"optimizer": "rmsprop", "schedule": "exponential"},
                            "RMSprop 1e-3, momentum 0.9, x0.9 an epoch (sign-language study)"),
    "adam_exponential": ({"schedule": "exponential"}, "Adam 1e-3, x0.9 an epoch (sign-language study)"),
    "adam_cosine": ({"schedule": "cosine"}, "Adam 1e-3, cosine to 0 over 60 epochs"),
    "freeze_30": ({"freeze": 30}, "phase 2: all but the first 30 backbone layers, Adam 1e-5 (MRI study)"),
    "stn": ({"stn": True, "fine_tune_learning_rate": 1e-4}, "phase 2: spatial transformer + head, Adam 1e-4"),
}
PHASE2 = {"freeze_30", "stn"}


def wilson(correct: int, total: int) -> str:
    from sasirangan.evaluate import accuracy_interval

    low, high = accuracy_interval(correct, total)
    return f"{correct / total:.1%} ({low:.0%}-{high:.0%})"


def rotated_views(samples, image_size, views):
    """Each test photo turned by +-30 degrees (alternating, as the report does), as the model's views."""
    from sasirangan.data import load_image
    from sasirangan.report import PERTURBATIONS
    from sasirangan.views import image_views

    turn = PERTURBATIONS["rotation +-30 deg"]
    return [np.stack(image_views(turn(s.view(load_image(s.path)), i), image_size, views)) for i, s in enumerate(samples)]


def accuracy_on(model, pictures, labels) -> np.ndarray:
    """Right/wrong per picture, answers averaged over its views (as the CLI and uploads are)."""
    return np.array([model.predict(views, verbose=0).mean(0).argmax() == label for views, label in zip(pictures, labels)])


def run_seed(seed: int, names: list[str], fine_tune_epochs: int, out: Path, changes: dict) -> dict:
    import keras

    from sasirangan import train as recipe
    from sasirangan.checkpoints import RunCheckpoint
    from sasirangan.config import TrainConfig
    from sasirangan.data import make_dataset, scan_folder, split_samples
    from sasirangan.model import build_model, feature_model, head_layers, head_model

    base = TrainConfig(seed=seed, fine_tune_epochs=fine_tune_epochs, **changes).check()
    scan = scan_folder(BATIK)
    splits = split_samples(scan, base)
    names_of = scan.class_names
    test_labels = np.array([names_of.index(s.label) for s in splits["test"]])
    keras.utils.set_random_seed(seed)
    model = build_model(len(names_of), base.image_size, base.weights, base.dense_units, base.dropout, base.backbone,
                        features=base.features)
    started = time.time()
    features = recipe._crop_features(model, splits, names_of, base, lambda *a, **k: None)
    test_views = feature_model(model).predict(
        make_dataset(splits["test"], names_of, base.image_size, base.batch_size, views=base.views).map(lambda x, y: x),
        verbose=0).reshape(len(splits["test"]), base.views.count, -1).mean(1)
    feature_seconds = time.time() - started
    print(f"seed {seed}: features of {len(splits['train'])} train and {len(splits['val'])} val pictures "
          f"({base.crop_passes} crops + {base.views.count} views each) in {feature_seconds / 60:.1f} min; "
          f"{len(splits['test'])} test pictures", flush=True)
    initial_head = [layer.get_weights() for layer in head_layers(model)]
    rotated = None
    result = {"seed": seed, "test_images": len(test_labels), "feature_seconds": feature_seconds, "variants": {}}
    for name in names:
        changes, _ = VARIANTS[name]
        config = dataclasses.replace(base, **changes).check()
        keras.utils.set_random_seed(seed)
        started = time.time()
        if name in PHASE2:
            variant = build_model(len(names_of), config.image_size, config.weights, config.dense_units, config.dropout,
                                  config.backbone, stn=config.stn, features=config.features)  # a spatial transformer starts as the identity: same features
            run = RunCheckpoint(out / f"seed{seed}_{name}")  # each variant fits afresh
            fitted = recipe._fit(variant, features, splits, names_of, config, run, verbose=0)
            run.clear()
            if rotated is None:
                rotated = rotated_views(splits["test"], base.image_size, base.views)
            test_pictures = [np.stack(v) for v in _test_views(splits["test"], base)]
            chosen = accuracy_on(variant, test_pictures, test_labels)
            turned = accuracy_on(variant, rotated, test_labels)
            row = {"chosen": chosen.tolist(), "rotated": turned.tolist(),
                   "phase2_kept": bool(fitted["events"].get("fine_tuning_kept"))}
        else:
            for layer, weights in zip(head_layers(model), initial_head):
                layer.set_weights(weights)
            run = RunCheckpoint(out / f"seed{seed}_{name}")  # each variant fits afresh
            fitted = recipe._fit(model, features, splits, names_of, config, run, verbose=0)
            run.clear()
            chosen = np.asarray(head_model(model)(test_views, training=False)).argmax(1) == test_labels
            row = {"chosen": chosen.tolist()}
            if name == "default":  # the rotation row of the model the phase-2 variants start from
                if rotated is None:
                    rotated = rotated_views(splits["test"], base.image_size, base.views)
                row["rotated"] = accuracy_on(model, rotated, test_labels).tolist()
            recipe._refit(model, features, fitted, names_of, config, lambda *a, **k: None)
            row["refit"] = (np.asarray(head_model(model)(test_views, training=False)).argmax(1) == test_labels).tolist()
        row.update(seconds=time.time() - started, head_epochs=fitted["head_epochs"],
                   epochs=len(fitted["history"]["loss"]))
        result["variants"][name] = row
        print(f"  {name:20s} test {np.mean(row['chosen']):.1%}"
              + (f", refit {np.mean(row['refit']):.1%}" if "refit" in row else "")
              + (f", rotated {np.mean(row['rotated']):.1%}" if "rotated" in row else "")
              + (f", phase 2 kept: {row['phase2_kept']}" if "phase2_kept" in row else "")
              + f" ({row['seconds']:.0f} s, {row['epochs']} epochs)", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"seed{seed}.json").write_text(json.dumps(result, indent=1))
    return result


def _test_views(samples, config):
    from sasirangan.data import load_image
    from sasirangan.views import image_views

    return [image_views(s.view(load_image(s.path)), config.image_size, config.views) for s in samples]


def pooled(results: list[dict], names: list[str]) -> None:
    print(f"\nPooled over seeds {[r['seed'] for r in results]} ({sum(r['test_images'] for r in results)} test photos; "
          f"shared feature time {np.mean([r['feature_seconds'] for r in results]) / 60:.1f} min per split):")
    print(f"{'variant':22s} {'test (chosen on val)':22s} {'refit (shipped)':22s} {'rotated +-30':22s} own time")
    for name in names:
        rows = [r["variants"][name] for r in results if name in r["variants"]]
        if not rows:
            continue
        cells = []
        for key in ("chosen", "refit", "rotated"):
            values = [v for row in rows for v in row.get(key, [])]
            cells.append(wilson(int(sum(values)), len(values)) if values else "-")
        print(f"{name:22s} {cells[0]:22s} {cells[1]:22s} {cells[2]:22s} {np.mean([r['seconds'] for r in rows]) / 60:.1f} min"
              + (f" (phase 2 kept on {sum(r['phase2_kept'] for r in rows)}/{len(rows)} splits)" if name in PHASE2 else ""))


def _setting(item: str):
    """FIELD=VALUE -> (field, value): numbers and booleans as JSON, anything else as text."""
    key, value = item.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def needs_weights() -> None:
    """The backbones this machine cannot measure (only MobileNetV2's ImageNet file is in ../shared),
    with the command that measures each online (Keras downloads its weights)."""
    from sasirangan.backbones import BACKBONES, DEFAULT_BACKBONE

    print("\nNot measured here (their ImageNet weights are not on this machine); online, each runs with:")
    for key in BACKBONES:
        if key != DEFAULT_BACKBONE:
            print(f"  python benchmarks/backbone_options.py --set backbone={key} --variants default")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--fine-tune-epochs", type=int, default=8, help="phase-2 epochs at most (time on 2 cores)")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "backbone_options"))
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="change a TrainConfig field for every variant (e.g. crop_passes=1 for a quick check)")
    parser.add_argument("--report-only", action="store_true", help="pool the stored seed results, train nothing")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed")  # ours shuffles in make_dataset
    seed_keras_cache()
    out = Path(args.runs)
    changes = dict(_setting(item) for item in args.set)
    names = ["default", *[n for n in args.variants if n != "default"]]
    for name in names:
        print(f"  {name:20s} {VARIANTS[name][1]}")
    results = []
    for seed in args.seeds:
        stored = out / f"seed{seed}.json"
        if args.report_only:
            if stored.is_file():
                results.append(json.loads(stored.read_text()))
            continue
        results.append(run_seed(seed, names, args.fine_tune_epochs, out, changes))
    pooled(results, names)
    needs_weights()


if __name__ == "__main__":
    main()
