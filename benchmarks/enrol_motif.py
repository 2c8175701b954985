"""Enrol a motif without retraining: leave one batik motif out, then teach it from 5 photos.

For each class C of ../shared/datasets/batik10 this trains the default recipe on the other nine
(plus half of not_textile as the `unknown` class, as users are told to train: `--unknown-dir`),
in runs/enrol_motif/without_C/. Then, through the real path (a SQLite catalogue, `sasirangan
catalogue`-style confirmed photos, `Predictor(model, catalogue=...)`, `predict` on each file):
- 5 photos of C are confirmed in a fresh catalogue (seeded choice, near-duplicates of them are
  kept out of what is measured);
- every other photo of C: named C? (target >= 60%);
- the model's own test photos of the nine known motifs: named C? (target <= 5%);
- the held-out half of not_textile (never trained on): named C? (target <= 2%).

The margin a catalogue motif must win by (`sasirangan.enrol.ENROL_MARGIN`) was chosen on the
motifs of the tuning half (a seeded half of the ten); the figures of the other half are reported
apart: no choice was made on them. `--sweep` prints the figures over a grid of margins from the
same predictions (each prediction records its margin).

    python benchmarks/enrol_motif.py                 # ten trainings (about 70 min alone), then the figures
    python benchmarks/enrol_motif.py --skip-training # re-score existing models
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import SHARED, image_files, seed_keras_cache
from unseen_motif import leave_out

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = 5
SPLIT_SEED = 0  # which motifs tune the margin, which photos are references
QUICK = {"image_size": 32, "weights": "none", "head_epochs": 1, "fine_tune_epochs": 0, "crop_passes": 1}
SWEEP = (-0.14, -0.12, -0.10, -0.08, -0.06, -0.05, -0.04, -0.03, -0.02, -0.01, 0.0, 0.02, 0.05)


def not_textile_halves(runs: Path) -> tuple[Path, list[Path]]:
    """Odd-numbered not_textile files (sorted) as symlinks for training; the even ones to measure on."""
    files = image_files(SHARED / "datasets" / "not_textile")
    half = runs / "not_textile_half"
    half.mkdir(parents=True, exist_ok=True)
    for file in files[::2]:
        link = half / file.name
        if not link.exists():
            link.symlink_to(file)
    return half, files[1::2]


def choose_references(files: list[Path], rng) -> tuple[list[Path], list[Path]]:
    """REFERENCES photos from distinct near-duplicate groups; the rest minus their near-duplicates."""
    from sasirangan.config import TrainConfig
    from sasirangan.data import duplicate_groups, load_image, perceptual_hash

    paths = [str(f) for f in files]
    hashes = {p: perceptual_hash(load_image(p)) for p in paths}
    groups = np.array(duplicate_groups(paths, hashes, TrainConfig.duplicate_distance))
    chosen_groups = rng.choice(np.unique(groups), REFERENCES, replace=False)
    references = [files[np.nonzero(groups == g)[0][0]] for g in chosen_groups]
    others = [f for f, g in zip(files, groups) if g not in set(chosen_groups)]
    return references, others


def measure(model_dir: Path, motif: str, motif_files: list[Path], not_textile: list[Path], rng) -> dict:
    """Margins and answers of every measured picture, through a real catalogue and Predictor."""
    from sasirangan.catalogue import Catalogue
    from sasirangan.model import load_model_folder
    from sasirangan.predict import Predictor

    from sasirangan.card import OPEN_SET_FILE
    from sasirangan.enrol import add_class_centres

    if "enrol_centres" not in np.load(model_dir / OPEN_SET_FILE):  # trained by a version without them
        add_class_centres(model_dir)
    _, class_names, card = load_model_folder(model_dir)
    known_samples = [s for s in card.samples("test", model_dir) if s.label != card.unknown_class]
    known_test = [Path(s.path) for s in known_samples]
    without_catalogue = Predictor(model_dir)
    known_right_before = [without_catalogue.predict(f).label == s.label for f, s in zip(known_test, known_samples)]
    references, others = choose_references(motif_files, rng)
    with tempfile.TemporaryDirectory() as folder, Catalogue.open(folder) as catalogue:
        for photo in references:
            catalogue.add_photo(photo, motif, source="import", status="confirmed", by="benchmark")
        predictor = Predictor(model_dir, catalogue=catalogue)

        def answers(files):
            rows = []
            for file in files:
                prediction = predictor.predict(file)
                rows.append({"named": prediction.label, "margin": prediction.match.margin,
                             "cloth_ok": prediction.cloth is None or prediction.cloth >= predictor.cloth_scorer.threshold_,
                             "problem": prediction.problem})
            return rows

        known = answers(known_test)
        for row, sample in zip(known, known_samples):
            row["right"] = row["named"] == sample.label
        return {"motif": answers(others), "known": known, "not_textile": answers(not_textile),
                "references": [p.name for p in references], "known_right_before": known_right_before}


def rates(result: dict, motif: str, margin: float | None = None) -> dict:
    """Share of each group named as the motif; at another margin when given (same gates)."""
    def named(row):
        if margin is None:
            return row["named"] == motif
        return row["margin"] >= margin and row["cloth_ok"] and row["problem"] is None
    return {group: float(np.mean([named(r) for r in result[group]])) for group in ("motif", "known", "not_textile")}


def known_cost(result: dict) -> str:
    """What enrolling costs the motifs the model knows: its test photos named right before and after."""
    before = np.mean(result["known_right_before"])
    after = np.mean([row["right"] for row in result["known"]])
    return f"other motifs named right {before:.1%} without the catalogue, {after:.1%} with it"


def summary_line(name: str, figures: dict, counts: dict | None = None) -> str:
    n = (lambda g: f" of {counts[g]}") if counts else (lambda g: "")
    return (f"{name}: named as the motif: its other photos {figures['motif']:.1%}{n('motif')}, other motifs' test "
            f"photos {figures['known']:.1%}{n('known')}, held-out not_textile {figures['not_textile']:.1%}{n('not_textile')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", nargs="+", help="motifs to leave out (default: every class)")
    parser.add_argument("--seed", type=int, default=1, help="TrainConfig seed")
    parser.add_argument("--skip-training", action="store_true", help="re-score the existing models")
    parser.add_argument("--train-only", action="store_true", help="train the missing models and stop")
    parser.add_argument("--sweep", action="store_true", help="also print figures over a grid of margins")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "enrol_motif", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # toy recipe: tests the script only
    args = parser.parse_args()

    data = SHARED / "datasets" / "batik10"
    motifs = [d.name for d in sorted(data.iterdir()) if d.is_dir()]
    chosen = args.classes or motifs
    tuning = sorted(np.random.default_rng(SPLIT_SEED).permutation(motifs)[: len(motifs) // 2].tolist())
    seed_keras_cache()

    from sasirangan.config import TrainConfig
    from sasirangan.enrol import ENROL_MARGIN
    from sasirangan.train import train

    nt_train, nt_measure = not_textile_halves(args.runs)
    config = TrainConfig(seed=args.seed, unknown_dirs=[str(nt_train)], **(QUICK if args.quick else {}))
    results = {}
    for motif in chosen:
        model_dir = args.runs / f"without_{motif}"
        if not args.skip_training and not (model_dir / "model_card.json").is_file():
            started = time.perf_counter()
            train(leave_out(data, motif, args.runs), model_dir, config, verbose=0)
            print(f"trained without {motif} in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
        if args.train_only:
            continue
        results[motif] = measure(model_dir, motif, image_files(data / motif), nt_measure,
                                 np.random.default_rng([SPLIT_SEED, motifs.index(motif)]))
        counts = {group: len(results[motif][group]) for group in ("motif", "known", "not_textile")}
        print("RESULT " + summary_line(f"{motif} ({'tuning' if motif in tuning else 'held out'})",
                                       rates(results[motif], motif), counts) + "; " + known_cost(results[motif]),
              flush=True)
    if args.train_only:
        return
    (args.runs / "results.json").write_text(json.dumps(results))
    for name, group in (("tuning motifs", tuning), ("held-out motifs", [m for m in motifs if m not in tuning]),
                        ("all motifs", motifs)):
        group = [m for m in group if m in results]
        if group:
            mean = {k: float(np.mean([rates(results[m], m)[k] for m in group])) for k in ("motif", "known", "not_textile")}
            before = np.mean([np.mean(results[m]["known_right_before"]) for m in group])
            after = np.mean([np.mean([row["right"] for row in results[m]["known"]]) for m in group])
            print("RESULT " + summary_line(f"mean over {len(group)} {name} ({', '.join(group)}), margin {ENROL_MARGIN}",
                                           mean) + f"; other motifs named right {before:.1%} -> {after:.1%}")
    if args.sweep:
        for margin in SWEEP:
            for name, group in (("tuning", tuning), ("held out", [m for m in motifs if m not in tuning])):
                group = [m for m in group if m in results]
                if group:
                    mean = {k: float(np.mean([rates(results[m], m, margin)[k] for m in group]))
                            for k in ("motif", "known", "not_textile")}
                    print(f"SWEEP margin {margin:+.2f} {name}: " + summary_line("", mean)[2:])


if __name__ == "__main__":
    main()
