"""How steady is the open-set threshold from one split to the next?

For each model (e.g. the five `batik10_seeds.py` models, each with its own split) it sets the
default score's threshold two ways and prints what each rejects: the 5% quantile of the
validation images (what `sasirangan train` does: 43 scores for batik10), and the same quantile
of the validation images plus out-of-fold scores of the training images ("cross-fit", about 400
scores; see `openset_features.py`).

    python benchmarks/batik10_seeds.py && python benchmarks/threshold_stability.py runs/batik10_seed{1,2,3,4,5}
"""

import argparse

import numpy as np

from _common import UNKNOWN_FOLDERS, seed_keras_cache
from openset_features import candidate_scores, extract, load_sets

DEFAULT = [(["block_13_expand_relu:mean"], [0])]  # the default score: Mahalanobis, pooled block_13, whole photo


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dirs", nargs="+")
    args = parser.parse_args()
    seed_keras_cache()

    rows = {"val": [], "cross-fit": []}
    print(f"{'model':<28} {'threshold':<10} " + " ".join(f"{name:>12}" for name in UNKNOWN_FOLDERS) + f" {'own test':>9}  (share rejected)")
    for model_dir in args.model_dirs:
        model, samples, labels = load_sets(model_dir)
        data = {name: extract(model, items, boxes=(None,)) for name, items in samples.items()}
        scores, held_out = candidate_scores(DEFAULT, data, labels)
        for label, threshold in (("val", np.quantile(scores["val"], 0.05)), ("cross-fit", np.quantile(held_out, 0.05))):
            rejected = [np.mean(scores[name] < threshold) for name in [*UNKNOWN_FOLDERS, "test"]]
            rows[label].append(rejected)
            print(f"{model_dir:<28} {label:<10} " + " ".join(f"{r:>12.1%}" for r in rejected), flush=True)
    for label, values in rows.items():
        values = np.array(values)
        print(f"RESULT {label} threshold, mean over {len(values)} models: "
              + ", ".join(f"{name} rejected {v:.1%}" for name, v in zip([*UNKNOWN_FOLDERS, "own test"], values.mean(axis=0)))
              + f" (own test at most {values[:, -1].max():.1%})")


if __name__ == "__main__":
    main()
