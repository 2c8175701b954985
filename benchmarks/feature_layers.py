"""Which backbone layer the head should read, judged on webcam-like frames of regions training never saw.

For several MobileNetV2 layers (ImageNet weights, frozen, average-pooled), a logistic regression
(standardised, C = 0.1, balanced classes) is fitted on a model folder's own training pictures: each
picture whole and 3 webcam-like frames of it (`sasirangan.webcam`; training regions only, the
held-out regions covered), each as it is and with its colours turned at random. It is judged on
the best motif (top-1 over the motifs) of 20 webcam-like frames of each photo's VALIDATION
region, where the layer is chosen. Then the chosen layer and the last layer are refitted on
train + validation and judged once on the TEST-region frames, the very frames
`honest_answers.py` shows the model (same seed), as they are and with their colours turned.

    python benchmarks/feature_layers.py [--model models/sasirangan_default]   (about 12 min)
"""

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from _common import seed_keras_cache
from honest_answers import ROOT, region_shots, wilson

LAYERS = ("block_11_expand_relu", "block_12_expand_relu", "block_13_expand_relu", "block_14_expand_relu",
          "block_15_expand_relu", "block_16_project_BN", "out_relu")  # block_13_expand_relu: the table's embedding layer
FRAMES_PER_PICTURE = 3
IMAGENET_224 = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"  # in the Keras cache


class PooledLayers:
    """Pooled activations of LAYERS for batches of pictures (one forward pass for all), the
    pictures resized to `image_size` (the ImageNet weights are those of 224 px: a convolution's
    weights do not depend on the picture's size)."""

    def __init__(self, image_size: int = 224):
        import keras
        import tensorflow as tf

        from sasirangan.backbones import keras_cache
        from sasirangan.model import build_model

        self.image_size = image_size
        cached = keras_cache() / IMAGENET_224  # else keras fetches the weights of 96..192 px for those sizes
        model = build_model(2, image_size, str(cached) if cached.exists() else "imagenet", features="top")
        network = model.get_layer("backbone")
        tapped = keras.Model(network.inputs, [network.get_layer(name).output for name in LAYERS])
        normalise = model.get_layer("normalise")
        self.widths = [int(tapped.outputs[i].shape[-1]) for i in range(len(LAYERS))]
        self._run = tf.function(lambda x: tf.concat(
            [tf.reduce_mean(o, axis=[1, 2]) for o in tapped(normalise(x), training=False)], axis=-1))
        self.pending, self.rows = [], []

    def add(self, picture: np.ndarray) -> None:
        from sasirangan.views import WHOLE, image_views

        self.pending.append(image_views(picture, self.image_size, WHOLE)[0])
        if len(self.pending) == 64:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.rows.append(self._run(np.stack(self.pending)).numpy())
            self.pending = []

    def take(self) -> np.ndarray:
        self.flush()
        rows, self.rows = np.concatenate(self.rows), []
        return rows

    def columns(self, layer: str) -> slice:
        start = sum(self.widths[:LAYERS.index(layer)])
        return slice(start, start + self.widths[LAYERS.index(layer)])


def training_rows(pooled, card, model_dir, split, rng):
    """Each picture of the split whole and FRAMES_PER_PICTURE frames of it (motifs only), as
    they are and colours turned (motifs only): (features, labels)."""
    from sasirangan.data import load_image, turn_hue
    from sasirangan.webcam import webcam_view

    labels = []
    for sample in card.samples(split, model_dir):
        rgb = load_image(sample.path)
        motif = sample.label != card.unknown_class
        pictures = [sample.view(rgb)]
        if motif:
            covered = sample.covered(rgb)
            pictures += [webcam_view(covered, sample.box, rng) for _ in range(FRAMES_PER_PICTURE)]
        for picture in pictures:
            for turned in ((False, True) if motif else (False,)):
                pooled.add(turn_hue(picture, rng) if turned else picture)
                labels.append(sample.label)
    return pooled.take(), np.array(labels)


def region_frames(pooled, card, model_dir, split, seed, count=20):
    """The webcam-like frames of each photo's held-out `split` region (`honest_answers.region_shots`,
    the same frames for the same seed): (features, features with colours turned, motif)."""
    from sasirangan.data import turn_hue

    shots = list(region_shots(card.samples(split, model_dir), card.unknown_class, count, seed))
    turn_rng = np.random.default_rng(seed + 20)
    for (frame,), _ in shots:
        pooled.add(frame)
    plain = pooled.take()
    for (frame,), _ in shots:
        pooled.add(turn_hue(frame, turn_rng))
    return plain, pooled.take(), np.array([label for _, label in shots])


def best_motif_right(probe, x, labels) -> int:
    classes = np.array(probe.classes_)
    motifs = np.flatnonzero(classes != "unknown")
    return int((classes[motifs][probe.predict_proba(x)[:, motifs].argmax(axis=1)] == labels).sum())


def fit(x, y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs may stop at max_iter on the widest layer: fine for a floor
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, class_weight="balanced")).fit(x, y)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "sasirangan_default"),
                        help="the model folder whose split (train/val/test regions) is used")
    args = parser.parse_args()
    seed_keras_cache()
    from sasirangan.card import CLASS_NAMES_FILE, ModelCard

    model_dir = Path(args.model)
    card = ModelCard.load(model_dir, json.loads((model_dir / CLASS_NAMES_FILE).read_text()), None)
    pooled = PooledLayers()
    rng = np.random.default_rng(123)
    train_x, train_y = training_rows(pooled, card, model_dir, "train", rng)
    val_x, val_y = training_rows(pooled, card, model_dir, "val", rng)
    test_frames = region_frames(pooled, card, model_dir, "test", seed=0)
    val_frames = region_frames(pooled, card, model_dir, "val", seed=1)
    print(f"{len(train_y)} training rows, {len(val_y)} validation rows; {len(val_frames[2])} validation-region and "
          f"{len(test_frames[2])} test-region frames")

    print("\nFitted on train, best motif right on the VALIDATION-region frames (the choice):")
    scores = {}
    for layer in LAYERS:
        columns = pooled.columns(layer)
        probe = fit(train_x[:, columns], train_y)
        plain, turned = (best_motif_right(probe, x[:, columns], val_frames[2]) for x in val_frames[:2])
        scores[layer] = plain + turned
        total = len(val_frames[2])
        print(f"  {layer:22s} ({columns.stop - columns.start:4d} features): as they are {wilson(plain, total)}; "
              f"colours turned {wilson(turned, total)}")
    chosen = max(scores, key=scores.get)
    print(f"Chosen: {chosen}")

    print("\nRefitted on train + validation, best motif right on the TEST-region frames (judged once):")
    for layer in dict.fromkeys([chosen, "out_relu"]):
        columns = pooled.columns(layer)
        probe = fit(np.concatenate([train_x, val_x])[:, columns], np.concatenate([train_y, val_y]))
        total = len(test_frames[2])
        plain, turned = (best_motif_right(probe, x[:, columns], test_frames[2]) for x in test_frames[:2])
        print(f"  {layer:22s} as they are {wilson(plain, total)}; colours turned {wilson(turned, total)}")


if __name__ == "__main__":
    main()
