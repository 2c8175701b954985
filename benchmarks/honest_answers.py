"""Benchmark: the three kinds of answer (motif / not sure which / not a motif) of a model folder.

Issue 10's targets, on the bundled model by default:
- webcam-like views (640x480, zoomed 1.5-3x, turned up to 30 degrees, slanted, blurred, relit;
  `sasirangan.webcam`) of the *held-out test region* of each of the 16 photos, answered as the
  live webcam path answers a frame: named correctly (verdict "motif", right motif) >= 90%;
- `not_textile`: verdict "not_motif" >= 95%;
- Sasirangan cloth of other motifs, and batik10 photos: never a confident motif name
  (verdict "uncertain" or "not_motif") >= 95%.
Pictures the model was trained or calibrated on (its card's train and val splits) are counted
apart from the held-out ones (its test split, and files it never listed), and the targets are
judged on the held-out ones. Also printed, for information: a steady camera's answer after 5
frames (averaged as the live app averages them; `webcam.webcam_burst`), the test crops through the upload
path, the validation regions' webcam views (where thresholds are chosen), and the 12 line
drawings (the motifs' shapes, a stand-in for book plates: named, and the motif in the top 3).

    python benchmarks/honest_answers.py [--model models/sasirangan_default] [--frames 20] [--seed 0] [--probe]
        [--sweep [--choice-dir DIR]]
"""

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from _common import SHARED, image_files, seed_keras_cache

ROOT = Path(__file__).resolve().parents[1]
DRAWING_ALIASES = {"kembang_tampuk_manggis": "kambang_tampuk_manggis"}  # drawing slug -> photo slug
# A photo at most this long on its long side has held-out regions of under 100 px: its webcam-like
# frames show a few dozen pixels of cloth enlarged to 640x480, so they are reported apart too.
SMALL_PHOTO_SIDE = 300


def wilson(hits: int, total: int) -> str:
    from sasirangan.evaluate import accuracy_interval

    low, high = accuracy_interval(hits, total)
    return f"{hits}/{total} = {hits / max(total, 1):.1%} (95% CI {low:.0%}-{high:.0%})"


def verdict_counts(predictions) -> str:
    counts = Counter(p.verdict for p in predictions)
    problems = Counter(p.problem for p in predictions if p.problem)
    text = ", ".join(f"{name} {counts[name]}" for name in ("motif", "uncertain", "not_motif"))
    return text + (f"; picture problems: {dict(problems)}" if problems else "")


def region_shots(samples, unknown_class: str, count: int, seed: int, steady: bool = False):
    """([frame, ...], motif) for `count` shots of each photo's held-out region in `samples`, always
    in this order and from this seed: one webcam-like frame each, or (`steady`) a burst of 5 frames
    of a steady camera. The one source of the frames every measurement here (and
    `feature_layers.py`) is judged on."""
    from sasirangan.data import load_image
    from sasirangan.webcam import held_out_region, webcam_burst, webcam_view

    rng = np.random.default_rng(seed)
    for (path, label), photo_boxes in sorted(_region_boxes(samples, unknown_class).items()):
        rgb, region = load_image(path), held_out_region(photo_boxes)
        for _ in range(count):
            yield (webcam_burst(rgb, region, rng) if steady else [webcam_view(rgb, region, rng)]), label


def camera_answers(predictor, samples, count: int, seed: int, steady: bool = False, features: list | None = None,
                   kept: list | None = None):
    """{motif: [Prediction, ...]} for the `region_shots` of `samples`; a burst's outputs are
    averaged as the live app averages its last 5 frames (`app.predict_frame`).
    With `features`, (pooled backbone features of the frame, of the frame with its colours turned
    at random, the model's best motif on that turned frame, motif) is appended to it for each
    answer (single frames only). With `kept`, (outputs, frame, motif) is appended for each answer,
    to be decided again (`threshold_sweep`)."""
    from sasirangan.data import turn_hue
    from sasirangan.views import WHOLE

    turn_rng = np.random.default_rng(seed + 20)  # its own stream: the frames stay those of runs without it
    answers = defaultdict(list)
    for frames, label in region_shots(samples, predictor.card.unknown_class, count, seed, steady):
        outputs = [predictor.outputs(frame, WHOLE) for frame in frames]
        mean = {key: np.mean([o[key] for o in outputs], axis=0) for key in outputs[0]}
        answers[label].append(predictor.decide(mean, picture=frames[-1]))
        if kept is not None:
            kept.append((mean, frames[-1], label))
        if features is not None:
            turned = predictor.outputs(turn_hue(frames[-1], turn_rng), WHOLE)
            features.append((np.ravel(mean["features"]), np.ravel(turned["features"]),
                             predictor.decide(turned).top[0][0], label))
    return answers


def _region_boxes(samples, unknown_class: str) -> dict:
    boxes = defaultdict(list)
    for sample in samples:
        if sample.label != unknown_class and sample.box:
            boxes[(sample.path, sample.label)].append(sample.box)
    return boxes


def small_photo_motifs(samples, unknown_class: str) -> set[str]:
    """The motifs whose photo is at most SMALL_PHOTO_SIDE pixels on its long side."""
    from PIL import Image

    return {label for path, label in _region_boxes(samples, unknown_class)
            if max(Image.open(path).size) <= SMALL_PHOTO_SIDE}


def report_webcam(title: str, answers, predictor, small: set[str] = frozenset()) -> float:
    """Per motif and in all: named right, named wrong, best motif right; with `small`, also the
    motifs of small photos apart from the rest."""
    print(f"\n{title}")
    named, total, best_total = 0, 0, 0
    for label, predictions in sorted(answers.items()):
        right = sum(p.verdict == "motif" and p.label == label for p in predictions)
        wrong = sum(p.verdict == "motif" and p.label != label for p in predictions)
        best = sum(p.top[0][0] == label for p in predictions)
        named, total, best_total = named + right, total + len(predictions), best_total + best
        print(f"  {label:24s} named right {right:3d}/{len(predictions)}   named wrong {wrong:3d}   "
              f"best motif right {best:3d}   {verdict_counts(predictions)}")
    everything = [p for predictions in answers.values() for p in predictions]
    print(f"  ALL: named right {wilson(named, total)}; {verdict_counts(everything)}")
    print(f"  ALL: best motif right, whatever the verdict {wilson(best_total, total)}")
    unnamed = [p for label, predictions in answers.items() for p in predictions
               if p.top[0][0] == label and p.verdict != "motif"]
    unsure = sum(p.top[0][1] < predictor.confident for p in unnamed)
    not_cloth = sum(p.cloth is not None and p.cloth < predictor.cloth_scorer.threshold_ for p in unnamed)
    print(f"  ... of which not named: {len(unnamed)}; below the confidence rule {unsure}, judged not cloth {not_cloth} "
          "(a frame can be both)")
    if unnamed:  # is the missing confidence with the unknown class (other cloth) or with other motifs?
        print(f"  ... their calibrated probability, on average: best motif {np.mean([p.top[0][1] for p in unnamed]):.2f}, "
              f"unknown class {np.mean([p.probabilities.get(predictor.card.unknown_class, 0.0) for p in unnamed]):.3f}")
    for name, motifs in ((f"photos of at most {SMALL_PHOTO_SIDE} px", sorted(small)),
                         ("larger photos", sorted(set(answers) - set(small)))):
        if small and motifs:
            group = [(p, label) for label in motifs for p in answers[label]]
            right = sum(p.verdict == "motif" and p.label == label for p, label in group)
            best = sum(p.top[0][0] == label for p, label in group)
            print(f"  {name} ({', '.join(motifs)}): named right {wilson(right, len(group))}; "
                  f"best motif right {wilson(best, len(group))}")
    return named / max(total, 1)


def probe_floor(predictor, card, model_dir, test_features: list, seed: int) -> None:
    """The floor to beat on the same frames: a logistic regression on the same frozen pooled
    ImageNet features, fitted on what the model trained on (each training picture whole, and one
    webcam-like frame of it) and judged top-1 on the test-region frames, as they are and with
    their colours turned at random (another colourway of the motif). Three probes: trained on
    the pictures as they are, with their colours turned at random (as the recipe's `--hue 1.0`
    trains), and on both. No setting is chosen."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sasirangan.data import load_image, turn_hue
    from sasirangan.views import WHOLE
    from sasirangan.webcam import webcam_view

    rng = np.random.default_rng(seed + 10)
    plain, turned, labels = [], [], []
    splits = card.refit["on"] if card.refit else ["train"]  # what the shipped model's head was fitted on
    for sample in [s for split in splits for s in card.samples(split, model_dir)]:
        rgb = load_image(sample.path)
        motif = sample.label != card.unknown_class
        # the frame is of the sample's box with the held-out regions covered, as training sees it
        pictures = [sample.view(rgb)] + ([webcam_view(sample.covered(rgb), sample.box, rng)] if motif else [])
        for picture in pictures:
            labels.append(sample.label)
            plain.append(np.ravel(predictor.outputs(picture, WHOLE)["features"]))
            turned.append(np.ravel(predictor.outputs(turn_hue(picture, rng), WHOLE)["features"]) if motif else plain[-1])
    test_y = np.array([label for *_, label in test_features])
    test_sets = {"as they are": np.stack([row for row, *_ in test_features]),
                 "colours turned": np.stack([row for _, row, *_ in test_features])}
    model_right = sum(best == label for *_, best, label in test_features)
    print(f"\nThe model's best motif on the same test-region frames with their colours turned at random: "
          f"{wilson(model_right, len(test_features))}")
    training_sets = {"as they are": (plain, labels), "colours turned at random": (turned, labels),
                     "both": (plain + turned, labels + labels)}
    print(f"Floor: logistic regression on the same frozen features of the {len(labels)} {' + '.join(splits)} pictures "
          "and webcam-like frames of them; top-1 on the same test-region frames:")
    for name, (rows, row_labels) in training_sets.items():
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(np.stack(rows), row_labels)
        figures = "; ".join(f"frames {test}: {wilson(int((probe.predict(x) == test_y).sum()), len(test_y))}"
                            for test, x in test_sets.items())
        print(f"  trained on pictures {name:26s} {figures}")


GIVEN = "trained or calibrated on"  # pictures of the card's train and val splits
CHOSEN_ON = "kept aside to choose on"  # the --choice-dir photos: never trained on, only choices are made on them
CONFIDENT_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)  # the best motif's calibrated probability, from which it is named
CEILING_GRID = (1.0, 0.2, 0.1, 0.05, 0.02, 0.01)  # the most the unknown class may have meanwhile (1: no limit)


def threshold_sweep(predictor, card, model_dir, datasets: Path, frames: dict[str, list],
                    choice: frozenset = frozenset()) -> None:
    """What the two thresholds change: the frames answered above (`frames`: {"val" | "test":
    camera_answers' `kept`}) and the other-motif photos, decided again for each pair of the
    confidence threshold and the ceiling on the unknown class's probability (the cloth score
    and quality checks unchanged). The choice sets are the validation-region frames and the
    other-motif photos the model was given, and those kept aside to choose on (`choice`, from
    `--choice-dir`): the pair chosen names the fewest of those photos (none, where a pair can),
    then the most validation frames (ties: the higher threshold, then the lower ceiling). The
    test-region frames and the held-out photos are for reading only. A model trained with
    `--cloth-folds` answers the given photos as heads that never saw them did
    (`card.read_out_of_fold`): the saved head has learnt them, and would name none at any pair.
    (The photos' outputs are computed again here rather than kept from the targets above: about
    a minute, in a sweep.)"""
    from sasirangan.calibrate import softmax
    from sasirangan.card import read_out_of_fold
    from sasirangan.data import load_image

    out_of_fold = read_out_of_fold(model_dir)

    def outputs_of(folder):
        sets = {}
        for part, paths in source_sets(card, model_dir, folder, choice).items():
            sets[part] = []
            for path in paths:
                rgb, logits = load_image(path), out_of_fold.get(str(path.resolve())) if part == GIVEN else None
                outputs = predictor.outputs(rgb)
                if logits is not None:
                    outputs = {**outputs, "logits": logits, "probabilities": softmax(logits).astype(np.float32)}
                sets[part].append((outputs, rgb))
        return sets

    photos = outputs_of(datasets / "sasirangan" / "other_motifs")
    given = [str(p.resolve()) for p in source_sets(card, model_dir, datasets / "sasirangan" / "other_motifs")[GIVEN]]
    answered = sum(path in out_of_fold for path in given)
    kept = predictor.confident, predictor.unknown_ceiling
    print("\nThe confidence threshold and the ceiling on the unknown class (frames named right; other-motif photos "
          "named" + (f"; {answered} of the {len(given)} given photos answered out of fold" if answered else "") + "):")
    rows = []
    for confident in CONFIDENT_GRID:
        for ceiling in CEILING_GRID:
            if ceiling < 1 and ceiling >= 1 - confident:  # the best motif's share already keeps the unknown class under it
                continue
            predictor.confident, predictor.unknown_ceiling = confident, ceiling
            named = {split: sum(answer.verdict == "motif" and answer.label == label for answer, label in
                                [(predictor.decide(o, picture=frame), label) for o, frame, label in answers])
                     for split, answers in frames.items()}
            other = {part: sum(predictor.decide(o, picture=picture).verdict == "motif" for o, picture in answers)
                     for part, answers in photos.items()}
            rows.append((confident, ceiling, named, other))
            aside = f", kept aside {other[CHOSEN_ON]}/{len(photos[CHOSEN_ON])}" if CHOSEN_ON in photos else ""
            print(f"  from {confident:.0%}, unknown up to {ceiling:4.0%}: validation-region frames {named['val']}/"
                  f"{len(frames['val'])}, other-motif photos given {other[GIVEN]}/"
                  f"{len(photos[GIVEN])}{aside}   |   test-region frames {named['test']}/"
                  f"{len(frames['test'])}, other-motif photos held out {other['held out']}/{len(photos['held out'])}")

    def choice_named(row):
        return row[3][GIVEN] + row[3].get(CHOSEN_ON, 0)

    confident, ceiling, named, other = max(rows, key=lambda row: (-choice_named(row), row[2]["val"], row[0], -row[1]))
    predictor.confident, predictor.unknown_ceiling = confident, ceiling
    print(f"Chosen on the choice sets: from {confident:.0%} with the unknown class up to {ceiling:.0%} "
          f"(sasirangan calibrate MODEL --thresholds-only --confident {confident} --unknown-ceiling {ceiling}); read after: test-region "
          f"frames named right {wilson(named['test'], len(frames['test']))}, other-motif photos held out not named "
          f"{wilson(len(photos['held out']) - other['held out'], len(photos['held out']))}")
    for name, goal in (("not_textile", "not_motif"), ("batik10", "not a motif name")):
        answers = [predictor.decide(o, picture=picture) for o, picture in outputs_of(datasets / name)["held out"]]
        if not answers:
            continue
        hits = sum(a.verdict == "not_motif" if goal == "not_motif" else a.verdict != "motif" for a in answers)
        print(f"  ... {name} held out ({goal}): {wilson(hits, len(answers))}")
    predictor.confident, predictor.unknown_ceiling = kept


def source_sets(card, model_dir, folder: Path, choice: frozenset = frozenset()) -> dict[str, list[Path]]:
    """A shared folder's pictures, by what the model did with them: trained (train/val), kept
    aside to choose thresholds on (`choice`: resolved paths; never trained on), or held out."""
    seen = {}
    for split in ("train", "val", "test"):
        for sample in card.samples(split, model_dir):
            seen[str(Path(sample.path).resolve())] = split
    sets = {GIVEN: [], **({CHOSEN_ON: []} if choice else {}), "held out": []}
    for path in image_files(folder):
        where = seen.get(str(path.resolve()))
        part = (GIVEN if where in ("train", "val") else
                CHOSEN_ON if str(path.resolve()) in choice else "held out")
        sets[part].append(path)
    return sets


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "sasirangan_default"))
    parser.add_argument("--frames", type=int, default=20, help="webcam-like views per held-out region")
    parser.add_argument("--bursts", type=int, default=5, help="steady-camera bursts of 5 frames per held-out region")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--choice-dir", type=Path, default=None,
                        help="photos of other-motif cloth the model was never given, kept aside for --sweep to choose "
                             "thresholds on (they are then not counted as held out)")
    parser.add_argument("--probe", action="store_true",
                        help="also fit the frozen-feature probe (the floor) and judge it on the same test frames")
    parser.add_argument("--sweep", action="store_true",
                        help="also decide the same frames and other-motif photos at other confidence thresholds and "
                             "ceilings on the unknown class, and say which pair the choice sets pick")
    args = parser.parse_args()
    seed_keras_cache()
    choice = frozenset(str(path.resolve()) for path in image_files(args.choice_dir)) if args.choice_dir else frozenset()

    from sasirangan.predict import Predictor

    predictor = Predictor(args.model)
    card, model_dir = predictor.card, Path(args.model)
    datasets = args.shared / "datasets"
    print(f"Model {args.model}: {len(predictor.class_names)} classes; confident from {predictor.confident:.0%}, "
          f"the unknown class up to {predictor.unknown_ceiling:.0%}; "
          f"cloth score {'yes' if predictor.cloth_scorer else 'no'}; views {card.view_spec.count} a picture")

    figures, test_features = {}, []
    small = small_photo_motifs(card.samples("test", model_dir), card.unknown_class)
    kept = {"test": [], "val": []} if args.sweep else {"test": None, "val": None}  # answers to decide again
    figures["webcam"] = report_webcam(
        f"Webcam-like views of the held-out TEST region of each photo ({args.frames} each; live path, one frame):",
        camera_answers(predictor, card.samples("test", model_dir), args.frames, args.seed,
                       features=test_features if args.probe else None, kept=kept["test"]),
        predictor, small)
    if args.probe:
        probe_floor(predictor, card, model_dir, test_features, args.seed)
    report_webcam(f"A steady camera over the held-out TEST region, answered after 5 frames as the app averages "
                  f"them ({args.bursts} bursts each; information):",
                  camera_answers(predictor, card.samples("test", model_dir), args.bursts, args.seed + 2, steady=True), predictor,
                  small)
    report_webcam("Webcam-like views of the VALIDATION region (where thresholds are chosen; information only):",
                  camera_answers(predictor, card.samples("val", model_dir), args.frames, args.seed + 1, kept=kept["val"]),
                  predictor, small)

    crops = [s for s in card.samples("test", model_dir) if s.label != card.unknown_class]
    from sasirangan.data import load_image

    crop_answers = [predictor.predict(s.view(load_image(s.path))) for s in crops]
    right = sum(p.verdict == "motif" and p.label == s.label for p, s in zip(crop_answers, crops))
    print(f"\nTest crops of the 16 photos, upload path: named right {wilson(right, len(crops))}; "
          f"{verdict_counts(crop_answers)}")

    targets = {"not_textile": ("not_motif", datasets / "not_textile"),
               "other_motifs": ("not a motif name", datasets / "sasirangan" / "other_motifs"),
               "batik10": ("not a motif name", datasets / "batik10")}
    for name, (goal, folder) in targets.items():
        print(f"\n{name} ({goal}):")
        for part, files in source_sets(card, model_dir, folder, choice).items():
            if part == CHOSEN_ON and not files:  # the kept-aside photos are of one folder
                continue
            answers = [predictor.predict(path) for path in files]
            hits = sum(p.verdict == "not_motif" if goal == "not_motif" else p.verdict != "motif" for p in answers)
            print(f"  {part:26s} {wilson(hits, len(answers))}; {verdict_counts(answers)}")
            if part == "held out":
                figures[name] = hits / max(len(answers), 1)
                scores = sorted(p.cloth for p in answers if p.cloth is not None)
                if scores:  # how near the cloth threshold the held-out pictures come
                    print(f"  {'':26s} highest cloth scores {', '.join(f'{v:.2f}' for v in scores[-5:])} "
                          f"(threshold {predictor.cloth_scorer.threshold_:.2f})")

    if args.sweep:
        threshold_sweep(predictor, card, model_dir, datasets, kept, choice)

    drawings = sorted((datasets / "sasirangan" / "drawings").glob("*.png"))
    known = [(path, DRAWING_ALIASES.get(path.stem, path.stem)) for path in drawings]
    known = [(path, slug) for path, slug in known if slug in predictor.class_names]
    answers = [predictor.predict(path) for path, _ in known]
    named = sum(p.verdict == "motif" and p.label == slug for p, (_, slug) in zip(answers, known))
    top3 = sum(slug in [name for name, _ in p.top] for p, (_, slug) in zip(answers, known))
    print(f"\nLine drawings of {len(known)} known motifs (information): named right {named}, "
          f"motif in top 3 {top3}/{len(known)}; {verdict_counts(answers)}")

    print(f"\nRESULT webcam views named right {figures['webcam']:.1%} (target >= 90%); not_textile not_motif "
          f"{figures['not_textile']:.1%} (>= 95%); other motifs not named {figures['other_motifs']:.1%} (>= 95%); "
          f"batik10 not named {figures['batik10']:.1%} (>= 95%), held-out pictures")


if __name__ == "__main__":
    main()
