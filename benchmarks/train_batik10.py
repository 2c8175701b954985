"""Benchmark: the default recipe on ../shared/datasets/batik10 (10 batik motifs, 442 photos).

Prints test accuracy and training wall time (targets: >= 90%, <= 15 min on the 2-core machine),
then, for this model trained with no `unknown` class, how much of ../shared/datasets/not_textile
and of the Sasirangan photos (cloth it never saw) the open-set score rejects (targets: >= 95% and
>= 90%) while wrongly rejecting at most 5% of its own test images, and the calibration error
(target: ECE <= 5% after temperature scaling).

    python benchmarks/train_batik10.py [--out runs/batik10]
"""

import argparse
import time
from pathlib import Path

from _common import SHARED, UNKNOWN_FOLDERS, seed_keras_cache

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SHARED / "datasets" / "batik10"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "batik10"))
    parser.add_argument("--skip-training", action="store_true", help="re-evaluate an existing --out model")
    args = parser.parse_args()
    seed_keras_cache()

    from sasirangan.config import TrainConfig
    from sasirangan.report import build_report, format_calibrated_reference
    from sasirangan.train import train

    started = time.time()
    if not args.skip_training:
        train(args.data, args.out, TrainConfig(), verbose=2)
    wall = time.time() - started
    unknown = [str(folder) for folder in UNKNOWN_FOLDERS.values()]
    metrics = build_report(args.out, unknown_dirs=unknown, verbose=False)
    not_textile, sasirangan = (metrics["rejection"][folder] for folder in unknown)
    low, high = metrics["accuracy_interval"]
    print(f"RESULT batik10 test accuracy {metrics['accuracy']:.1%} (95% CI {low:.0%}-{high:.0%}) on {metrics['images']} images "
          f"(top-3 {metrics['top3_accuracy']:.1%}, macro F1 {metrics['macro_avg']['f1-score']:.3f}; "
          f"with rejection {metrics['accuracy_with_rejection']:.1%})"
          + ("" if args.skip_training else f"; training wall time {wall / 60:.1f} min"))
    print(f"RESULT rejection: not_textile {not_textile['rejected']:.1%} (AUROC {not_textile['auroc']:.3f}, "
          f"FPR95 {not_textile['fpr95']:.1%}); sasirangan photos {sasirangan['rejected']:.1%} "
          f"(AUROC {sasirangan['auroc']:.3f}, FPR95 {sasirangan['fpr95']:.1%}); own test images wrongly rejected "
          f"{metrics['known_rejected']:.1%}")
    low, high = metrics["ece_after_interval"]
    print(f"RESULT calibration: ECE on test split {metrics['ece_before']:.1%} -> {metrics['ece_after']:.1%} "
          f"(95% CI {low:.0%}-{high:.0%}; T={metrics['temperature']:.2f}); {format_calibrated_reference(metrics)}")
    checks = {"accuracy >= 90%": metrics["accuracy"] >= 0.9,
              "not_textile rejected >= 95%": not_textile["rejected"] >= 0.95,
              "sasirangan photos rejected >= 90%": sasirangan["rejected"] >= 0.9,
              "own test rejected <= 5%": metrics["known_rejected"] <= 0.05,
              "ECE after <= 5%": metrics["ece_after"] <= 0.05}
    if not args.skip_training:
        checks["training <= 15 min"] = wall <= 900
    print("targets: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks.items()))


if __name__ == "__main__":
    main()
