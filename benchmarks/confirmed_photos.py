"""What confirming photos of a motif the model already knows buys on other cloth of it, without retraining.

`one_photo.py` found that on batik10 one photo per motif puts another cloth's motif first about 4
times in 10, and that more photos per motif buy more than any change to the recipe; it measured
that on a probe. The product's way to more photos is the catalogue: a curator confirms photos and
they become references at once (`sasirangan.enrol`). This measures that path on the models
`one_photo.py --recipe` trained (the bundled recipe taught from one photo of each of 10 batik
motifs, from the choice half): k more photos of each motif, from the choice half and never from
the teaching photo's near-duplicate group, are confirmed in a fresh SQLite catalogue, and
`Predictor(model, catalogue=...).predict` answers every photo of the *kept* half (other cloth:
no kept photo is a near-duplicate of a choice-half one). k = 0 is the model alone; the k photos
of a larger k include those of a smaller one. Printed per k: the right motif first and in the
first 3 of the answer's guesses, and named (verdict "motif") right and wrong; and the catalogue's
own ranking of the motifs (the match's shares), whatever the answer.

Then the margin from which references of a motif the model knows name it
(`enrol.KNOWN_MOTIF_MARGIN`), swept on the choice half's photos that neither taught nor were
confirmed, and chosen there by a rule written before the sweep: the lowest margin of the grid
naming at most 5% of those photos wrongly. The kept half's figures are read after.

`--bundled` asks what a curator of the bundled model meets: its one photo of each of its motifs
confirmed, how many held-out pictures of other-motif Sasirangan cloth, batik10 and non-textiles
(never trained or calibrated on) are named as a Sasirangan motif, by the model alone, with the
catalogue as the library answers, and with the new-motif margin (`ENROL_MARGIN`) for every motif.
Then the webcam-like frames of the held-out regions (`honest_answers.py`'s frames), with
`CROPS_CONFIRMED` training crops of each photo confirmed (none shows a held-out region): a
confident model answer almost as near another catalogue motif is "not sure"
(`Predictor._also_near_catalogue`), its band measured from the new-motif margin; is that band
right for motifs the model knows, which the catalogue names only from `KNOWN_MOTIF_MARGIN`? Rule
written before the run: measure it from the known-motif margin for those when, on the validation
regions' frames, that names more frames right and at most 3 more wrongly; test frames and
held-out pictures are read after. (It was: validation 262 right, 13 wrong, against 84 and 10.
Its frames still fell short of the model alone's, so a second rule, written after that run and
before this one: no band for motifs the model knows (a motif named from the catalogue still needs
`KNOWN_MOTIF_MARGIN`) replaces it when it names more validation frames right and at most 13 wrongly.
It did, 280 and 13. Those 6 frames fewer and 8 more named wrongly than the model alone were all
frames the catalogue named wrongly from `KNOWN_MOTIF_MARGIN`, a margin chosen on photos. So a third
rule, written after I had seen both the validation and the test figures of that run: on live
frames the catalogue names a motif the model knows only if that names at least as many validation
frames right as the model alone, and at most as many wrongly; else only new motifs. The rows
after the library's answer each name known motifs from the catalogue on frames too.)

    python benchmarks/one_photo.py --recipe       # the three models, once (about 25 min)
    python benchmarks/confirmed_photos.py         # about 8 min
    python benchmarks/confirmed_photos.py --bundled   # about 2 min; no trained runs needed
    python benchmarks/confirmed_photos.py --ranking   # about 10 min
    python benchmarks/confirmed_photos.py --centres   # about 5 min
    python benchmarks/confirmed_photos.py --nearest   # about 10 min

`--ranking` asks which guesses a *not sure* answer should show when a catalogue is in use: the
model's probabilities, or the catalogue's ranking (the match's shares: the nearest class centre
or references per motif). Per model and k in 1, 2, 4, with every motif's photos confirmed and
with only every other motif's (a partial catalogue), the photos the library does not name are
ranked both ways. Rule written before the run: the ranking gives a not-sure answer's guesses in a
kind of catalogue when, on the choice half pooled over models and k, it puts the right motif
first and in the first 3 at least as often as the model's probabilities; the kept half is read
after. (It chose the ranking for a catalogue of every motif. `--bundled` then found that on the
bundled model's webcam frames that it does not name, with its training crops confirmed, the
ranking put the right motif first on 2 of 27 validation frames where the model's guesses did on
17 of 29. So a second rule, written before its run: a third kind of guesses, the mean of the
model's and the catalogue's shares among the motifs; a kind is eligible when on those validation
frames it is right first at least as often as the model's guesses, and among the eligible the one
right first most often on the batik choice half with every motif enrolled (then in the first 3)
gives the guesses of a catalogue of every motif. It chose the model's guesses. Each rule then
governs the path it was measured on: uploads and files (`Predictor.predict`, as the batik photos
were answered) get the catalogue's ranking, live frames (`Predictor.decide`, as the frames were)
keep the model's. The bundled model's test crops answered as uploads are read after.)

`--centres` asks the same without a catalogue: the model's probabilities, or the nearest of the
class centres that `sasirangan calibrate` fits on the model's training features (the catalogue's
ranking with no references)? On the photos and webcam frames the model alone does not name. Rule
written before the run: the centres give an unnamed answer's guesses when, on the batik10 choice
half pooled over the three models, they put the right motif first and in the first 3 at least as
often as the model's probabilities, and on the bundled model's unnamed frames of the validation
regions first at least as often; the kept half and the test regions are read after.

`--nearest` asks the same with the nearest *training picture* of each motif (the model card's train
split, answered through its views) instead of the mean of them all (`one_photo.py` found the
nearest teaching picture 7 points ahead of the recipe on other cloth's right first, while
`--centres` found the centres level with the model), and with the mean of its shares and the
model's. Rule written before the run: a kind is eligible for uploads and files when, on the
batik10 choice half pooled over the three models (answered as uploads), it puts the right motif
first and in the first 3 at least as often as the model's guesses; of the eligible, the one right
first most often (then in the first 3) gives the guesses of a still picture that no motif is named
for, without a catalogue of every motif. Live frames get it only if it is also right first at
least as often as the model on the bundled model's unnamed validation frames. The kept half and
the test frames are read after.

`--nearest --runs DIR [DIR ...]` pools the same counts over the models of several `one_photo.py
--recipe` runs (`--recipe-seed N` trains the same three draws with another seed, into
`runs/one_photo_seedN`). Why: retrained with the same seed, the three heads' own guesses moved by
a photo or two and flipped the rule's choice (BENCHMARKS.md, "Re-taken through the library path").
Rule written before the run (2026-12-07): the same rule, on the batik10 choice half pooled over the
nine models of seeds 42, 7 and 8; the library's upload guesses follow its choice (they stay the
mean if it picks the mean). The kept half is read after.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

from _common import SHARED, image_files, seed_keras_cache
from honest_answers import source_sets, wilson
from one_photo import BATIK, ROOT, halves
from sasirangan.enrol import ENROL_MARGIN, KNOWN_MOTIF_MARGIN
from sasirangan.predict import closest_motifs

CONFIRMED = (0, 1, 2, 4)  # photos confirmed per motif
HELD_OUT = ("sasirangan/other_motifs", "batik10", "not_textile")  # under ../shared/datasets


def teaching_photos(model_dir: Path) -> dict[str, Path]:
    """{motif: the one photo the model was taught from}, read from the run's folder of links."""
    folder = model_dir.parent / "photos"
    return {motif.name: next(motif.iterdir()).resolve() for motif in sorted(folder.iterdir())}


def references(split: dict, teaching: dict[str, Path], rng: np.random.Generator) -> dict[str, list[Path]]:
    """Up to max(CONFIRMED) choice-half photos of each motif, one per near-duplicate group, never
    the teaching photo's group, in a random order (a prefix is what k confirmed photos are)."""
    chosen = {}
    for motif, (choice, _, group) in split.items():
        taught = group[next(path for path in choice if path.resolve() == teaching[motif])]
        firsts = {}
        for path in choice:
            if group[path] != taught:
                firsts.setdefault(group[path], path)
        pool = list(firsts.values())
        chosen[motif] = [pool[i] for i in rng.permutation(len(pool))[:max(CONFIRMED)]]
    return chosen


def answers(model_dir: Path, confirmed: dict[str, list[Path]], photos: list[Path], known_margin=None) -> list:
    """Every photo's answer through a fresh catalogue holding the confirmed photos (with another
    margin for motifs the model knows than `enrol.KNOWN_MOTIF_MARGIN` when given)."""
    from sasirangan.catalogue import Catalogue
    from sasirangan.predict import Predictor

    with tempfile.TemporaryDirectory() as folder, Catalogue.open(folder) as catalogue:
        for motif, paths in confirmed.items():
            for path in paths:
                catalogue.add_photo(path, motif, source="import", status="confirmed", by="benchmark")
        predictor = Predictor(model_dir, catalogue=catalogue if any(confirmed.values()) else None)
        if known_margin is not None and predictor.enrolment is not None:
            predictor.enrolment.known_margin = known_margin
        return [predictor.predict(photo) for photo in photos]


KNOWN_MARGINS = (-0.08, 0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20)  # swept on the choice half
WRONG_AT_MOST = 0.05  # the rule, written before the sweep: the lowest margin naming at most this share wrongly


def decided_at(margin: float, alone, with_catalogue, label: str) -> str:
    """'right', 'wrong' or '' (not named) for one photo, were a catalogue motif named only from
    `margin` (the model's own answer otherwise, as `Predictor.decide` falls back to it)."""
    if with_catalogue.source == "catalogue" and with_catalogue.match.margin >= margin:  # the grid is >= ENROL_MARGIN
        return "right" if with_catalogue.label == label else "wrong"
    if alone.verdict == "motif":
        return "right" if alone.label == label else "wrong"
    return ""


def bundled(model_dir: Path) -> None:
    """Held-out pictures named as a motif by the bundled model, with its training photos confirmed."""
    from sasirangan.predict import Predictor

    datasets = SHARED / "datasets"
    model = Predictor(model_dir)
    card = model.card
    confirmed = {motif: image_files(datasets / "sasirangan" / "photos" / motif)
                 for motif in model.class_names if motif != card.unknown_class}
    print(f"{model_dir.name}: {sum(map(len, confirmed.values()))} photos confirmed "
          f"({', '.join(f'{len(paths)} of {motif}' for motif, paths in confirmed.items() if len(paths) != 1) or 'one a motif'}); "
          "held-out pictures named as a Sasirangan motif:")
    ways = {"the model alone": ({}, None),
            f"catalogue, known motifs from {KNOWN_MOTIF_MARGIN:+.2f} (as the library answers)": (confirmed, None),
            f"catalogue, every motif from the new-motif margin {ENROL_MARGIN:+.2f}": (confirmed, ENROL_MARGIN)}
    for folder in HELD_OUT:
        held_out = source_sets(card, model_dir, datasets / folder)["held out"]
        counts = []
        for way, (photos, margin) in ways.items():
            named = sum(a.verdict == "motif" for a in answers(model_dir, photos, held_out, known_margin=margin))
            counts.append(f"{way} {named}")
        print(f"  {folder} ({len(held_out)} held out): " + "; ".join(counts), flush=True)
    bundled_webcam(model_dir)


CROPS_CONFIRMED = 3  # training crops of each photo confirmed for the webcam measurement


def confirm_training_crops(catalogue, card, model_dir: Path, folder: Path) -> int:
    """Confirm CROPS_CONFIRMED crops the model trained on of each motif in `catalogue`: the largest
    training boxes of each photo that show none of its held-out regions, so frames of those regions
    are of cloth the catalogue never held (a curator's photos of other parts of the cloth).
    Each crop is saved as a PNG in `folder` and confirmed from there, as a curator's file would be.
    Returns the number confirmed."""
    from PIL import Image

    from sasirangan.data import load_image

    chosen = {}
    for sample in sorted(card.samples("train", model_dir), key=lambda s: -(s.box[2] - s.box[0]) * (s.box[3] - s.box[1])
                         if s.box else 0):
        if (sample.label == card.unknown_class or not sample.box or chosen.get(sample.label, 0) >= CROPS_CONFIRMED
                or sample.shows_held_out()):
            continue
        path = folder / f"{sample.label}_{chosen.get(sample.label, 0)}.png"
        Image.fromarray(sample.view(load_image(sample.path))).save(path)
        catalogue.add_photo(path, sample.label, source="import", status="confirmed", by="benchmark")
        chosen[sample.label] = chosen.get(sample.label, 0) + 1
    return sum(chosen.values())


def bundled_webcam(model_dir: Path, frames: int = 20, seed: int = 0) -> None:
    """Webcam-like frames of the held-out regions named right, by the model alone and with training
    crops of every motif confirmed: as the library answers (on frames the catalogue names only new
    motifs), and as it answered before: known motifs named from the catalogue on frames too, with
    the near-catalogue band measured from the new-motif margin for every motif (until 2026-12-06),
    from the known-motif margin for a known motif, or no band for one (commit 23882c0)."""
    from honest_answers import camera_answers

    from sasirangan.catalogue import Catalogue
    from sasirangan.predict import NEAR_CATALOGUE_BAND, UNKNOWN_CLASS, Predictor

    def band_for_every_motif(predictor):
        def near(match, best):
            return (match is not None and match.motif not in (best, UNKNOWN_CLASS)
                    and match.margin >= predictor.enrolment.margin - NEAR_CATALOGUE_BAND)
        return near

    def band_from_known_margin(predictor):
        def near(match, best):
            margin = (predictor.enrolment.known_margin if match is not None and match.motif in predictor.enrolment.class_names_
                      else predictor.enrolment.margin)
            return (match is not None and match.motif not in (best, UNKNOWN_CLASS)
                    and match.margin >= margin - NEAR_CATALOGUE_BAND)
        return near

    def known_motifs_named_on_frames(predictor):  # frames answered as stills, as before 2026-12-06
        decide = predictor.decide
        predictor.decide = lambda *args, **kwargs: decide(*args, **{**kwargs, "still": True})

    variants = {"catalogue, band from the new-motif margin for every motif (until 2026-12-06)": band_for_every_motif,
                "catalogue, band from the known-motif margin": band_from_known_margin,
                "catalogue, no band for a known motif (23882c0)": lambda predictor: predictor._also_near_catalogue}

    with tempfile.TemporaryDirectory() as folder, Catalogue.open(Path(folder) / "catalogue") as catalogue:
        alone = Predictor(model_dir)
        confirmed = confirm_training_crops(catalogue, alone.card, model_dir, Path(folder))
        print(f"\nWebcam-like frames of the held-out regions ({frames} a region), named right; the catalogue holds "
              f"{confirmed} training crops ({CROPS_CONFIRMED} of each motif):")
        for way in ("the model alone", "catalogue (as the library answers)", *variants):
            predictor = alone if way == "the model alone" else Predictor(model_dir, catalogue=catalogue)
            if way in variants:  # earlier answers: known motifs named from the catalogue on frames too
                predictor._also_near_catalogue = variants[way](predictor)
                known_motifs_named_on_frames(predictor)
            cells = []
            for split, offset in (("val", 1), ("test", 0)):  # the seeds honest_answers.py judges them with
                answered = camera_answers(predictor, predictor.card.samples(split, model_dir), frames, seed + offset)
                right = sum(p.verdict == "motif" and p.label == motif for motif, ps in answered.items() for p in ps)
                wrong = sum(p.verdict == "motif" and p.label != motif for motif, ps in answered.items() for p in ps)
                total = sum(map(len, answered.values()))
                guessed = sum(p.top[0][0] == motif for motif, ps in answered.items() for p in ps if p.verdict != "motif")
                unnamed = sum(p.verdict != "motif" for ps in answered.values() for p in ps)
                cells.append(f"{split} {wilson(right, total)}, named wrong {wrong}, not named {unnamed} "
                             f"(first guess right {guessed})")
            for name in HELD_OUT:
                held_out = source_sets(predictor.card, model_dir, SHARED / "datasets" / name)["held out"]
                cells.append(f"{name} named {sum(predictor.predict(path).verdict == 'motif' for path in held_out)}"
                             f"/{len(held_out)}")
            print(f"  {way}: " + "; ".join(cells), flush=True)


COVERAGE = {"every motif": lambda motifs: motifs, "every other motif": lambda motifs: motifs[::2]}
GUESSES = ("model", "ranking", "mean")  # whose first 3 guesses `--ranking` compares


def mean_shares(model_probabilities: dict[str, float], other_shares: dict[str, float]) -> dict[str, float]:
    """The mean of the model's and another ranking's shares among the motifs (the library showed
    it on unnamed uploads, with the nearest training pictures, from 2026-12-06 to 12-07)."""
    from sasirangan.predict import shares_among_motifs

    model, other = shares_among_motifs(model_probabilities), shares_among_motifs(other_shares)
    return {name: (model.get(name, 0.0) + other.get(name, 0.0)) / 2 for name in {**model, **other}}


def guesses_by(probabilities: dict, shares: dict) -> dict[str, list[str]]:
    """The first 3 guesses by the model's probabilities, by the catalogue's ranking (the match's
    shares), and by the mean of the two, each taken as shares among the motifs."""
    from sasirangan.predict import shares_among_motifs

    model, catalogue = shares_among_motifs(probabilities), shares_among_motifs(shares)
    mean = mean_shares(probabilities, shares)
    return {whose: [name for name, _ in closest_motifs(values, 3)]
            for whose, values in zip(GUESSES, (model, catalogue, mean))}


def bundled_frame_guesses(model_dir: Path, frames: int = 20, seed: int = 0) -> dict:
    """{(split, whose): [first, first 3, n]} on the bundled model's webcam frames that the library
    does not name, with `training_crops` of every motif confirmed (see `bundled_webcam`)."""
    from honest_answers import camera_answers

    from sasirangan.catalogue import Catalogue
    from sasirangan.data import load_image
    from sasirangan.predict import Predictor

    counts = {}
    with tempfile.TemporaryDirectory() as folder, Catalogue.open(Path(folder) / "catalogue") as catalogue:
        predictor = Predictor(model_dir)
        confirm_training_crops(catalogue, predictor.card, model_dir, Path(folder))
        predictor.use_catalogue(catalogue)
        for split, offset in (("val", 1), ("test", 0)):  # honest_answers.py's frames and seeds
            answered = camera_answers(predictor, predictor.card.samples(split, model_dir), frames, seed + offset)
            for motif, predictions in answered.items():
                for answer in predictions:
                    if answer.verdict == "motif":
                        continue
                    for whose, names in guesses_by(answer.probabilities, answer.match.shares).items():
                        cell = counts.setdefault((split, whose), [0, 0, 0])
                        cell[0] += names[0] == motif
                        cell[1] += motif in names
                        cell[2] += 1
        for sample in predictor.card.samples("test", model_dir):  # the test crops, answered as uploads
            if sample.label == predictor.card.unknown_class:
                continue
            answer = predictor.decide(predictor.outputs(sample.view(load_image(sample.path))))
            if answer.verdict != "motif":
                for whose, names in guesses_by(answer.probabilities, answer.match.shares).items():
                    cell = counts.setdefault(("test crops, uploads", whose), [0, 0, 0])
                    cell[0] += names[0] == sample.label
                    cell[1] += sample.label in names
                    cell[2] += 1
    return counts


def ranking(model_dirs: list[Path], split: dict, motifs: list[str], kept: list) -> None:
    """Right first / in the first 3 of the model's guesses and the catalogue's ranking, on the
    photos a catalogue-backed predictor does not name (see the module docstring)."""
    counts = {}  # (coverage, half, whose, motif enrolled?) -> [first, first 3, n]
    for draw, model_dir in enumerate(model_dirs):
        teaching = teaching_photos(model_dir)
        pool = references(split, teaching, np.random.default_rng(100 + draw))  # as main(): the same photos
        used = {(motif, split[motif][2][path]) for motif, paths in pool.items() for path in paths}
        used |= {(motif, split[motif][2][next(p for p in split[motif][0] if p.resolve() == photo)])
                 for motif, photo in teaching.items()}
        choice = [(photo, motif) for motif in motifs for photo in split[motif][0]
                  if (motif, split[motif][2][photo]) not in used]
        for half, rows in {"choice": choice, "kept": kept}.items():
            photos, labels = [photo for photo, _ in rows], [motif for _, motif in rows]
            alone = answers(model_dir, {}, photos)  # the model's guesses
            for coverage, covered in COVERAGE.items():
                enrolled = set(covered(motifs))
                for k in CONFIRMED[1:]:
                    confirmed = {motif: paths[:k] for motif, paths in pool.items() if motif in enrolled}
                    for library, model_answer, label in zip(answers(model_dir, confirmed, photos), alone, labels):
                        if library.verdict == "motif":
                            continue
                        for whose, names in guesses_by(model_answer.probabilities, library.match.shares).items():
                            cell = counts.setdefault((coverage, half, whose, label in enrolled), [0, 0, 0])
                            cell[0] += names[0] == label
                            cell[1] += label in names[:3]
                            cell[2] += 1
            print(f"  {model_dir.parent.name}: {half} half answered", flush=True)

    def pooled(coverage, half, whose, among=(True, False)):
        cells = [counts.get((coverage, half, whose, e), [0, 0, 0]) for e in among]
        return [sum(cell[i] for cell in cells) for i in range(3)]

    print(f"\nPhotos not named (pooled over {len(model_dirs)} models and {CONFIRMED[1:]} confirmed), right first / in the "
          "first 3, by the model's guesses and by the catalogue's ranking:")
    chosen = []
    for coverage in COVERAGE:
        for half in ("choice", "kept"):
            parts = [("all", (True, False))] + ([("motifs enrolled", (True,)), ("motifs not enrolled", (False,))]
                                                if coverage != "every motif" else [])
            for name, among in parts:
                cells = []
                for whose in GUESSES:
                    first, first3, n = pooled(coverage, half, whose, among)
                    cells.append(f"{whose} {wilson(first, n)} / {first3 / max(n, 1):.1%}")
                print(f"  {coverage}, {half} half, {name}: " + "   ".join(cells))
        model, rank = pooled(coverage, "choice", "model"), pooled(coverage, "choice", "ranking")
        if rank[0] >= model[0] and rank[1] >= model[1]:
            chosen.append(coverage)
    print("Chosen on the choice half (the ranking at least as often right first and in the first 3): "
          + (", ".join(chosen) if chosen else "neither: keep the model's guesses"))

    frames = bundled_frame_guesses(ROOT / "models" / "sasirangan_default")
    print("\nThe bundled model's webcam frames of the held-out regions and its test crops (uploads) not named, its "
          "training crops of every motif confirmed, right first / in the first 3:")
    for split in ("val", "test", "test crops, uploads"):
        if not any(key[0] == split for key in frames):
            continue
        print(f"  {split}: " + "   ".join(
            f"{whose} {wilson(frames[split, whose][0], frames[split, whose][2])} / "
            f"{frames[split, whose][1] / max(frames[split, whose][2], 1):.1%}" for whose in GUESSES))
    eligible = [whose for whose in GUESSES if frames["val", whose][0] >= frames["val", "model"][0]]
    best = max(eligible, key=lambda whose: tuple(pooled("every motif", "choice", whose)[:2]))
    print(f"Chosen for live frames with a catalogue of every motif (the second rule): {best}")


def centre_guesses(predictor, outputs: dict) -> list[str]:
    """The 3 motifs whose class centres (`enrol.Enrolment`, fitted on the model's training
    features) are nearest the picture's features, nearest first; no catalogue needed."""
    from sasirangan.enrol import Enrolment

    if not hasattr(predictor, "_centres"):
        predictor._centres = Enrolment.from_arrays(predictor._open_set_arrays)
    centres = predictor._centres
    similarities = centres.centres_ @ centres._embed(outputs["features"])[0]
    return [name for name, _ in closest_motifs(dict(zip(centres.class_names_, similarities)), 3)]


def nearest_guesses(predictor, outputs: dict, answer) -> dict[str, list[str]]:
    """The first 3 guesses of a picture by the model, by the nearest training picture of each
    motif, and by the mean of the two (`guesses_by`'s "mean")."""
    own = dict(zip(predictor.class_names, map(float, predictor.calibrated(outputs))))
    if predictor.training_pictures is None:
        raise SystemExit(f"{predictor.model_dir} keeps no training pictures: run `sasirangan calibrate "
                         f"{predictor.model_dir} --centres-only` first (or retrain it with one_photo.py --recipe).")
    kinds = guesses_by(own, predictor.training_pictures.nearest_shares(outputs["features"]))
    return {"model": kinds["model"], "nearest": kinds["ranking"], "mean": kinds["mean"]}


def unnamed_guesses(model_dirs: list[Path], split: dict, motifs: list[str], kept: list, guessers,
                    still: bool) -> dict:
    """{(where, whose): [first, first 3, n]} on the pictures the model alone does not name: the
    batik10 halves for each of `model_dirs`, and the bundled model's webcam frames of its validation
    and test regions. `guessers(predictor, outputs, answer) -> {whose: [3 motifs]}`; batik photos
    are decided as `still` pictures (uploads) or not, frames always as live frames."""
    from honest_answers import region_shots

    from sasirangan.data import load_image
    from sasirangan.predict import Predictor
    from sasirangan.views import WHOLE

    counts = {}

    def tally(where, predictor, outputs, label, picture=None, as_still=False):
        answer = predictor.decide(outputs, picture=picture, still=as_still)
        if answer.verdict == "motif":
            return
        for whose, names in guessers(predictor, outputs, answer).items():
            cell = counts.setdefault((where, whose), [0, 0, 0])
            cell[0] += names[0] == label
            cell[1] += label in names[:3]
            cell[2] += 1

    for model_dir in model_dirs:
        predictor = Predictor(model_dir)
        teaching = teaching_photos(model_dir)
        taught = {(motif, split[motif][2][next(p for p in split[motif][0] if p.resolve() == photo)])
                  for motif, photo in teaching.items()}
        choice = [(photo, motif) for motif in motifs for photo in split[motif][0]
                  if (motif, split[motif][2][photo]) not in taught]
        for half, rows in {"batik10 choice half": choice, "batik10 kept half": kept}.items():
            for photo, motif in rows:
                picture = load_image(photo)
                tally(half, predictor, predictor.outputs(picture), motif, picture if still else None, still)
        print(f"  {model_dir.parent.parent.name}/{model_dir.parent.name}: answered", flush=True)
    bundled_dir = ROOT / "models" / "sasirangan_default"
    predictor = Predictor(bundled_dir)
    for split_name, offset in (("val", 1), ("test", 0)):  # honest_answers.py's frames and seeds
        for frames, motif in region_shots(predictor.card.samples(split_name, bundled_dir), predictor.card.unknown_class,
                                          20, offset):
            tally(f"bundled model, webcam frames of the {split_name} regions", predictor,
                  predictor.outputs(frames[-1], WHOLE), motif, frames[-1])
    return counts


def print_guesses(counts: dict, kinds) -> None:
    for where in dict.fromkeys(where for where, _ in counts):
        cells = [f"{whose} {wilson(counts[where, whose][0], counts[where, whose][2])} / "
                 f"{counts[where, whose][1] / max(counts[where, whose][2], 1):.1%}" for whose in kinds]
        print(f"  {where}: " + "   ".join(cells))


def centres(model_dirs: list[Path], split: dict, motifs: list[str], kept: list) -> None:
    """Right first / in the first 3 of the model's guesses and of the nearest class centres, on the
    pictures the model alone does not name (see the module docstring)."""
    def guessers(predictor, outputs, answer):
        return {"model": [name for name, _ in answer.top], "centres": centre_guesses(predictor, outputs)}

    counts = unnamed_guesses(model_dirs, split, motifs, kept, guessers, still=False)
    print("\nPictures the model does not name, right first / in the first 3, by the model's guesses and by "
          "the nearest class centres:")
    print_guesses(counts, ("model", "centres"))
    model, centre = counts["batik10 choice half", "model"], counts["batik10 choice half", "centres"]
    frames_model = counts["bundled model, webcam frames of the val regions", "model"]
    frames_centre = counts["bundled model, webcam frames of the val regions", "centres"]
    chosen = centre[0] >= model[0] and centre[1] >= model[1] and frames_centre[0] >= frames_model[0]
    print("Chosen (batik10 choice half and the validation frames): "
          + ("the class centres' guesses" if chosen else "the model's guesses"))


NEAREST_KINDS = ("model", "nearest", "mean")


def nearest(model_dirs: list[Path], split: dict, motifs: list[str], kept: list) -> None:
    """Right first / in the first 3 of the model's guesses, of the nearest training picture of each
    motif, and of their mean, on the uploads and frames the model alone does not name (see the
    module docstring for the rule)."""
    counts = unnamed_guesses(model_dirs, split, motifs, kept, nearest_guesses, still=True)
    print("\nPictures the model does not name, right first / in the first 3, by the model's guesses, the "
          "nearest training picture of each motif, and their mean:")
    print_guesses(counts, NEAREST_KINDS)
    choice = {whose: counts["batik10 choice half", whose] for whose in NEAREST_KINDS}
    eligible = [whose for whose in NEAREST_KINDS[1:]
                if choice[whose][0] >= choice["model"][0] and choice[whose][1] >= choice["model"][1]]
    still = max(eligible, key=lambda whose: choice[whose][:2], default="model")
    frames = {whose: counts["bundled model, webcam frames of the val regions", whose] for whose in NEAREST_KINDS}
    live = still if still != "model" and frames[still][0] >= frames["model"][0] else "model"
    print(f"Chosen for uploads and files (batik10 choice half): {still}'s guesses; for live frames "
          f"(and the bundled model's validation frames): {live}'s guesses")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=[str(ROOT / "runs" / "one_photo")],
                        help="one_photo.py --recipe's models (several runs: their models pooled)")
    parser.add_argument("--bundled", nargs="?", const=str(ROOT / "models" / "sasirangan_default"), default=None,
                        metavar="MODEL", help="only the bundled model (or MODEL) with its training photos confirmed")
    parser.add_argument("--ranking", action="store_true", help="which guesses a not-sure answer should show")
    parser.add_argument("--centres", action="store_true",
                        help="which guesses a not-sure answer should show without a catalogue")
    parser.add_argument("--nearest", action="store_true",
                        help="... the nearest training picture of each motif, or the mean of it and the model's")
    args = parser.parse_args()
    seed_keras_cache()
    if args.bundled:
        return bundled(Path(args.bundled))

    model_dirs = [model_dir for runs in args.runs for model_dir in sorted(Path(runs).glob("draw*/model"))]
    if not model_dirs:
        raise SystemExit(f"No models under {', '.join(args.runs)}: run `python benchmarks/one_photo.py --recipe` first.")
    motifs = sorted(path.name for path in BATIK.iterdir() if path.is_dir())
    split = {motif: halves(image_files(BATIK / motif)) for motif in motifs}
    kept = [(photo, motif) for motif in motifs for photo in split[motif][1]]
    print(f"batik10: {len(motifs)} motifs, {len(kept)} kept-half photos answered per model; "
          f"{len(model_dirs)} models ({', '.join(d.parent.parent.name + '/' + d.parent.name for d in model_dirs)})", flush=True)
    if args.ranking:
        return ranking(model_dirs, split, motifs, kept)
    if args.centres:
        return centres(model_dirs, split, motifs, kept)
    if args.nearest:
        return nearest(model_dirs, split, motifs, kept)

    tally = {k: {"first": 0, "first 3": 0, "named right": 0, "named wrong": 0, "catalogue": 0, "n": 0,
                 "ranking first": 0, "ranking first 3": 0}
             for k in CONFIRMED}
    sweep = {half: {margin: {"right": 0, "wrong": 0, "": 0} for margin in KNOWN_MARGINS} for half in ("choice", "kept")}
    for draw, model_dir in enumerate(model_dirs):
        teaching = teaching_photos(model_dir)
        pool = references(split, teaching, np.random.default_rng(100 + draw))
        used = {(motif, split[motif][2][path]) for motif, paths in pool.items() for path in paths}
        used |= {(motif, split[motif][2][next(p for p in split[motif][0] if p.resolve() == photo)])
                 for motif, photo in teaching.items()}
        choice = [(photo, motif) for motif in motifs for photo in split[motif][0]
                  if (motif, split[motif][2][photo]) not in used]  # choice-half photos neither taught nor confirmed
        halves_measured = {"kept": kept, "choice": choice}
        alone = {half: answers(model_dir, {}, [photo for photo, _ in rows]) for half, rows in halves_measured.items()}
        for k in CONFIRMED:
            confirmed = {motif: paths[:k] for motif, paths in pool.items()}
            for half, rows in halves_measured.items():
                photos, labels = [photo for photo, _ in rows], [motif for _, motif in rows]
                if k > 0:  # every margin of the grid, from answers named from the catalogue's own margin
                    loose = answers(model_dir, confirmed, photos, known_margin=ENROL_MARGIN)
                    for margin in KNOWN_MARGINS:
                        for prediction, model_answer, label in zip(loose, alone[half], labels):
                            sweep[half][margin][decided_at(margin, model_answer, prediction, label)] += 1
                if half != "kept":
                    continue
                predictions = alone[half] if k == 0 else answers(model_dir, confirmed, photos)
                row = tally[k]
                for index, (prediction, label) in enumerate(zip(predictions, labels)):
                    guesses = [name for name, _ in prediction.top]
                    row["first"] += guesses[0] == label
                    row["first 3"] += label in guesses[:3]
                    row["named right"] += prediction.verdict == "motif" and prediction.label == label
                    row["named wrong"] += prediction.verdict == "motif" and prediction.label != label
                    row["catalogue"] += prediction.source == "catalogue"
                    row["n"] += 1
                    if k > 0:  # the catalogue's own ranking (the match's shares), whatever the answer
                        ranked = [name for name, _ in closest_motifs(loose[index].match.shares, 3)]
                        row["ranking first"] += ranked[0] == label
                        row["ranking first 3"] += label in ranked
                print(f"  {model_dir.parent.name}, {k} confirmed a motif: right first "
                      f"{sum(p.top[0][0] == label for p, label in zip(predictions, labels))}/{len(rows)}", flush=True)

    print(f"\nOther cloth of the kept half (pooled over {len(model_dirs)} models), by photos confirmed per motif, "
          f"answered as the library does (a motif the model knows named from the catalogue from {KNOWN_MOTIF_MARGIN:+.2f}):")
    for k, row in tally.items():
        n = row["n"]
        print(f"  {k} confirmed: right first {wilson(row['first'], n)}; in the first 3 {row['first 3'] / n:.1%}; "
              f"named right {row['named right'] / n:.1%}, named wrong {row['named wrong'] / n:.1%}; "
              f"answered from the catalogue {row['catalogue'] / n:.1%}"
              + (f"; the catalogue's ranking: right first {row['ranking first'] / n:.1%}, in the first 3 "
                 f"{row['ranking first 3'] / n:.1%}" if k else ""))
    print("\nA catalogue motif the model knows named only from a margin (1, 2 and 4 confirmed pooled; "
          "named right / named wrong / not named):")
    for margin in KNOWN_MARGINS:
        cells = []
        for half in ("choice", "kept"):
            counts = sweep[half][margin]
            n = sum(counts.values())
            cells.append(f"{half} {counts['right'] / n:.1%} / {counts['wrong'] / n:.1%} / {counts[''] / n:.1%}")
        print(f"  from {margin:+.2f}: " + "   ".join(cells))
    allowed = [m for m in KNOWN_MARGINS if sweep["choice"][m]["wrong"] <= WRONG_AT_MOST * sum(sweep["choice"][m].values())]
    print(f"Chosen on the choice half (the lowest margin naming at most {WRONG_AT_MOST:.0%} wrongly): "
          + (f"{min(allowed):+.2f}" if allowed else "none of the grid"))


if __name__ == "__main__":
    main()
