"""Benchmark: the default recipe on batik10 over several seeds, each a different split.

One 43-image test split measures accuracy to within about +-13 points; pooling the test
predictions of five differently seeded splits (five trainings, about 12 min) narrows that.
Each seed draws its own duplicate-aware split, so every test image is still one its model
never trained on.

    python benchmarks/batik10_seeds.py [--seeds 1 2 3 4 5]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from _common import SHARED, seed_keras_cache

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    args = parser.parse_args()
    seed_keras_cache()

    from sasirangan.config import TrainConfig
    from sasirangan.evaluate import accuracy_interval
    from sasirangan.train import train

    correct, total, per_seed = 0, 0, []
    for seed in args.seeds:
        out = ROOT / "runs" / f"batik10_seed{seed}"
        train(SHARED / "datasets" / "batik10", out, TrainConfig(seed=seed), verbose=0)
        metrics = json.loads((out / "evaluation" / "metrics.json").read_text())
        right = round(metrics["accuracy"] * metrics["images"])
        correct, total = correct + right, total + metrics["images"]
        per_seed.append(metrics["accuracy"])
        print(f"RESULT seed {seed}: test accuracy {metrics['accuracy']:.1%} ({right}/{metrics['images']}), "
              f"validation {json.loads((out / 'model_card.json').read_text())['val_metrics']['accuracy']:.1%}", flush=True)
    low, high = accuracy_interval(correct, total)
    print(f"RESULT batik10 over {len(args.seeds)} splits: pooled test accuracy {correct / total:.1%} "
          f"({correct}/{total}, 95% CI {low:.0%}-{high:.0%}); per split mean {np.mean(per_seed):.1%}, "
          f"min {min(per_seed):.1%}, max {max(per_seed):.1%}")


if __name__ == "__main__":
    main()
