"""Benchmark: train the default recipe on ../shared/datasets/batik10; print test accuracy and wall time.

Targets on the 2-core reference machine: >= 90% test accuracy, training within 15 minutes.

    python benchmarks/train_batik10.py [--out runs/batik10] [--data ../shared/datasets/batik10]
"""

import argparse
import json
import time
from pathlib import Path

from _common import seed_keras_cache

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "batik10"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "batik10"))
    args = parser.parse_args()
    seed_keras_cache()

    from sasirangan.config import TrainConfig
    from sasirangan.train import train

    started = time.time()
    train(args.data, args.out, TrainConfig(), verbose=2)
    wall = time.time() - started
    card = json.loads((Path(args.out) / "model_card.json").read_text())
    metrics = card["test_metrics"]
    print(f"RESULT batik10: test accuracy {metrics['accuracy']:.1%} on {metrics['images']} images "
          f"(top-3 {metrics['top3_accuracy']:.1%}, macro F1 {metrics['macro_f1']:.3f}); "
          f"wall time {wall / 60:.1f} min (training {card['training_seconds'] / 60:.1f} min)")
    print(f"targets: accuracy >= 90% -> {'met' if metrics['accuracy'] >= 0.9 else 'NOT met'}; "
          f"training <= 15 min -> {'met' if wall <= 900 else 'NOT met'}")


if __name__ == "__main__":
    main()
