"""Benchmark: the default recipe on batik10 over several seeds, each a different split.

One 43-image test split measures accuracy to within about +-13 points and the calibration
error hardly at all; pooling the test predictions of five differently seeded splits (five
trainings and reports, about 25 min) narrows both. Each seed draws its own duplicate-aware
split, so every test image is still one its model never trained on. Each model is also asked
to reject ../shared/datasets/not_textile and the Sasirangan photos (open-set score alone), so
the rejection figures show how much they move from split to split.

    python benchmarks/batik10_seeds.py [--seeds 1 2 3 4 5]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from _common import SHARED, UNKNOWN_FOLDERS, seed_keras_cache

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--skip-training", action="store_true", help="re-evaluate existing runs/batik10_seedN models")
    args = parser.parse_args()
    seed_keras_cache()

    from sasirangan.calibrate import calibration_error, ece_of_calibrated_model
    from sasirangan.config import TrainConfig
    from sasirangan.evaluate import accuracy_interval
    from sasirangan.report import build_report
    from sasirangan.train import train

    confidence, correct, per_seed, rejected = [], [], [], {name: [] for name in UNKNOWN_FOLDERS}
    for seed in args.seeds:
        out = ROOT / "runs" / f"batik10_seed{seed}"
        if not args.skip_training:
            train(SHARED / "datasets" / "batik10", out, TrainConfig(seed=seed), verbose=0)
        metrics = build_report(out, unknown_dirs=[str(folder) for folder in UNKNOWN_FOLDERS.values()], verbose=False)
        points = metrics["calibration_points"]
        confidence += points["confidence"]
        correct += points["correct"]
        per_seed.append(metrics["accuracy"])
        for name, folder in UNKNOWN_FOLDERS.items():
            rejected[name].append(metrics["rejection"][str(folder)]["rejected"])
        print(f"RESULT seed {seed}: test accuracy {metrics['accuracy']:.1%} ({sum(points['correct'])}/{metrics['images']}), "
              f"validation {json.loads((out / 'model_card.json').read_text())['val_metrics']['accuracy']:.1%}; "
              f"ECE after scaling {metrics['ece_after']:.1%}; rejected: "
              + ", ".join(f"{name} {values[-1]:.1%}" for name, values in rejected.items())
              + f", own test {metrics['known_rejected']:.1%}", flush=True)
    confidence, correct = np.array(confidence), np.array(correct, dtype=bool)
    low, high = accuracy_interval(int(correct.sum()), len(correct))
    print(f"RESULT batik10 over {len(args.seeds)} splits: pooled test accuracy {correct.mean():.1%} "
          f"({correct.sum()}/{len(correct)}, 95% CI {low:.0%}-{high:.0%}); per split mean {np.mean(per_seed):.1%}, "
          f"min {min(per_seed):.1%}, max {max(per_seed):.1%}")
    reference, upper = ece_of_calibrated_model(confidence)
    print(f"RESULT pooled ECE after temperature scaling {calibration_error(confidence, correct):.1%} "
          f"on {len(correct)} images "
          f"(mean confidence {confidence.mean():.1%}, accuracy {correct.mean():.1%}); a perfectly calibrated model would "
          f"measure {reference:.1%}, up to {upper:.1%}")
    for name, values in rejected.items():
        print(f"RESULT {name} rejected per split: " + ", ".join(f"{v:.1%}" for v in values)
              + f" (mean {np.mean(values):.1%})")


if __name__ == "__main__":
    main()
