"""Which webcam-like training frames teach the head to name webcam frames of regions it never saw.

The bundled recipe's head (no hidden layer, no fine-tuning) is a linear classifier on frozen pooled
backbone features, so what it can learn is set by its training rows. Here the same learner
(standardised logistic regression, balanced classes, as the head's class weights) is fitted on a
model folder's TRAIN pictures (its card's split) with three kinds of rows, all on the default
backbone cut (`features=middle`):
- before: the evaluation views and random crops of each picture (`make_dataset`, as training
  makes them) plus webcam-like frames filmed from the picture already squashed to 448x448, then
  the Keras augmentation with any colourway (what `--camera-passes` did before this script);
- now: the same views and crops plus `make_dataset(..., camera=True)`'s frames, filmed from the
  picture at its own resolution, half of them in their own colours, no Keras augmentation;
- the probe: each picture whole and webcam-like frames of it, as they are and with the colours turned.
Judged on the best motif (top-1) of 20 webcam-like frames of each photo's VALIDATION region (where
the choice is made) and, read once, of its TEST region: `honest_answers.py`'s frames (same seeds),
as they are and with their colours turned at random.

    python benchmarks/camera_rows.py [--model models/sasirangan_default] [--passes 3]   (about 16 min)
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import seed_keras_cache
from honest_answers import ROOT, region_shots, wilson


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "sasirangan_default"))
    parser.add_argument("--passes", type=int, default=3, help="random crops and webcam-like frames per picture")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seed_keras_cache()

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sasirangan.card import CLASS_NAMES_FILE, ModelCard
    from sasirangan.data import (
        build_augmentation,
        load_image,
        make_dataset,
        resize_image,
        turn_hue,
    )
    from sasirangan.model import build_model, feature_model
    from sasirangan.views import squash
    from sasirangan.webcam import webcam_view

    started = time.time()
    model_dir = Path(args.model)
    classes = json.loads((model_dir / CLASS_NAMES_FILE).read_text())
    card = ModelCard.load(model_dir, classes, 224)
    train, views, unknown = card.samples("train", model_dir), card.view_spec, card.unknown_class
    index = {name: i for i, name in enumerate(classes)}
    extract = feature_model(build_model(len(classes), 224, features="middle"))
    rng = np.random.default_rng(args.seed + 30)

    def features(pictures) -> np.ndarray:
        return extract.predict(np.asarray(pictures, np.float32) / 255.0, batch_size=64, verbose=0)

    def from_dataset(dataset) -> tuple[np.ndarray, np.ndarray]:
        pairs = [(extract(images, training=False).numpy(), labels.numpy()) for images, labels in dataset]
        return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])

    def say(what: str) -> None:
        print(f"  {what} ({time.time() - started:.0f} s)", flush=True)

    recipe = dict(seed=42, hue=1.0, views=views, passes=args.passes, tilt=30.0, perspective=0.3)
    rows = {"views": from_dataset(make_dataset(train, classes, 224, 64, views=views))}
    say(f"{len(rows['views'][1])} evaluation views of the {len(train)} train pictures")
    rows["crops"] = from_dataset(make_dataset(train, classes, 224, 64, training=True, blur=0.5, **recipe))
    rows["frames now"] = from_dataset(make_dataset(train, classes, 224, 64, training=True, camera=True, **recipe))
    say(f"{args.passes} random crops and {args.passes} webcam-like frames (now) of each")

    augmentation = build_augmentation(42, 1.0, 30.0, 0.3)
    photos, squashed, own, turned, whole, labels = {}, [], [], [], [], []
    for sample in train:
        rgb = photos.get(sample.path)
        if rgb is None:
            rgb = load_image(sample.path)
            photos[sample.path] = rgb if sample.label != unknown else None  # keep the 16 photos, not the negatives
        small = resize_image(rgb, views.base_side(224), sample.box or None, sample.hide)  # as training cached it
        whole.append(squash(sample.view(rgb), 224))
        for _ in range(args.passes):
            squashed.append(squash(webcam_view(small, None, rng), 224))
            own.append(squash(webcam_view(sample.covered(rgb), sample.box, rng), 224))
            turned.append(turn_hue(own[-1], rng))
            labels.append(index[sample.label])
    augmented = [np.clip(augmentation(np.asarray(squashed[i:i + 64], np.float32) / 255.0, training=True), 0, 1)
                 for i in range(0, len(squashed), 64)]
    rows["frames before"] = (extract.predict(np.concatenate(augmented), batch_size=64, verbose=0), np.array(labels))
    rows["frames own"], rows["frames turned"] = (features(own), np.array(labels)), (features(turned), np.array(labels))
    whole_labels = np.array([index[s.label] for s in train])
    rows["whole"] = (features(whole), whole_labels)
    rows["whole turned"] = (features([turn_hue(picture, rng) for picture in whole]), whole_labels)
    say("frames of the squashed pictures (before), and the probe's pictures and frames")

    judged = {}
    for split, seed in (("val", args.seed + 1), ("test", args.seed)):
        turn_rng = np.random.default_rng(seed + 20)
        shots = list(region_shots(card.samples(split, model_dir), unknown, 20, seed))
        frames = [squash(frame, 224) for (frame,), _ in shots]
        judged[split] = (features(frames), features([turn_hue(frame, turn_rng) for frame in frames]),
                         np.array([index[label] for _, label in shots]))
    say("webcam-like frames of the validation and test regions")

    recipes = {"before: views + crops + frames of the squashed picture": ["views", "crops", "frames before"],
               "now: views + crops + frames of the picture itself": ["views", "crops", "frames now"],
               "probe: whole + frames, own and turned colours": ["whole", "whole turned", "frames own", "frames turned"]}
    print("\nBest motif right on webcam-like frames (as they are / colours turned):")
    for name, parts in recipes.items():
        x = np.concatenate([rows[part][0] for part in parts])
        y = np.concatenate([rows[part][1] for part in parts])
        fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced")).fit(x, y)
        figures = [f"{split} regions {wilson(int((fitted.predict(plain) == truth).sum()), len(truth))} / "
                   f"{np.mean(fitted.predict(turned_x) == truth):.1%}"
                   for split, (plain, turned_x, truth) in judged.items()]
        print(f"  {name:58s} {len(y):6d} rows\n      " + "\n      ".join(figures), flush=True)


if __name__ == "__main__":
    main()
