"""The bundled model's three kinds of answer on real pictures from ../shared."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SHARED, requires_shared
from sasirangan.cli import main
from sasirangan.data import load_image

pytestmark = [pytest.mark.integration, requires_shared]
MODEL = ROOT / "models" / "sasirangan_default"
DATASETS = SHARED / "datasets"


@pytest.fixture(scope="module")
def predictor():
    from sasirangan.predict import Predictor

    return Predictor(MODEL)


def _held_out(predictor, folder: str) -> list[str]:
    """Test-split pictures of one shared folder: never trained or calibrated on."""
    return [s.path for s in predictor.card.samples("test", MODEL) if f"/{folder}/" in s.path][:3]


def test_card_holds_the_verdict_thresholds(predictor):
    assert predictor.cloth_scorer is not None
    assert (predictor.confident, predictor.unknown_ceiling) == (pytest.approx(0.5), pytest.approx(0.02))
    assert predictor.card.config["cloth_dirs"] and predictor.card.config["camera_passes"] > 0


def test_card_keeps_the_out_of_fold_answers_the_thresholds_were_chosen_on(predictor):
    from sasirangan.card import read_out_of_fold

    answers = read_out_of_fold(MODEL)
    other_motifs = [path for path in answers if "/other_motifs/" in path]
    assert len(other_motifs) == 15 and all(len(answers[path]) == len(predictor.class_names) for path in other_motifs)
    assert all(Path(path).is_file() for path in other_motifs)


def test_a_ceiling_on_the_unknown_class_holds_back_a_confident_motif_and_says_why(predictor, monkeypatch):
    monkeypatch.setattr(predictor, "confident", 0.8)
    monkeypatch.setattr(predictor, "unknown_ceiling", 0.05)
    motif, unknown = predictor.class_names.index("gigi_haruan"), predictor.class_names.index("unknown")
    probabilities = np.full(len(predictor.class_names), 0.0)
    probabilities[[motif, unknown]] = 0.85, 0.15
    answer = predictor.decide(probabilities)
    assert answer.verdict == "uncertain" and answer.label == "unknown"
    assert "15% like the cloth the model knows is none of its motifs" in answer.reason
    probabilities[[motif, unknown, unknown - 1]] = 0.85, 0.02, 0.13  # the doubt is with another motif
    assert predictor.decide(probabilities).label == "gigi_haruan"


def test_when_the_unknown_class_wins_the_guesses_are_the_closest_motifs(predictor, capsys):
    names = predictor.class_names
    probabilities = np.zeros(len(names))
    probabilities[[names.index("unknown"), names.index("sari_gading"), names.index("gelombang"),
                   names.index("ular_lidi"), names.index("bayam_raja")]] = 0.96, 0.02, 0.012, 0.006, 0.002
    answer = predictor.decide(probabilities)  # a bare vector has no cloth score: the unknown class winning is "not a motif"
    assert (answer.verdict, answer.label, answer.confidence) == ("not_motif", "unknown", pytest.approx(0.96))
    assert [name for name, _ in answer.top] == ["sari_gading", "gelombang", "ular_lidi"]  # not "unknown"
    assert answer.top[0][1] == pytest.approx(0.02)  # calibrated probabilities, as `predict --json` prints them
    shares = answer.closest_motifs(among_motifs=True)  # what the card and the CLI line show
    assert [name for name, _ in shares] == ["sari_gading", "gelombang", "ular_lidi"]
    assert [round(p, 2) for _, p in shares] == [0.5, 0.3, 0.15]


def test_cli_says_not_sure_with_the_closest_motifs_never_unknown(capsys):
    photo = DATASETS / "sasirangan" / "other_motifs" / "062fc2f3466f.jpg"  # cloth of a motif the model does not know
    assert main(["predict", str(MODEL), str(photo)]) == 0
    line = capsys.readouterr().out
    assert "(not sure which motif)" in line and "closest motifs (share among them): " in line
    guesses = line.split("closest motifs (share among them): ")[1].split("   ")[0].split(", ")
    assert len(guesses) == 3 and not any(guess.startswith("unknown") for guess in guesses)
    assert main(["predict", str(MODEL), str(photo), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["label"] == "unknown" and answer["confidence"] > 0.5
    assert [name for name, _ in answer["top"]] == [guess.rsplit(" ", 1)[0] for guess in guesses]


def test_confirming_the_known_motifs_photos_does_not_name_other_cloth(tmp_path):
    """A curator confirms a photo of every motif: other-motif cloth and batik must stay unnamed (with
    the new-motif margin for these references, 18 of the 19 held-out other-motif cloths were named)."""
    from sasirangan.catalogue import Catalogue
    from sasirangan.predict import Predictor

    motifs = [name for name in json.loads((MODEL / "class_names.json").read_text()) if name != "unknown"]
    with Catalogue.open(tmp_path / "catalogue") as catalogue:
        for motif in motifs:
            photo = next((DATASETS / "sasirangan" / "photos" / motif).iterdir())
            catalogue.add_photo(photo, motif, source="import", status="confirmed", by="test")
        with_catalogue = Predictor(MODEL, catalogue=catalogue)
        given = {Path(s.path).name for split in ("train", "val") for s in with_catalogue.card.samples(split, MODEL)}
        other_cloth = [path for path in sorted((DATASETS / "sasirangan" / "other_motifs").iterdir())
                       if path.name not in given][:8]  # held out: never trained or calibrated on
        assert len(other_cloth) == 8
        assert [with_catalogue.predict(path).verdict for path in other_cloth].count("motif") == 0
        answer = with_catalogue.predict(next((DATASETS / "sasirangan" / "photos" / "gigi_haruan").iterdir()))
        assert (answer.verdict, answer.label) == ("motif", "gigi_haruan")


def test_confirmed_crops_of_every_motif_cost_no_webcam_frames(predictor, tmp_path):
    """With a training crop of every motif confirmed, some motif's references are always near a
    frame; when that made a confident answer "not sure", 84 of 320 webcam frames were named where
    the model alone named 286, and naming known motifs from the catalogue on frames cost 6 more
    (`benchmarks/confirmed_photos.py --bundled`)."""
    from sasirangan.catalogue import Catalogue
    from sasirangan.predict import Predictor
    from sasirangan.views import WHOLE
    from sasirangan.webcam import held_out_region, webcam_view

    card = predictor.card
    crops = {}
    for sample in card.samples("train", MODEL):  # a part of each photo that shows none of its held-out regions
        if (sample.label != card.unknown_class and sample.box and sample.label not in crops
                and not sample.shows_held_out()):
            crops[sample.label] = sample.view(load_image(sample.path))
    regions = {}
    for sample in card.samples("test", MODEL):
        if sample.label != card.unknown_class and sample.box:
            regions.setdefault((sample.path, sample.label), []).append(sample.box)
    rng = np.random.default_rng(0)
    frames = [(webcam_view(load_image(path), held_out_region(boxes), rng), label)
              for (path, label), boxes in sorted(regions.items()) for _ in range(2)]
    assert len(crops) == len(regions) == 16

    def named_right(model):
        return sum(answer.verdict == "motif" and answer.label == label for answer, label in
                   ((model.decide(model.outputs(frame, WHOLE), picture=frame), label) for frame, label in frames))

    with Catalogue.open(tmp_path / "catalogue") as catalogue:
        for motif, crop in crops.items():
            catalogue.add_photo(crop, motif, source="import", status="confirmed", by="test")
        alone = named_right(predictor)
        assert alone >= 20  # of 32 (24 here): the model alone names most frames
        assert named_right(Predictor(MODEL, catalogue=catalogue)) == alone  # on frames it names only new motifs


def test_names_a_known_motif(predictor):
    answer = predictor.predict(next((DATASETS / "sasirangan" / "photos" / "gigi_haruan").iterdir()))
    assert (answer.verdict, answer.label) == ("motif", "gigi_haruan") and answer.reason is None


def test_held_out_non_textiles_are_not_motifs(predictor):
    paths = _held_out(predictor, "not_textile")
    assert len(paths) == 3
    assert [predictor.predict(path).verdict for path in paths] == ["not_motif"] * 3


def test_held_out_batik_is_cloth_but_no_motif(predictor):
    paths = _held_out(predictor, "batik10")
    assert len(paths) == 3
    answers = [predictor.predict(path) for path in paths]
    assert all(a.verdict != "motif" and a.label == "unknown" and a.reason for a in answers)


def test_a_dark_picture_says_so_and_what_to_do(predictor):
    photo = load_image(next((DATASETS / "sasirangan" / "photos" / "gigi_haruan").iterdir()))
    answer = predictor.predict((photo * 0.08).astype(np.uint8))
    assert (answer.verdict, answer.label, answer.problem) == ("uncertain", "unknown", "too_dark")
    assert "light" in answer.advice


def test_predict_json_carries_the_verdict(capsys):
    photo = next((DATASETS / "sasirangan" / "photos" / "kembang_kacang").iterdir())
    capsys.readouterr()
    assert main(["predict", str(MODEL), str(photo), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["verdict"] == "motif" and answer["label"] == "kembang_kacang"


def test_plain_cloth_in_view_gets_no_motif_name(predictor):
    """Ular Lidi's test corner is mostly the plain black band under the motif. Webcam-like frames
    of it that show no pattern get a motif from the model alone (Gelombang or Ular Lidi, a guess);
    with the picture, the answer is "no pattern in view" (or too dark), never a motif."""
    from sasirangan.quality import THRESHOLDS, exposure_focus_measures, luminance_spread
    from sasirangan.views import WHOLE
    from sasirangan.webcam import held_out_region, webcam_view

    samples = [s for s in predictor.card.samples("test", MODEL) if s.label == "ular_lidi"]
    rgb, region = load_image(samples[0].path), held_out_region([s.box for s in samples])
    rng = np.random.default_rng(0)
    frames = [webcam_view(rgb, region, rng) for _ in range(40)]
    plain = [f for f in frames if luminance_spread(exposure_focus_measures(f)) < THRESHOLDS["plain_spread"]]
    guessed = [f for f in plain if predictor.decide(predictor.outputs(f, WHOLE)).verdict == "motif"]
    assert len(guessed) >= 5  # what the check is for
    answers = [predictor.decide(predictor.outputs(f, WHOLE), picture=f) for f in guessed]
    assert all(a.verdict == "uncertain" and a.label == "unknown" for a in answers)
    assert all(a.problem in ("no_pattern", "too_dark") and a.advice for a in answers)
    assert sum(a.problem == "no_pattern" for a in answers) >= 5


def test_the_report_draws_where_each_photos_held_out_regions_lie(predictor, tmp_path):
    from sasirangan.report import held_out_regions, plot_held_out_regions

    splits = {split: predictor.card.samples(split, MODEL) for split in ("val", "test")}
    regions = held_out_regions(splits)
    assert len(regions) == 16 and all(set(photo) == {"val", "test"} for photo in regions.values())
    assert {label for _, label in regions} == set(predictor.class_names) - {predictor.card.unknown_class}
    assert plot_held_out_regions(splits, tmp_path / "regions.jpg") == tmp_path / "regions.jpg"
