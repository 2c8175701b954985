"""Compare open-set scores on a trained model: how well each separates known test images from
pictures of things the model never saw (AUROC), and what a 95%-accept threshold set on the
validation split rejects.

    python benchmarks/openset_methods.py runs/batik10 ../shared/datasets/not_textile ../shared/datasets/sasirangan/photos
"""

import argparse
from pathlib import Path

import numpy as np

from _common import seed_keras_cache


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("unknown_dirs", nargs="+")
    args = parser.parse_args()
    seed_keras_cache()

    from sklearn.metrics import roc_auc_score

    from sasirangan.data import Sample
    from sasirangan.evaluate import model_outputs
    from sasirangan.model import load_model_folder
    from sasirangan.openset import METHODS, OpenSetScorer

    model, class_names, card = load_model_folder(args.model_dir)
    size = int(model.input_shape[1])
    index = {name: i for i, name in enumerate(class_names)}
    known = [i for i, name in enumerate(class_names) if name != "unknown"]
    outputs, labels = {}, {}
    for split in ("train", "val", "test"):
        samples = card.samples(split, args.model_dir)
        outputs[split] = model_outputs(model, samples, class_names, size, card.view_spec)
        labels[split] = np.array([index[s.label] for s in samples])
    negatives = {}
    for folder in args.unknown_dirs:
        files = [p for p in sorted(Path(folder).rglob("*")) if p.is_file()]
        scan_samples = [Sample(str(p), class_names[0]) for p in files if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
        negatives[Path(folder).name] = model_outputs(model, scan_samples, class_names, size, card.view_spec)

    print(f"{'method':<12} " + " ".join(f"{name + ' AUROC':>22} {name + ' rejected':>22}" for name in negatives)
          + f" {'known test rejected':>20}")
    for method in METHODS:
        scorer = OpenSetScorer(method, 0.95, known).fit(outputs["train"], labels["train"], outputs["val"], labels["val"])
        test_known = np.isin(labels["test"], known)
        known_scores = scorer.score({k: v[test_known] for k, v in outputs["test"].items()})
        row = f"{method:<12} "
        for name, out in negatives.items():
            scores = scorer.score(out)
            auroc = roc_auc_score(np.r_[np.ones(len(known_scores)), np.zeros(len(scores))], np.r_[known_scores, scores])
            row += f"{auroc:>22.3f} {np.mean(scores < scorer.threshold_):>22.1%}"
        row += f" {np.mean(known_scores < scorer.threshold_):>20.1%}"
        print(row)


if __name__ == "__main__":
    main()
