"""Does the mid-level layer see the motifs better at another input size than MobileNetV2's 224?

The same probe and rows as `feature_layers.py` (a model folder's training pictures whole and 3
webcam-like frames of each, as they are and with colours turned; standardised logistic regression,
C = 0.1) on the pooled `block_13_expand_relu` (the layer the bundled head reads), with every
picture resized to each size. Fitted on the TRAINING split only and judged top-1 on the webcam-like
frames of the VALIDATION regions (the test regions are not looked at). A smaller size shows the
layer more of the cloth per unit; a larger one more detail.

    python benchmarks/input_size.py                      # 224 192 160 288 320 (about 12 min)
    python benchmarks/input_size.py --sizes 224 192
"""

import argparse
import json
from pathlib import Path

import numpy as np

from _common import seed_keras_cache
from feature_layers import PooledLayers, best_motif_right, fit, region_frames, training_rows
from honest_answers import ROOT, wilson

LAYER = "block_13_expand_relu"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "sasirangan_default"),
                        help="the model folder whose split (train/val/test regions) is used")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 192, 160, 288, 320])
    args = parser.parse_args()
    seed_keras_cache()
    from sasirangan.card import CLASS_NAMES_FILE, ModelCard

    model_dir = Path(args.model)
    card = ModelCard.load(model_dir, json.loads((model_dir / CLASS_NAMES_FILE).read_text()), None)
    print(f"Probe on pooled {LAYER}, fitted on the training split, top-1 on validation-region frames:")
    for size in args.sizes:
        pooled = PooledLayers(size)
        columns = pooled.columns(LAYER)
        train_x, train_y = training_rows(pooled, card, model_dir, "train", np.random.default_rng(123))
        plain, turned, labels = region_frames(pooled, card, model_dir, "val", seed=1)
        probe = fit(train_x[:, columns], train_y)
        print(f"  {size:3d} px: frames {wilson(best_motif_right(probe, plain[:, columns], labels), len(labels))}; "
              f"colours turned {wilson(best_motif_right(probe, turned[:, columns], labels), len(labels))}", flush=True)


if __name__ == "__main__":
    main()
