"""Recipe variants on ../shared/datasets/batik10, compared on the VALIDATION split only.

Reproduces the variant table in BENCHMARKS.md (about 40 minutes on 2 cores for all of them):

    python benchmarks/recipe_variants.py [NAME ...]
"""

import argparse
import json
import time
from pathlib import Path

from _common import SHARED, seed_keras_cache

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "default": {},
    "224_top60_lr1e-4": {"fine_tune_learning_rate": 1e-4, "fine_tune_layers": 60},
    "320_top60_lr1e-4": {"image_size": 320, "fine_tune_learning_rate": 1e-4, "fine_tune_layers": 60},
    "384_top80_lr1e-4": {"image_size": 384, "fine_tune_learning_rate": 1e-4, "fine_tune_layers": 80},
    "320_all_lr1e-4": {"image_size": 320, "fine_tune_learning_rate": 1e-4, "fine_tune_layers": 150, "fine_tune_epochs": 20},
    "dropout0.5": {"dropout": 0.5},
    "head_lr3e-4": {"head_learning_rate": 3e-4, "patience": 6},
    "batch16": {"batch_size": 16},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"variants to run (default: all): {', '.join(VARIANTS)}")
    args = parser.parse_args()
    seed_keras_cache()

    from sasirangan.config import TrainConfig
    from sasirangan.train import train

    unknown = [name for name in args.names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    for name in args.names or VARIANTS:
        out = ROOT / "runs" / f"variant_{name}"
        started = time.time()
        train(SHARED / "datasets" / "batik10", out, TrainConfig(**VARIANTS[name]), verbose=0)
        card = json.loads((out / "model_card.json").read_text())
        print(f"RESULT {name}: validation accuracy {card['val_metrics']['accuracy']:.1%} "
              f"in {(time.time() - started) / 60:.1f} min {VARIANTS[name]}", flush=True)


if __name__ == "__main__":
    main()
