"""Leave one motif out: is a batik motif the model has never seen answered "unknown"?

The other rejection figures are measured on non-textiles and on Sasirangan cloth, both far from
batik. The hard case in use is a new motif of the same kind of cloth. For each class C of
../shared/datasets/batik10 this trains the default recipe on the other nine classes
(runs/unseen_motif/without_C/), fits each open-set score of `sasirangan.openset` on that model's
own train/val split (as `sasirangan calibrate` does), and scores the model's own test split
(known motifs) and every photo of C (the unseen motif). Per left-out motif, and averaged over
motifs with each motif counting once, per method:
- AUROC: known test images vs the unseen motif (1 = every unseen photo scores below every known one);
- unseen rejected: share of C rejected at the threshold fitted on validation (accepts 95% of the
  known validation images: what `sasirangan train` ships);
- known rejected: share of the known test images wrongly rejected at that same threshold;
- oracle: share of C rejected at the threshold that rejects 5% of the known TEST images. It is set
  on the test set, so no shipped model can have it; it only shows what the validation threshold
  loses to its few images.

Ten trainings of the default recipe, about 45 min on 2 cores (then `--skip-training` re-scores):

    python benchmarks/unseen_motif.py [--classes parang kawung ...] [--seed 1] [--skip-training]
"""

import argparse
from pathlib import Path

import numpy as np

from _common import SHARED, image_files, load_splits, seed_keras_cache

ROOT = Path(__file__).resolve().parents[1]
TARGET_ACCEPT = 0.95  # the shipped threshold accepts this share of known validation images
# --quick: a toy recipe that only proves the script runs end to end; its figures mean nothing.
QUICK = {"image_size": 32, "weights": "none", "head_epochs": 1, "fine_tune_epochs": 0}


def leave_out(data_dir: Path, motif: str, work_dir: Path) -> Path:
    """A data folder of symlinks to every class folder but `motif`: no photo is copied, and the
    model card still records the photos' real paths (Sample.to_json resolves links)."""
    folder = work_dir / f"data_without_{motif}"
    if folder.is_dir():
        for link in folder.iterdir():
            link.unlink()  # only our symlinks live here; never delete through them
    folder.mkdir(parents=True, exist_ok=True)
    for class_dir in sorted(data_dir.iterdir()):
        if class_dir.is_dir() and not class_dir.name.startswith(".") and class_dir.name != motif:
            (folder / class_dir.name).symlink_to(class_dir.resolve(), target_is_directory=True)
    return folder


def outputs_of(model, class_names, samples, views) -> dict:
    """The model's outputs (probabilities, logits, features, embedding) for samples, averaged
    over the views its card records, as the CLI and the app answer."""
    from sasirangan.evaluate import model_outputs

    return model_outputs(model, samples, class_names, int(model.input_shape[1]), views)


def score_methods(model_dir: Path, unseen_files: list[Path]) -> dict:
    """{method: figures} for one model: every scorer fitted on the model's own train/val split,
    then asked about its known test images and the photos of the motif it never saw."""
    from sklearn.metrics import roc_auc_score

    from sasirangan.config import UNKNOWN_CLASS
    from sasirangan.data import Sample
    from sasirangan.openset import METHODS, OpenSetScorer

    model, class_names, card, samples, labels = load_splits(model_dir)
    known = [i for i, name in enumerate(class_names) if name != UNKNOWN_CLASS]
    samples["test"] = [s for s, label in zip(samples["test"], labels["test"]) if label in known]
    # The unseen photos need some class name to pass through the pipeline; it is never used.
    samples["unseen"] = [Sample(str(path), class_names[known[0]]) for path in unseen_files]
    outputs = {name: outputs_of(model, class_names, items, card.view_spec) for name, items in samples.items()}

    figures = {}
    for method in METHODS:
        scorer = OpenSetScorer(method, TARGET_ACCEPT, known).fit(outputs["train"], labels["train"],
                                                                 outputs["val"], labels["val"])
        known_scores, unseen_scores = scorer.score(outputs["test"]), scorer.score(outputs["unseen"])
        is_known = np.r_[np.ones(len(known_scores)), np.zeros(len(unseen_scores))]
        oracle = np.quantile(known_scores, 1.0 - TARGET_ACCEPT)  # rejects 5% of the known TEST images
        figures[method] = {"auroc": roc_auc_score(is_known, np.r_[known_scores, unseen_scores]),
                           "unseen_rejected": np.mean(unseen_scores < scorer.threshold_),
                           "known_rejected": np.mean(known_scores < scorer.threshold_),
                           "oracle_rejected": np.mean(unseen_scores < oracle)}
    return {"known_test": len(samples["test"]), "unseen": len(unseen_files), "methods": figures}


def describe(figures: dict) -> str:
    return (f"AUROC {figures['auroc']:.3f}, unseen motif rejected {figures['unseen_rejected']:.1%} at the val "
            f"threshold (known test wrongly rejected {figures['known_rejected']:.1%}); "
            f"oracle, test-set threshold: {figures['oracle_rejected']:.1%}")


def mean_over_motifs(results: dict) -> dict:
    """{method: figures averaged over the left-out motifs}, each motif counting once."""
    methods = next(iter(results.values()))["methods"]
    return {method: {key: float(np.mean([r["methods"][method][key] for r in results.values()])) for key in figures}
            for method, figures in methods.items()}


def markdown_table(means: dict) -> str:
    """Method rows of the figures averaged over motifs: paste into BENCHMARKS.md."""
    rows = ["| open-set method | AUROC known test vs unseen motif | unseen motif rejected (val threshold, "
            f"accepts {TARGET_ACCEPT:.0%} of known val) | known test wrongly rejected (same threshold) | "
            f"oracle: unseen motif rejected when {1 - TARGET_ACCEPT:.0%} of known TEST is rejected |",
            "|---|---:|---:|---:|---:|"]
    for method, mean in means.items():
        rows.append(f"| {method} | {mean['auroc']:.3f} | {mean['unseen_rejected']:.1%} | "
                    f"{mean['known_rejected']:.1%} | {mean['oracle_rejected']:.1%} |")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", nargs="+", help="motifs to leave out, one model each (default: every class)")
    parser.add_argument("--seed", type=int, default=1, help="TrainConfig seed: the split and the training")
    parser.add_argument("--skip-training", action="store_true", help="re-score the existing without_C models")
    parser.add_argument("--data", type=Path, default=SHARED / "datasets" / "batik10", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "unseen_motif", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # toy recipe: tests the script only
    args = parser.parse_args()

    from sasirangan.config import UNKNOWN_CLASS, TrainConfig

    # Check everything before the first training (an hour of it) starts.
    if not args.data.is_dir():
        parser.error(f"data folder '{args.data}' does not exist")
    motifs = [d.name for d in sorted(args.data.iterdir())
              if d.is_dir() and not d.name.startswith(".") and d.name != UNKNOWN_CLASS]
    wrong = [name for name in args.classes or [] if name not in motifs]
    if wrong:
        parser.error(f"no class folder {', '.join(map(repr, wrong))} in {args.data}; choose from {', '.join(motifs)}")
    if len(motifs) < 3:
        parser.error(f"leaving one motif out needs at least 3 classes in {args.data}; found {len(motifs)}")
    chosen = args.classes or motifs
    missing = [m for m in chosen
               if args.skip_training and not (args.runs / f"without_{m}" / "model_card.json").is_file()]
    if missing:
        parser.error(f"--skip-training, but no model in {args.runs} for: {', '.join(missing)}")
    seed_keras_cache()

    from sasirangan.train import train

    config = TrainConfig(seed=args.seed, **(QUICK if args.quick else {}))
    results = {}
    for motif in chosen:
        model_dir = args.runs / f"without_{motif}"
        if not args.skip_training:
            train(leave_out(args.data, motif, args.runs), model_dir, config, verbose=0)
        results[motif] = score_methods(model_dir, image_files(args.data / motif))
        counts = f"{results[motif]['known_test']} known test images, {results[motif]['unseen']} unseen photos"
        for method, figures in results[motif]["methods"].items():
            print(f"RESULT without {motif} ({counts}), {method}: {describe(figures)}", flush=True)
    means = mean_over_motifs(results)
    for method, mean in means.items():
        print(f"RESULT mean over {len(results)} left-out motifs, {method}: {describe(mean)}")
    print(f"\nLeave one motif out of {args.data.name}, seed {args.seed}, mean over {len(results)} motifs "
          f"({', '.join(results)}){' [--quick toy recipe: figures mean nothing]' if args.quick else ''}:\n")
    print(markdown_table(means))


if __name__ == "__main__":
    main()
