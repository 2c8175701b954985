"""The three kinds of answer: the rule, the cloth score, and a model trained with cloth negatives."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import make_flat_pictures, make_tree
from sasirangan.data import Sample
from sasirangan.verdict import MOTIF, NOT_MOTIF, UNCERTAIN, ClothScorer, cloth_labels, decide_verdict


@pytest.mark.parametrize("top_is_motif, confidence, open_set_ok, is_cloth, unknown_won, expected", [
    (True, 0.9, True, True, False, MOTIF),
    (True, 0.9, None, None, False, MOTIF),  # an uncalibrated model: the probability alone
    (True, 0.4, True, True, False, UNCERTAIN),  # cloth, but not confident
    (True, 0.9, False, True, False, MOTIF),  # with a cloth score, the open-set score is not a gate
    (True, 0.9, False, None, False, UNCERTAIN),  # without one, it is: unlike every motif in training
    (True, 0.9, True, False, False, NOT_MOTIF),  # confident, but not cloth
    (False, 0.9, None, True, True, UNCERTAIN),  # the unknown class won on cloth: other cloth
    (False, 0.9, None, False, True, NOT_MOTIF),
    (False, 0.9, None, None, True, NOT_MOTIF),  # no cloth score: the unknown class means "not a motif"
    (True, 0.3, None, None, False, UNCERTAIN),
])
def test_decide_verdict(top_is_motif, confidence, open_set_ok, is_cloth, unknown_won, expected):
    assert decide_verdict(top_is_motif, confidence, 0.5, open_set_ok, is_cloth, unknown_won) == expected


@pytest.mark.parametrize("confidence, unknown_share, ceiling, expected", [
    (0.85, 0.10, 1.0, MOTIF),  # no ceiling: the confidence alone
    (0.85, 0.10, 0.05, UNCERTAIN),  # confident, but too much like other cloth
    (0.85, 0.05, 0.05, MOTIF),  # at the ceiling is still under it
    (0.75, 0.01, 0.05, UNCERTAIN),  # under the ceiling, but not confident
])
def test_decide_verdict_with_a_ceiling_on_the_unknown_class(confidence, unknown_share, ceiling, expected):
    assert decide_verdict(True, confidence, 0.8, True, True, False, unknown_share, ceiling) == expected


def _blobs(seed=0, n=40):
    rng = np.random.default_rng(seed)
    features = np.r_[rng.normal(1.0, 1.0, (n, 6)), rng.normal(-1.0, 1.0, (n, 6))]
    return features, np.r_[np.ones(n, bool), np.zeros(n, bool)]


def test_cloth_scorer_separates_and_keeps_most_cloth():
    features, is_cloth = _blobs()
    val_features, val_is_cloth = _blobs(seed=1)
    scorer = ClothScorer().fit(features, is_cloth, val_features, val_is_cloth)
    assert scorer.threshold_ <= 0.5
    accepted = scorer.is_cloth(val_features)
    assert accepted[val_is_cloth].mean() >= 0.95 and accepted[~val_is_cloth].mean() <= 0.2


def test_cloth_scorer_round_trips_through_card_and_arrays():
    features, is_cloth = _blobs()
    scorer = ClothScorer().fit(features, is_cloth, features, is_cloth)
    loaded = ClothScorer.from_dict(json.loads(json.dumps(scorer.to_dict())), scorer.arrays())
    np.testing.assert_allclose(loaded.score(features), scorer.score(features), atol=1e-5)
    with pytest.raises(KeyError):
        ClothScorer.from_dict(scorer.to_dict(), {})


def test_cloth_scorer_reads_its_inputs_side_by_side_and_old_cards_read_the_features():
    scorer = ClothScorer(inputs=("embedding", "scene"))
    outputs = {"embedding": np.ones((2, 3)), "scene": np.zeros((2, 4)), "features": np.full((2, 5), 7.0)}
    np.testing.assert_array_equal(scorer.rows(outputs), np.c_[np.ones((2, 3)), np.zeros((2, 4))])
    assert scorer.rows({"embedding": np.ones(3), "scene": np.zeros(4)}).shape == (1, 7)  # one picture's outputs
    with pytest.raises(KeyError, match="scene is missing"):
        scorer.rows({"embedding": np.ones(3)})
    features, is_cloth = _blobs()
    legacy = ClothScorer(inputs=("features",)).fit(features, is_cloth, features, is_cloth)
    settings = legacy.to_dict()
    del settings["inputs"]  # a card written before the cloth score read the scene
    assert ClothScorer.from_dict(settings, legacy.arrays()).inputs == ("features",)


def test_cloth_scorer_needs_both_kinds():
    features, _ = _blobs()
    with pytest.raises(ValueError, match="cloth and of things that are not cloth"):
        ClothScorer().fit(features, np.ones(len(features), bool), features, np.ones(len(features), bool))


def test_cloth_labels_follow_symbolic_links(tmp_path):
    real = tmp_path / "shared" / "other_cloth"
    real.mkdir(parents=True)
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(real / name)
    half = tmp_path / "half"
    half.mkdir()
    (half / "a.png").symlink_to(real / "a.png")
    samples = [Sample(str(real / "a.png"), "unknown"), Sample(str(real / "b.png"), "unknown"),
               Sample(str(tmp_path / "x.png"), "gigi_haruan")]
    assert cloth_labels(samples, "unknown", [str(half)]).tolist() == [True, False, True]
    with pytest.raises(FileNotFoundError, match="gone"):
        cloth_labels(samples, "unknown", [str(tmp_path / "missing")])


def test_model_trained_with_cloth_and_non_cloth_answers_with_a_verdict(tmp_path, capsys):
    """Train with --unknown-dir (not cloth) and --cloth-dir; the card holds the cloth score,
    and `predict --json` gives a verdict for each picture."""
    from sasirangan.cli import main

    data = make_tree(tmp_path / "data", classes=("stripes", "bands"), per_class=8, size=40)
    cloth = make_tree(tmp_path / "cloth", classes=("checks",), per_class=8, size=40) / "checks"
    flat = make_flat_pictures(tmp_path / "flat")
    out = tmp_path / "model"
    assert main(["train", str(data), "--out", str(out), "--image-size", "32", "--weights", "none",
                 "--head-epochs", "2", "--crop-passes", "1", "--views-grid", "0", "--batch-size", "8", "--quiet",
                 "--unknown-dir", str(flat), "--cloth-dir", str(cloth)]) == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["verdict"]["confident"] == 0.5 and 0 < card["verdict"]["cloth"]["threshold"] <= 0.5
    assert set(np.load(out / "open_set.npz").files) >= {"centres", "cloth_coef", "cloth_mean"}
    assert card["verdict"]["cloth"]["inputs"] == ["embedding", "scene"]  # MobileNetV2's tap (576) and last layer (1280)
    assert np.load(out / "open_set.npz")["cloth_coef"].size == 576 + 1280
    capsys.readouterr()
    assert main(["predict", str(out), str(data / "stripes"), "--json"]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(answers) == 8
    for answer in answers:
        assert answer["verdict"] in (MOTIF, UNCERTAIN, NOT_MOTIF)
        assert (answer["label"] != "unknown") == (answer["verdict"] == MOTIF)


def _texture(size=(240, 320), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, 50, (*size, 1)) + np.zeros((1, 1, 3)), 0, 255).astype(np.uint8)


def test_picture_problem_depends_on_the_verdict():
    from sasirangan.verdict import picture_problem

    sharp = _texture()
    dark = (sharp * 0.05).astype(np.uint8)
    blown = np.full_like(sharp, 255)
    small = np.full_like(sharp, 128)
    small[80:160, 120:200] = sharp[:80, :80]  # 8% of the frame: its pattern shows, but small
    assert picture_problem(sharp, UNCERTAIN) is None and picture_problem(None, UNCERTAIN) is None
    assert all(picture_problem(dark, verdict).code == "too_dark" for verdict in (MOTIF, UNCERTAIN, NOT_MOTIF))
    assert picture_problem(blown, UNCERTAIN).code == "too_bright"
    assert picture_problem(blown, MOTIF).code == "too_bright"  # all white: no pattern, so no motif, said as why
    assert picture_problem(blown, NOT_MOTIF) is None  # a stamp on white paper is still not a motif
    assert picture_problem(small, UNCERTAIN).code == "too_small"
    assert picture_problem(small, MOTIF) is None and picture_problem(small, NOT_MOTIF) is None


def test_plain_cloth_never_gets_a_motif_name():
    """A camera over a plain band of the cloth (or a plain shirt) shows no motif: whatever the
    model makes of it, the answer is "no pattern in view", except that a plain wall judged not a
    motif stays "not a motif"."""
    from sasirangan.verdict import picture_problem

    rng = np.random.default_rng(0)
    plain_red = np.array([150, 20, 30]) + rng.normal(0, 3, (240, 320, 3))
    plain = np.clip(plain_red, 0, 255).astype(np.uint8)
    assert picture_problem(plain, MOTIF).code == "no_pattern"
    assert picture_problem(plain, UNCERTAIN).code == "no_pattern"
    assert picture_problem(plain, NOT_MOTIF) is None
