"""Benchmark: the bundled model models/sasirangan_default on its own held-out test split.

Prints motif accuracy on test crops (regions of each photo that training never saw), the share of
held-out non-Sasirangan images (test-split negatives it was not trained on) that it rejects
(target: >= 99% while wrongly rejecting at most 5% of motif crops), and the calibration error.
Then, as a sanity check only (these photos were partly seen in training), its answer on each
whole photo.

    python benchmarks/default_model.py [--model models/sasirangan_default]
"""

import argparse
from pathlib import Path

import numpy as np

from _common import SHARED, seed_keras_cache

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "sasirangan_default"))
    args = parser.parse_args()
    seed_keras_cache()

    from sasirangan.predict import Predictor
    from sasirangan.report import build_report, format_calibrated_reference

    metrics = build_report(args.model, out_dir=ROOT / "runs" / "default_model_evaluation", verbose=False)
    labels = metrics["decision_confusion_matrix"]["labels"]
    matrix = np.array(metrics["decision_confusion_matrix"]["matrix"])
    unknown = labels.index("unknown")
    motifs = [i for i in range(len(labels)) if i != unknown]
    motif_rows = matrix[motifs]
    motif_accuracy = sum(matrix[i, i] for i in motifs) / motif_rows.sum()
    negatives_rejected = matrix[unknown, unknown] / matrix[unknown].sum()
    print(f"RESULT default model: motif accuracy on test crops {motif_accuracy:.1%} ({motif_rows.sum()} crops of "
          f"{len(motifs)} motifs); motif crops wrongly rejected {motif_rows[:, unknown].sum() / motif_rows.sum():.1%}")
    print(f"RESULT held-out non-Sasirangan images rejected: {negatives_rejected:.1%} "
          f"({matrix[unknown, unknown]} of {matrix[unknown].sum()}; target >= 99%)")
    low, high = metrics["ece_after_interval"]
    print(f"RESULT calibration: ECE on test split {metrics['ece_before']:.1%} -> {metrics['ece_after']:.1%} "
          f"(95% CI {low:.0%}-{high:.0%}; T={metrics['temperature']:.2f}; {format_calibrated_reference(metrics)}); "
          f"overall accuracy with rejection {metrics['accuracy_with_rejection']:.1%}")
    predictor = Predictor(args.model)
    photos = sorted((SHARED / "datasets" / "sasirangan" / "photos").glob("*/*"))
    right = 0
    for photo in photos:
        answer = predictor.predict(photo)
        right += answer.label == photo.parent.name
        print(f"  whole photo {photo.parent.name:<24} -> {answer.label:<24} {answer.confidence:.0%}")
    print(f"sanity (whole photos, partly seen in training): {right}/{len(photos)} named correctly")


if __name__ == "__main__":
    main()
