"""Picture-quality checks: each degradation is named, and good pictures (small or mildly soft) pass."""

import dataclasses

import cv2
import numpy as np
import pytest

from conftest import SHARED, requires_shared
from sasirangan.quality import (PROBLEMS, THRESHOLDS, QualityProblem, check_coverage, check_exposure_and_focus,
                                exposure_focus_measures, judge_pattern, luminance_spread)


def textured(height=480, width=640, seed=0) -> np.ndarray:
    """A cloth-like picture: random stripes at several angles and periods, coloured, with grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    wave = np.zeros((height, width), np.float32)
    for _ in range(3):
        angle, period = rng.uniform(0, np.pi), rng.uniform(8, 24)
        wave += np.sign(np.sin((x * np.cos(angle) + y * np.sin(angle)) / period * 2 * np.pi + rng.uniform(0, 6)))
    dark = rng.uniform(40, 120, 3)
    colours = np.stack([dark, dark + rng.uniform(50, 100, 3)]).astype(np.float32)  # the dye lines show
    mix = (wave[..., None] + 3) / 6  # 0..1
    pixels = colours[0] * (1 - mix) + colours[1] * mix + rng.normal(0, 6, (height, width, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def on_plain_background(patch, height=480, width=640, grey=120, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = np.full((height, width, 3), grey, np.float32) + rng.normal(0, 2, (height, width, 3))
    top, left = (height - patch.shape[0]) // 3, (width - patch.shape[1]) // 2
    frame[top:top + patch.shape[0], left:left + patch.shape[1]] = patch
    return np.clip(frame, 0, 255).astype(np.uint8)


def code(problem):
    return problem.code if problem else None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_textured_picture_passes_all_checks(seed):
    picture = textured(seed=seed)
    assert check_exposure_and_focus(picture) is None
    assert check_coverage(picture) is None


def test_darkened_picture_is_too_dark():
    assert code(check_exposure_and_focus((textured() * 0.08).astype(np.uint8))) == "too_dark"


def test_dim_but_visible_picture_passes():
    assert check_exposure_and_focus((textured() * 0.5).astype(np.uint8)) is None


def test_blown_out_picture_is_too_bright():
    picture = textured().astype(np.float32)
    assert code(check_exposure_and_focus(np.clip(picture * 4, 0, 255).astype(np.uint8))) == "too_bright"
    washed_out = 255 - (255 - picture) * 0.1
    assert code(check_exposure_and_focus(washed_out.astype(np.uint8))) == "too_bright"


def test_mostly_white_picture_is_too_bright():
    """Blown out over most of the frame, though a corner of the pattern is still visible."""
    picture = textured()
    picture[:340] = 255
    assert code(check_exposure_and_focus(picture)) == "too_bright"


def test_picture_with_a_white_patch_passes():
    """A window or a white wall behind part of the cloth is no reason to refuse the picture."""
    picture = textured()
    picture[:120] = 255
    assert check_exposure_and_focus(picture) is None


def test_heavily_blurred_picture_is_too_blurry():
    assert code(check_exposure_and_focus(cv2.GaussianBlur(textured(), (0, 0), 12))) == "too_blurry"
    tiny = cv2.resize(textured(), (40, 30), interpolation=cv2.INTER_AREA)
    assert code(check_exposure_and_focus(cv2.resize(tiny, (640, 480)))) == "too_blurry"


def test_mildly_soft_webcam_view_passes():
    """A webcam frame with a little blur must still reach the model."""
    assert check_exposure_and_focus(cv2.GaussianBlur(textured(), (0, 0), 2)) is None


def test_small_photo_enlarged_3x_passes_the_blur_check():
    small = textured(160, 120, seed=3)
    enlarged = cv2.resize(small, (360, 480), interpolation=cv2.INTER_LINEAR)
    assert check_exposure_and_focus(enlarged) is None


def test_small_pattern_on_plain_background_is_too_small():
    picture = on_plain_background(textured(90, 120, seed=4))
    assert code(check_coverage(picture)) == "too_small"
    assert check_coverage(textured(seed=4)) is None  # the same cloth filling the frame


def test_cloth_filling_most_of_the_frame_passes_coverage():
    """A plain strip of wall or table beside the cloth is normal in a photo."""
    picture = on_plain_background(textured(480, 440, seed=7))
    assert check_coverage(picture) is None


def test_grayscale_pictures_are_accepted():
    gray = cv2.cvtColor(textured(), cv2.COLOR_RGB2GRAY)
    as_rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    for picture in (as_rgb, gray):
        assert check_exposure_and_focus(picture) is None
        assert check_coverage(picture) is None
    assert code(check_exposure_and_focus((as_rgb * 0.08).astype(np.uint8))) == "too_dark"


@pytest.mark.parametrize("height, width", [(200, 700), (900, 300), (97, 131)])
def test_non_square_frames(height, width):
    picture = textured(height, width, seed=5)
    assert check_exposure_and_focus(picture) is None
    assert check_coverage(picture) is None
    assert code(check_exposure_and_focus(cv2.GaussianBlur(picture, (0, 0), max(height, width) / 60))) == "too_blurry"


def test_small_pattern_in_a_wide_frame_is_too_small():
    picture = on_plain_background(textured(60, 80, seed=6), height=360, width=1280)
    assert code(check_coverage(picture)) == "too_small"


def test_problems_tell_what_is_wrong_and_what_to_do():
    assert set(PROBLEMS) == {"too_dark", "too_bright", "too_blurry", "too_small", "no_pattern"}
    for name, problem in PROBLEMS.items():
        assert isinstance(problem, QualityProblem) and problem.code == name
        assert problem.message.endswith(".") and problem.advice.endswith(".")
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROBLEMS["too_dark"].code = "ok"


@pytest.mark.integration
@requires_shared
def test_original_sasirangan_photos_pass_all_checks():
    from sasirangan.data import load_image

    photos = sorted((SHARED / "datasets" / "sasirangan" / "photos").glob("*/*.jpg"))
    assert len(photos) == 16
    flagged = {p.name: code(check_exposure_and_focus(rgb)) or code(check_coverage(rgb))
               for p in photos for rgb in [load_image(p)]}
    assert {name: c for name, c in flagged.items() if c} == {}


def plain_cloth(height=480, width=640, colour=(35, 30, 40), seed=0) -> np.ndarray:
    """Dyed cloth with no motif in view: one colour, a soft fold of shading, camera grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    fold = 12 * np.sin(x / width * 3 + y / height)  # a gentle fold: +-12 levels
    pixels = np.asarray(colour, np.float32) + fold[..., None] + rng.normal(0, 3, (height, width, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def resist_lines(height=480, width=640, seed=0) -> np.ndarray:
    """The same dark cloth with a motif's pale resist lines (tied and dyed: the lines stay light)."""
    picture = plain_cloth(height, width, seed=seed)
    y, x = np.mgrid[0:height, 0:width]
    lines = np.abs(np.sin(x / 40 + 2 * np.sin(y / 60))) < 0.15  # wavy lines, as in Ular Lidi
    picture[lines] = (200, 190, 210)
    return picture


@pytest.mark.parametrize("colour", [(35, 30, 40), (150, 20, 30), (20, 30, 120)])
def test_plain_cloth_shows_no_pattern(colour):
    picture = plain_cloth(colour=colour)
    assert code(judge_pattern(exposure_focus_measures(picture))) == "no_pattern"
    assert code(check_exposure_and_focus(picture)) != "too_dark"  # dim cloth, but visible


def test_resist_lines_on_the_same_cloth_are_a_pattern():
    picture = resist_lines()
    assert judge_pattern(exposure_focus_measures(picture)) is None
    # softened as a webcam softens it (Gaussian sigma 2 px), the lines still stand out
    softened = cv2.GaussianBlur(picture, (0, 0), 2)
    assert judge_pattern(exposure_focus_measures(softened)) is None


def test_pattern_threshold_is_read_from_the_limits():
    measures = exposure_focus_measures(resist_lines())
    spread = luminance_spread(measures)
    assert code(judge_pattern(measures, {**THRESHOLDS, "plain_spread": spread + 1})) == "no_pattern"
    assert judge_pattern(measures, {**THRESHOLDS, "plain_spread": spread}) is None
