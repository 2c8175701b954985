"""Enrolling motifs from catalogue photos without retraining (sasirangan.enrol, Predictor(catalogue=...))."""

import json

import numpy as np
import pytest

from conftest import pattern_image
from sasirangan.calibrate import NotFittedError
from sasirangan.catalogue import Catalogue
from sasirangan.cli import main
from sasirangan.enrol import ENROL_MARGIN, KNOWN_MOTIF_MARGIN, Enrolment
from sasirangan.predict import Predictor


def _clusters(rng, centres, per_cluster=20, spread=0.3):
    return np.concatenate([rng.normal(0, spread, (per_cluster, centres.shape[1])) + c for c in centres])


def test_enrolled_motif_is_named_and_known_ones_are_not_taken():
    rng = np.random.default_rng(0)
    centres = np.eye(6)[:3] * 4
    enrolment = Enrolment().fit(_clusters(rng, centres), np.repeat([0, 1, 2], 20), ["a", "b", "c"])
    new_centre = np.eye(6)[3] * 4
    enrolment.set_references(["new"] * 5, _clusters(rng, new_centre[None], per_cluster=5))

    new_photos = _clusters(rng, new_centre[None], per_cluster=30)
    known_photos = _clusters(rng, centres, per_cluster=10)
    named_new = [enrolment.match(f).named and enrolment.match(f).motif == "new" for f in new_photos]
    named_known = [enrolment.match(f).named for f in known_photos]
    assert np.mean(named_new) > 0.9
    assert np.mean(named_known) < 0.1
    match = enrolment.match(new_photos[0])
    assert match.references == 5 and match.rival in ("a", "b", "c")
    assert abs(sum(match.shares.values()) - 1) < 1e-9 and max(match.shares, key=match.shares.get) == "new"


def test_references_of_a_motif_the_model_knows_name_it_only_when_clearly_nearest():
    """With every motif enrolled the nearest always leads by >= 0; ENROL_MARGIN would name anything."""
    rng = np.random.default_rng(3)
    centres = np.eye(6)[:3] * 4
    enrolment = Enrolment().fit(_clusters(rng, centres), np.repeat([0, 1, 2], 20), ["a", "b", "c"])
    enrolment.set_references(["a"] * 5 + ["b"] * 5, np.r_[_clusters(rng, centres[:1], 5), _clusters(rng, centres[1:2], 5)])
    matches = [enrolment.match(t * centres[0] + (1 - t) * centres[1]) for t in np.linspace(0.5, 1.0, 26)]
    assert {m.motif for m in matches} == {"a"} and enrolment.known_margin == KNOWN_MOTIF_MARGIN > ENROL_MARGIN
    undecided = [m for m in matches if 0 <= m.margin < KNOWN_MOTIF_MARGIN]
    clear = [m for m in matches if m.margin >= KNOWN_MOTIF_MARGIN]
    assert undecided and clear
    assert not any(m.named for m in undecided) and all(m.named for m in clear)


def test_nearest_of_two_enrolled_motifs_wins():
    rng = np.random.default_rng(1)
    enrolment = Enrolment().fit(_clusters(rng, np.eye(6)[:2] * 4), np.repeat([0, 1], 20), ["a", "b"])
    x, y = np.eye(6)[2] * 4, np.eye(6)[3] * 4
    enrolment.set_references(["x"] * 5 + ["y"] * 5, np.r_[_clusters(rng, x[None], 5), _clusters(rng, y[None], 5)])
    assert enrolment.match(y).motif == "y" and enrolment.match(y).rival == "x"
    assert enrolment.references == {"x": 5, "y": 5}


def test_nothing_enrolled_means_no_match_and_unfitted_is_explained():
    enrolment = Enrolment().fit(np.eye(4), np.arange(4), list("abcd"))
    enrolment.set_references([], None)
    assert enrolment.match(np.ones(4)) is None
    with pytest.raises(NotFittedError, match="sasirangan calibrate"):
        Enrolment.from_arrays({})


def test_centres_round_trip_through_arrays():
    rng = np.random.default_rng(2)
    fitted = Enrolment().fit(rng.normal(size=(30, 5)), np.repeat([0, 1, 2], 10), ["a", "b", "c"])
    loaded = Enrolment.from_arrays(fitted.arrays())
    references = rng.normal(size=(3, 5)) + 3
    for enrolment in (fitted, loaded):
        enrolment.set_references(["n"] * 3, references)
    query = rng.normal(size=5)
    assert loaded.class_names_ == ["a", "b", "c"]
    assert loaded.match(query).margin == pytest.approx(fitted.match(query).margin, abs=1e-5)


def test_nearest_shares_follow_the_nearest_training_picture_not_the_centre():
    """A motif whose many pictures lie far away but one lies beside the query ranks first, though
    its centre is farther than another motif's; the unknown class's pictures are not kept."""
    rng = np.random.default_rng(4)
    a_pictures = np.r_[_clusters(rng, (np.eye(6)[0] * 4)[None], 19), (np.eye(6)[2] * 4)[None]]
    features = np.r_[a_pictures, _clusters(rng, (np.eye(6)[1:3].sum(axis=0) * 2.5)[None]),
                     _clusters(rng, (np.eye(6)[3] * 4)[None])]
    enrolment = Enrolment().fit(features, np.repeat([0, 1, 2], 20), ["a", "b", "unknown"])
    assert enrolment.has_pictures and len(enrolment.pictures_) == 40  # the unknown class's 20 left out
    query = np.eye(6)[2] * 4
    shares = enrolment.nearest_shares(query)
    assert set(shares) == {"a", "b"} and sum(shares.values()) == pytest.approx(1.0)
    assert max(shares, key=shares.get) == "a"
    centre_similarity = dict(zip(enrolment.class_names_, enrolment.centres_ @ enrolment._embed(query)[0]))
    assert centre_similarity["b"] > centre_similarity["a"]  # by centres, "b" would have led

    loaded = Enrolment.from_arrays(enrolment.arrays())
    assert loaded.arrays()["enrol_pictures"].dtype == np.float16
    assert loaded.nearest_shares(query) == pytest.approx(shares, abs=1e-6)

    old_folder = {k: v for k, v in enrolment.arrays().items() if not k.startswith("enrol_picture")}
    without = Enrolment.from_arrays(old_folder)  # calibrated before pictures were kept
    assert not without.has_pictures
    with pytest.raises(NotFittedError, match="--centres-only"):
        without.nearest_shares(query)


# --------------------------------------------------------------------------- through the Predictor


def _dots(seed: int, size: int = 40):
    """A fourth pattern the toy model never saw: a grid of dark dots on a light ground."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    period = rng.uniform(6, 9)
    dots = (np.sin(x / period * 6.28) * np.sin(y / period * 6.28)) > 0.6
    pixels = np.where(dots[..., None], rng.uniform(10, 60, 3), rng.uniform(180, 240, 3)) + rng.normal(0, 8, (size, size, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def test_confirmed_photos_are_recognised_at_once_and_rejection_forgets_them(trained_model_dir, tmp_path):
    with Catalogue.open(tmp_path / "cat") as catalogue:
        predictor = Predictor(trained_model_dir, catalogue=catalogue)
        photos = [_dots(seed) for seed in range(5)]
        assert predictor.predict(photos[0]).source == "model"  # nothing enrolled yet

        captures = [catalogue.add_photo(photo, "Dots", source="upload") for photo in photos]
        predictor.refresh_references()
        assert predictor.enrolment.references == {}  # suggestions are not references
        for capture in captures:
            catalogue.confirm(capture.id, by="curator")
        assert predictor.refresh_references() == 5

        prediction = predictor.predict(photos[0])
        assert (prediction.label, prediction.source, prediction.verdict) == ("dots", "catalogue", "motif")
        assert prediction.match.references == 5
        answer = prediction.to_json("dots.png")
        assert answer["source"] == "catalogue" and answer["references"] == 5

        for capture in captures:
            catalogue.reject(capture.id, by="curator")
        predictor.refresh_references()
        assert predictor.predict(photos[0]).label != "dots"


def test_features_of_catalogue_photos_are_computed_once_per_model(trained_model_dir, tmp_path):
    with Catalogue.open(tmp_path / "cat") as catalogue:
        for seed in range(3):
            catalogue.add_photo(_dots(seed), "dots", source="import", status="confirmed")
        first = Predictor(trained_model_dir, catalogue=catalogue)
        stored = catalogue.get_embeddings(first.model_key, [sha for _, sha in catalogue.confirmed()])
        assert len(stored) == 3
        second = Predictor(trained_model_dir, catalogue=catalogue)
        calls = []
        second.outputs = lambda *args, **kwargs: calls.append(args)  # the cache must make this unused
        catalogue.add_photo(_dots(3), "dots", source="import", status="rejected")
        second._references_revision = None
        assert second.refresh_references() == 3 and calls == []


def test_a_change_made_elsewhere_is_seen_by_a_running_predictor(trained_model_dir, tmp_path):
    """Another process (or app worker) confirms: the predictor notices through the revision."""
    import time

    from sasirangan import predict as predict_module

    with Catalogue.open(tmp_path / "cat") as serving_side, Catalogue.open(tmp_path / "cat") as curator_side:
        predictor = Predictor(trained_model_dir, catalogue=serving_side)
        for seed in range(5):
            curator_side.add_photo(_dots(seed), "dots", source="import", status="confirmed")
        predictor._references_checked = time.monotonic() - predict_module.REFERENCES_REFRESH
        assert predictor.predict(_dots(0)).label == "dots"


def test_model_folder_without_centres_is_explained(trained_model_dir, tmp_path):
    import shutil

    from sasirangan.card import OPEN_SET_FILE

    model = trained_model_dir.parent / "model_without_centres"  # beside it: the split's paths are relative
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(trained_model_dir, model)
    arrays = {k: v for k, v in np.load(model / OPEN_SET_FILE).items() if not k.startswith("enrol_")}
    np.savez(model / OPEN_SET_FILE, **arrays)
    with pytest.raises(NotFittedError, match="sasirangan calibrate MODEL_DIR --centres-only"):
        Predictor(model, catalogue=tmp_path / "cat")
    assert Predictor(model).training_pictures is None  # without a catalogue it serves, guesses the model's

    card_before = json.loads((model / "model_card.json").read_text())
    assert main(["calibrate", str(model), "--centres-only"]) == 0
    assert json.loads((model / "model_card.json").read_text()) == card_before  # thresholds untouched
    refitted = dict(np.load(model / OPEN_SET_FILE))
    original = dict(np.load(trained_model_dir / OPEN_SET_FILE))
    assert refitted.keys() == original.keys()
    np.testing.assert_allclose(refitted["enrol_centres"], original["enrol_centres"], atol=1e-4)
    np.testing.assert_allclose(refitted["enrol_pictures"], original["enrol_pictures"], atol=1e-2)
    assert Predictor(model, catalogue=tmp_path / "cat").enrolment is not None
    assert Predictor(model).training_pictures is not None


# --------------------------------------------------------------------------- the command line


def test_cli_catalogue_import_list_export_backup(tmp_path, capsys):
    data = tmp_path / "data"
    for offset, (motif, kind) in enumerate((("gigi_haruan", "stripes"), ("kembang_kacang", "checks"))):
        (data / motif).mkdir(parents=True)
        for seed in range(3):
            pattern_image(kind, 100 * offset + seed, 40).save(data / motif / f"{seed}.png")
    pattern_image("stripes", 0, 40).save(data / "gigi_haruan" / "copy.png")  # the same photo again
    (data / "gigi_haruan" / "broken.jpg").write_bytes(b"not a jpeg")
    cat = tmp_path / "cat"

    assert main(["catalogue", "import", str(cat), str(data)]) == 0
    out = capsys.readouterr().out
    assert "Imported 6 photos" in out and "1 already there" in out and "broken.jpg" in out

    assert main(["catalogue", "list", str(cat)]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["gigi_haruan"] == ["0", "3", "0"] and rows["kembang_kacang"] == ["0", "3", "0"]

    assert main(["catalogue", "export", str(cat), str(tmp_path / "export")]) == 0
    assert sorted(p.parent.name for p in (tmp_path / "export").rglob("*.png")) == ["gigi_haruan"] * 3 + ["kembang_kacang"] * 3
    assert (tmp_path / "export" / "provenance.csv").read_text().count("\n") == 7

    assert main(["catalogue", "backup", str(cat), str(tmp_path / "copy")]) == 0
    with Catalogue.open(tmp_path / "copy") as copy:
        assert copy.counts()["gigi_haruan"]["confirmed"] == 3


def test_cli_catalogue_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["catalogue", "list", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sasirangan catalogue: error:") and err.count("\n") == 1
    assert main(["catalogue", "list", "mysql://host/db"]) == 2
    assert "postgresql://" in capsys.readouterr().err
    assert main(["catalogue", "import", str(tmp_path / "new_cat"), str(tmp_path / "missing")]) == 2
    assert "folder not found" in capsys.readouterr().err
    assert not (tmp_path / "new_cat").exists()  # a failed import creates nothing


def test_cli_predict_with_catalogue_names_enrolled_motif(trained_model_dir, tmp_path, capsys):
    cat = tmp_path / "cat"
    with Catalogue.open(cat) as catalogue:
        for seed in range(5):
            catalogue.add_photo(_dots(seed), "dots", source="import", status="confirmed")
    from PIL import Image

    Image.fromarray(_dots(0)).save(tmp_path / "query.png")
    assert main(["predict", str(trained_model_dir), str(tmp_path / "query.png"), "--catalogue", str(cat), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["label"], answer["source"], answer["references"]) == ("dots", "catalogue", 5)


def test_cli_train_from_a_catalogue(tmp_path, capsys):
    cat = tmp_path / "cat"
    with Catalogue.open(cat) as catalogue:
        for offset, kind in enumerate(("stripes", "checks")):
            for seed in range(8):
                catalogue.add_photo(pattern_image(kind, 100 * offset + seed, 40), kind, source="import",
                                    status="confirmed")
    out = tmp_path / "model"
    assert main(["train", str(cat), "--out", str(out), "--image-size", "32", "--weights", "none", "--head-epochs", "1",
                 "--crop-passes", "1", "--batch-size", "8", "--quiet"]) == 0
    assert "Exported 16 confirmed photos of 2 motifs" in capsys.readouterr().out
    assert json.loads((out / "class_names.json").read_text()) == ["checks", "stripes"]
    assert (tmp_path / "model_photos" / "provenance.csv").is_file()


def test_a_motif_the_model_names_near_a_catalogue_motif_is_not_sure(trained_model_dir, tmp_path):
    """The three kinds of answer hold for enrolled motifs: almost as near a catalogue motif as the
    model's own motif is "not sure which", with the catalogue motif among the closest."""
    from sasirangan import predict as predict_module
    from sasirangan.enrol import Match

    with Catalogue.open(tmp_path / "cat") as catalogue:
        predictor = Predictor(trained_model_dir, catalogue=catalogue)
        margin = predictor.enrolment.margin
        near = Match("dots", 0.5, margin - predict_module.NEAR_CATALOGUE_BAND / 2, "stripes", 5,
                     {"dots": 0.5, "stripes": 0.4, "bands": 0.1}, named=False)
        far = Match("dots", 0.1, margin - 2 * predict_module.NEAR_CATALOGUE_BAND, "stripes", 5, {}, named=False)
        assert predictor._also_near_catalogue(near, "stripes")
        assert not predictor._also_near_catalogue(far, "stripes")
        assert not predictor._also_near_catalogue(near, "dots")  # the same motif: no conflict
        assert not predictor._also_near_catalogue(None, "stripes")
        known = Match("bands", 0.5, near.margin, "stripes", 5, {}, named=False)
        assert not predictor._also_near_catalogue(known, "stripes")  # the model's own rival: it decides

        predictor.scorer = None  # no open-set gate: the verdict below rests on the confidence alone,
        predictor.temperature = 1.0  # and on these logits, not on the toy model's calibration
        outputs = {**predictor.outputs(_dots(0)), "logits": np.array([-4.0, -4.0, 4.0], np.float32)}
        predictor._catalogue_match = lambda outputs: far
        assert predictor.decide(outputs).verdict == "motif"
        predictor._catalogue_match = lambda outputs: near
        prediction = predictor.decide(outputs)
        assert prediction.verdict == "uncertain" and "dots" in prediction.reason
        assert "dots" in prediction.probabilities and prediction.label == "unknown"


def test_an_unnamed_upload_shows_the_catalogue_ranking_once_every_motif_has_references(trained_model_dir, tmp_path):
    """The catalogue's ranking was better on batik photos when every motif had references, not with
    some; on webcam frames the model's guesses were (BENCHMARKS.md, "Which guesses a not-sure
    answer shows"): uploads (`still`, as `predict` passes) get the ranking, frames not."""
    from sasirangan.enrol import Match

    ranking = {"bands": 0.6, "checks": 0.3, "stripes": 0.1}
    match = Match("bands", 0.5, -0.5, "checks", 1, ranking, named=False)
    with Catalogue.open(tmp_path / "cat") as catalogue:
        predictor = Predictor(trained_model_dir, catalogue=catalogue)
        predictor.scorer, predictor.temperature = None, 1.0  # the verdict rests on these logits alone
        predictor._catalogue_match = lambda outputs: match
        predictor.training_pictures = None  # the catalogue's rule alone (the nearest pictures': below)
        unsure = {**predictor.outputs(_dots(0)), "logits": np.array([0.1, 0.0, 0.2], np.float32)}
        model_guesses = predictor.decide(unsure, still=True).top
        assert model_guesses[0][0] == predictor.class_names[2] != "bands"

        for motif in ("bands", "checks"):  # some motifs enrolled: the model's guesses
            catalogue.add_photo(pattern_image(motif, 7, 40), motif, source="import", status="confirmed")
        assert predictor.refresh_references() == 2
        assert predictor.decide(unsure, still=True).top == model_guesses

        catalogue.add_photo(pattern_image("stripes", 7, 40), "stripes", source="import", status="confirmed")
        assert predictor.refresh_references() == 3  # every motif: an upload gets the ranking
        upload = predictor.decide(unsure, still=True)
        assert (upload.verdict, upload.label) == ("uncertain", "unknown")
        assert upload.top == [("bands", 0.6), ("checks", 0.3), ("stripes", 0.1)] and upload.probabilities == ranking
        assert predictor.decide(unsure).top == model_guesses  # a live frame keeps the model's

        confident = {**unsure, "logits": np.array([-4.0, -4.0, 4.0], np.float32)}
        named = predictor.decide(confident, still=True)  # a named motif keeps its own probabilities
        assert named.verdict == "motif" and named.top[0][0] == predictor.class_names[2]


def test_an_unnamed_upload_without_a_catalogue_shows_the_models_own_guesses(trained_model_dir):
    """Without a catalogue of every motif, an upload no motif is named for is guessed by the
    model's own probabilities, as a live frame is: the mean with the nearest training pictures'
    shares was left out by the rule pooled over nine retrained heads (BENCHMARKS.md, "Without a
    catalogue: the nearest training picture as guesses?"), though the model keeps the pictures."""
    predictor = Predictor(trained_model_dir)
    predictor.scorer, predictor.temperature = None, 1.0  # the verdict rests on these logits alone
    assert predictor.training_pictures is not None  # `sasirangan train` keeps them
    unsure = {**predictor.outputs(_dots(1)), "logits": np.array([0.3, 0.2, 0.0], np.float32)}
    model = dict(zip(predictor.class_names, predictor.calibrated(unsure).tolist()))
    nearest = predictor.training_pictures.nearest_shares(unsure["features"])
    assert nearest != pytest.approx(model, abs=1e-3)  # the two differ, so the test can tell them apart

    upload = predictor.decide(unsure, still=True)
    assert (upload.verdict, upload.label) == ("uncertain", "unknown")
    assert upload.probabilities == pytest.approx(model)
    assert [name for name, _ in upload.top] == sorted(model, key=lambda name: -model[name])
    assert [p for _, p in upload.top] == pytest.approx(sorted(model.values(), reverse=True))
    assert predictor.decide(unsure).probabilities == pytest.approx(model)  # a live frame: the same
    named = predictor.decide({**unsure, "logits": np.array([-4.0, -4.0, 4.0], np.float32)}, still=True)
    assert named.verdict == "motif" and named.top[0][0] == predictor.class_names[2]
