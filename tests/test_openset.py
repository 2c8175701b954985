import numpy as np
import pytest

from sasirangan.calibrate import (NotFittedError, TemperatureScaler, calibration_error, ece_interval, ece_of_calibrated_model,
                                  expected_calibration_error, softmax)
from sasirangan.evaluate import accuracy_interval
from sasirangan.openset import METHODS, OpenSetScorer


@pytest.fixture(scope="module")
def overconfident():
    """Logits 4x too sharp for how often they are right: what a small-data model looks like."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 2000)
    logits = rng.normal(0, 1, (2000, 4))
    logits[np.arange(2000), labels] += 1.5
    return logits * 4, labels


def test_temperature_scaling_lowers_calibration_error(overconfident):
    logits, labels = overconfident
    scaler = TemperatureScaler().fit(logits[:1000], labels[:1000])
    assert scaler.temperature_ > 2
    before = expected_calibration_error(softmax(logits[1000:]), labels[1000:])
    after = expected_calibration_error(scaler.transform(logits[1000:]), labels[1000:])
    assert after < before / 2 and after < 0.05


def test_intervals_hold_the_measured_value_and_narrow_with_more_images(overconfident):
    logits, labels = overconfident
    probabilities = softmax(logits)
    few, many = ece_interval(probabilities[:43], labels[:43]), ece_interval(probabilities, labels)
    assert few[0] <= expected_calibration_error(probabilities[:43], labels[:43]) <= few[1]
    assert many[0] <= expected_calibration_error(probabilities, labels) <= many[1]
    assert many[1] - many[0] < (few[1] - few[0]) / 2
    low, high = accuracy_interval(29, 43)  # 67.4% of 43 test images
    assert 0.50 < low < 0.55 and 0.78 < high < 0.82  # nowhere near a 90% target
    assert accuracy_interval(290, 430)[1] - accuracy_interval(290, 430)[0] < (high - low) / 2


def test_ece_of_a_calibrated_model_is_large_on_few_images_and_small_on_many():
    # A model that is right exactly 70% of the time when it says 70%: perfectly calibrated, yet
    # 43 images measure an ECE of about 6% and up to 14%, so a 5% target cannot be judged on them.
    few, many = ece_of_calibrated_model(np.full(43, 0.7)), ece_of_calibrated_model(np.full(4300, 0.7))
    assert 0.04 < few[0] < 0.08 and few[1] > 0.1
    assert many[1] < 0.02
    # and it brackets what such a model actually measures
    rng = np.random.default_rng(1)
    measured = [calibration_error(np.full(43, 0.7), rng.random(43) < 0.7) for _ in range(200)]
    assert abs(np.mean(measured) - few[0]) < 0.01
    assert 0.9 < np.mean(np.array(measured) <= few[1]) <= 1.0


def test_temperature_scaling_keeps_ranking_and_sums_to_one(overconfident):
    logits, labels = overconfident
    probabilities = TemperatureScaler().fit(logits, labels).transform(logits)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), logits.argmax(axis=1))


def test_unfitted_objects_say_to_fit_first():
    with pytest.raises(NotFittedError, match="call fit"):
        TemperatureScaler().transform(np.zeros((1, 3)))
    with pytest.raises(NotFittedError, match="call fit"):
        OpenSetScorer("cosine").score({"features": np.ones((1, 4))})


def _clusters(rng, centres, n, spread=0.3):
    labels = rng.integers(0, len(centres), n)
    return centres[labels] + rng.normal(0, spread, (n, centres.shape[1])), labels


@pytest.mark.parametrize("method", METHODS)
def test_scorer_accepts_target_share_and_rejects_far_points(method):
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 3, (3, 16))
    head = rng.normal(0, 1, (16, 3))

    def outputs(x):
        return {"logits": x @ head, "features": x, "embedding": x}

    train_x, train_y = _clusters(rng, centres, 600)
    val_x, val_y = _clusters(rng, centres, 400)
    scorer = OpenSetScorer(method, 0.9).fit(outputs(train_x), train_y, outputs(val_x), val_y)
    assert np.mean(scorer.is_known(outputs(val_x))) == pytest.approx(0.9, abs=0.02)
    if method in ("mahalanobis", "cosine"):  # the logit scores cannot see distance from the data
        far = rng.normal(0, 3, (200, 16)) * np.r_[np.zeros(8), np.ones(8) * 3]
        assert np.mean(scorer.is_known(outputs(far))) < 0.1


def test_scorer_round_trips_through_card_and_arrays():
    rng = np.random.default_rng(2)
    x, y = _clusters(rng, rng.normal(0, 3, (2, 6)), 100)
    out = {"logits": x[:, :2], "features": x, "embedding": x}
    scorer = OpenSetScorer("mahalanobis", 0.95, known=[0, 1]).fit(out, y, out, y)
    again = OpenSetScorer.from_dict(scorer.to_dict(), scorer.arrays())
    np.testing.assert_allclose(again.score(out), scorer.score(out), rtol=1e-4)
    assert again.threshold_ == scorer.threshold_


def test_scorer_rejects_bad_settings():
    out = {"logits": np.zeros((2, 2)), "features": np.zeros((2, 2)), "embedding": np.zeros((2, 2))}
    with pytest.raises(ValueError, match="method must be one of"):
        OpenSetScorer("vibes").fit(out, [0, 1], out, [0, 1])
    with pytest.raises(ValueError, match="no images of known classes"):
        OpenSetScorer("energy", known=[0]).fit(out, [1, 1], out, [1, 1])
