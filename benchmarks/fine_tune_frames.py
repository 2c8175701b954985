"""Would fine-tuning the backbone make the bundled recipe's best motif right on more webcam frames?

The bundled recipe keeps the backbone frozen: its head learns from features of crops and
webcam-like frames computed once. `--fine-tune-layers` (phase 2 of `sasirangan train`) trains on
random crops only and keeps its weights only if the loss on the whole validation pictures falls.
This asks the question on what issue 10 measures instead: the bundled recipe trained on the
train split alone (`models/train_default.sh --no-refit --cloth-folds 0`, about 25 min, made once
into `--base`), then the top of its backbone and its head fine-tuned on random crops *and*
webcam-like frames of the training pictures (as phase 1's features are made), and after each epoch
the best motif (the unknown class left out) on the 320 webcam-like frames of the held-out
*validation* regions (`honest_answers.region_shots`, same seed). The test-region frames are read
once, after the last epoch of each setting: nothing is chosen on them.

    python benchmarks/fine_tune_frames.py   (about 25 min for the base, then about 20)
"""

import argparse
import subprocess
import time
from pathlib import Path

import honest_answers as ha
import numpy as np
from _common import load_splits, seed_keras_cache

# (top backbone layers unfrozen, learning rate, webcam-like frames of each training picture an epoch)
SETTINGS = [(20, 1e-5, 1), (40, 1e-4, 2)]


def frames(samples, class_names, unknown_class: str, image_size: int, count: int, seed: int):
    """The `count` webcam-like frames of each held-out region in `samples`, as the model takes
    them (the live path's one whole view), and their motifs."""
    from sasirangan.views import WHOLE, image_views

    shots = list(ha.region_shots(samples, unknown_class, count, seed))
    return (np.stack([image_views(burst[0], image_size, WHOLE)[0] for burst, _ in shots]),
            np.array([class_names.index(label) for _, label in shots]))


def best_motif_right(model, x, y, unknown: int) -> int:
    probabilities = np.array(model.predict(x, batch_size=32, verbose=0))
    probabilities[:, unknown] = -1.0
    return int((probabilities.argmax(axis=1) == y).sum())


def training_batches(samples, class_names, config, camera_passes: int, seed: int):
    """One epoch: a random crop of each training picture (augmented as phase 1's) and
    `camera_passes` webcam-like frames of it, shuffled together."""
    from sasirangan.data import make_dataset

    crops = make_dataset(samples, class_names, config.image_size, config.batch_size, training=True,
                         augment=config.augment, seed=seed, hue=config.hue, blur=config.blur, views=config.views,
                         tilt=config.tilt, perspective=config.perspective)
    camera = make_dataset(samples, class_names, config.image_size, config.batch_size, training=True,
                          augment=config.augment, seed=seed + 1, hue=config.hue, views=config.views,
                          passes=camera_passes, camera=True, camera_zoom=config.camera_zoom)
    return crops.concatenate(camera).unbatch().shuffle(2048, seed=seed).batch(config.batch_size)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, default=ha.ROOT / "runs" / "fine_tune_base",
                        help="the bundled recipe trained on the train split alone (made here if missing)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--frames", type=int, default=20, help="webcam-like frames per held-out region")
    parser.add_argument("--seed", type=int, default=0, help="the frames' seed (honest_answers.py's default)")
    args = parser.parse_args()
    seed_keras_cache()
    if not (args.base / "model.keras").is_file():
        print(f"Training the base into {args.base} (about 25 min) ...", flush=True)
        subprocess.run(["bash", str(ha.ROOT / "models" / "train_default.sh"), "--out", str(args.base),
                        "--no-refit", "--cloth-folds", "0"], check=True)
    import keras

    from sasirangan.config import TrainConfig
    from sasirangan.model import load_model_folder
    from sasirangan.train import _class_weights, _compile, unfreeze

    _, class_names, card, samples, labels = load_splits(args.base)
    config = TrainConfig(**{name: value for name, value in card.config.items() if name in TrainConfig.field_names()})
    unknown = class_names.index(card.unknown_class)
    val_x, val_y = frames(samples["val"], class_names, card.unknown_class, config.image_size, args.frames, args.seed)
    test_x, test_y = frames(samples["test"], class_names, card.unknown_class, config.image_size, args.frames, args.seed)
    model = load_model_folder(args.base)[0]
    start = best_motif_right(model, val_x, val_y, unknown)
    read_after = {"the base (no fine-tuning)": best_motif_right(model, test_x, test_y, unknown)}
    print(f"Best motif right on the {len(val_y)} validation-region frames: the base {start}/{len(val_y)}", flush=True)
    for layers, learning_rate, camera_passes in SETTINGS:
        name = f"top {layers} layers, learning rate {learning_rate:g}, {camera_passes} frame(s) a picture"
        keras.utils.set_random_seed(config.seed)
        model = load_model_folder(args.base)[0]
        tuned = TrainConfig(**{**config.to_dict(), "fine_tune_layers": layers})
        unfreeze(model.get_layer("backbone"), tuned)
        batches = training_batches(samples["train"], class_names, tuned, camera_passes, config.seed)
        steps = int(np.ceil(len(samples["train"]) * (1 + camera_passes) / config.batch_size))
        _compile(model, tuned, learning_rate, len(class_names), steps, args.epochs)
        for epoch in range(args.epochs):
            began = time.time()
            model.fit(batches, epochs=1, class_weight=_class_weights(labels["train"], len(class_names)), verbose=0)
            right = best_motif_right(model, val_x, val_y, unknown)
            print(f"  {name}, epoch {epoch + 1}: {right}/{len(val_y)} ({time.time() - began:.0f} s)", flush=True)
        read_after[name] = best_motif_right(model, test_x, test_y, unknown)
    print(f"\nRead after, never chosen on: best motif right on the {len(test_y)} test-region frames")
    for name, hits in read_after.items():
        print(f"  {name}: {hits}/{len(test_y)}")


if __name__ == "__main__":
    main()
