"""Say when the picture itself is the problem: too dark, blown out, blurred, plain, or the cloth too small.

A classifier answers on any picture; on a black frame or a blurred smear its answer means nothing,
and the user learns more from "too dark: turn on a light" than from "unknown motif". These checks
are cheap (well under 2 ms for a 640x480 frame) so the app can run them on every frame before
the model. Each picture is first shrunk to a fixed working size, so the measures do not depend
on the camera's resolution, and only clearly unusable pictures are flagged: a dim but visible
photo, a small photo enlarged, or a webcam view with mild blur still goes to the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Every number the checks compare against, in one place. The five decision thresholds (first
# five keys) were chosen by `python benchmarks/quality_checks.py --sweep` on its tuning half of
# the shared cloth photos: the most detection of its degraded copies with false alarms <= 1% on
# the originals and mild webcam-like copies, and of equal values the most lenient (a false alarm
# stops the app answering on a usable picture). It prints detection and false alarms on both halves.
THRESHOLDS = {
    "dark_brightest": 40.0,  # too_dark: the brightest 1% of the picture is below this luminance (0-255)
    "bright_darkest": 215.0,  # too_bright (washed out): even the darkest 1% is above this luminance
    "bright_blown_share": 0.6,  # too_bright (blown out): at least this share of the picture is white
    "blur_sharpness": 0.24,  # too_blurry: the sharpest edges rise less than this share of their contrast per pixel
    "small_textured_share": 0.2,  # too_small: less than this share of the frame's tiles shows pattern
    # no_pattern: the luminance spread (99th minus 1st percentile) is below this: plain cloth, no motif in view.
    # Chosen by `python benchmarks/plain_cloth.py` on webcam-like frames of the validation regions.
    "plain_spread": 75.0,
    # How the measures are taken (fixed, not swept):
    "blown_level": 250,  # a pixel whose luminance reaches this is blown out
    "edge_contrast_floor": 8.0,  # only edges with at least this local contrast (luminance levels) ...
    "edge_contrast_share": 0.2,  # ... and this share of the picture's luminance spread count for sharpness
    "tile_std_floor": 4.0,  # a tile shows pattern when its colour std reaches this ...
    "tile_std_share": 0.05,  # ... and this share of the picture's luminance spread (1st-99th percentile)
}

WORK_SIDE = 256  # long side of the working copy, in pixels
TILE = 16  # coverage tiles: 16x16 px of the working copy (a 16 x 12 grid for 4:3)
EDGE_WINDOW = np.ones((9, 9), np.uint8)  # local contrast is the luminance range in this window


@dataclass(frozen=True)
class QualityProblem:
    """Why the picture cannot be judged, and what the user can do about it."""

    code: str  # "too_dark" | "too_bright" | "too_blurry" | "too_small" | "no_pattern"
    message: str  # what is wrong, one short sentence for the user
    advice: str  # what to do, one short sentence


PROBLEMS = {
    "too_dark": QualityProblem("too_dark", "The picture is too dark to see the pattern.",
                               "Turn on a light or move the cloth nearer a window."),
    "too_bright": QualityProblem("too_bright", "The picture is overexposed: most of it is washed out to white.",
                                 "Move out of direct light or away from glare."),
    "too_blurry": QualityProblem("too_blurry", "The picture is too blurry to make out the pattern.",
                                 "Hold the camera still and let it focus on the cloth."),
    "too_small": QualityProblem("too_small", "The cloth fills only a small part of the picture.",
                                "Move closer so the cloth fills the frame."),
    "no_pattern": QualityProblem("no_pattern", "The picture shows no pattern: plain cloth or an even surface.",
                                 "Point the camera at the motif itself, or move closer to it."),
}


def as_rgb(rgb: np.ndarray) -> np.ndarray:
    """An HxWx3 uint8 array; grayscale (HxW or HxWx1) becomes RGB and an alpha channel is dropped."""
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = rgb[..., None]
    if rgb.ndim != 3 or rgb.shape[2] not in (1, 3, 4) or min(rgb.shape[:2]) < 1:
        raise ValueError(f"Expected an HxWx3 picture. Received shape {rgb.shape}.")
    return np.ascontiguousarray(np.broadcast_to(rgb[..., :3], (*rgb.shape[:2], 3)), dtype=np.uint8)


def _work_size(rgb: np.ndarray) -> tuple[int, int]:
    h, w = rgb.shape[:2]
    scale = WORK_SIDE / max(h, w)
    return max(1, round(w * scale)), max(1, round(h * scale))


def working_copy(rgb: np.ndarray) -> np.ndarray:
    """The picture with its long side at WORK_SIDE px, so measures are per working pixel whatever
    the camera's resolution.

    Shrinking averages whole blocks (INTER_AREA by an integer factor, OpenCV's fast path), then
    resamples the remaining factor below 2 bilinearly: INTER_AREA at a fractional factor costs
    ~0.8 ms for a 640x480 frame, this ~0.15 ms.
    """
    rgb = as_rgb(rgb)
    h, w = rgb.shape[:2]
    block = max(h, w) // WORK_SIDE
    if block >= 2:
        rgb = cv2.resize(rgb, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
    return cv2.resize(rgb, _work_size(rgb), interpolation=cv2.INTER_LINEAR)


def _percentiles(gray: np.ndarray, *qs: float) -> list[int]:
    """Luminance percentiles of a uint8 picture from its histogram (cheaper than np.percentile)."""
    cumulative = np.cumsum(np.bincount(gray.ravel(), minlength=256)) / gray.size
    return [int(np.searchsorted(cumulative, q)) for q in qs]


def exposure_focus_measures(rgb: np.ndarray, limits: dict = THRESHOLDS) -> dict[str, float]:
    """The raw numbers behind check_exposure_and_focus (the benchmark sweeps thresholds on them).

    brightest: 99th percentile of luminance; a dim picture still has some bright pixels.
    darkest: 1st percentile of luminance; a bright but usable picture still has some dark pixels.
    blown_share: share of the picture blown out to white, where no pattern survives.
    sharpness: 99th percentile, over pixels with enough local contrast (for the picture: a pale
        pattern counts), of gradient / local contrast. It estimates how steep the sharpest edges
        are independently of their contrast and of how fine or coarse the pattern is: about 0.5
        for a crisp step, about 0.4 / sigma for edges blurred by a Gaussian of sigma working
        pixels. 0 when nothing has contrast.
    """
    rgb = as_rgb(rgb)
    gray = cv2.cvtColor(working_copy(rgb), cv2.COLOR_RGB2GRAY)
    darkest, brightest = _percentiles(gray, 0.01, 0.99)
    # Counted on a nearest-pixel sample, not the averaged copy: averaging a thin dark line into
    # its white surround would hide how much of the picture is blown out.
    sample = cv2.cvtColor(cv2.resize(rgb, _work_size(rgb), interpolation=cv2.INTER_NEAREST), cv2.COLOR_RGB2GRAY)
    blown_share = float(np.count_nonzero(sample >= limits["blown_level"])) / sample.size
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    contrast = cv2.dilate(g, EDGE_WINDOW) - cv2.erode(g, EDGE_WINDOW)
    edges = contrast >= max(limits["edge_contrast_floor"], limits["edge_contrast_share"] * (brightest - darkest))
    sharpness = 0.0
    if np.count_nonzero(edges) >= 50:  # too few edge pixels: nothing to judge focus on
        ratio = cv2.magnitude(gx, gy)[edges] / contrast[edges]
        k = int(0.99 * (ratio.size - 1))
        sharpness = float(np.partition(ratio, k)[k])
    return {"brightest": float(brightest), "darkest": float(darkest), "blown_share": blown_share,
            "sharpness": sharpness}


def judge_exposure_and_focus(measures: dict, limits: dict = THRESHOLDS) -> QualityProblem | None:
    """The problem exposure_focus_measures show, if any. Darkness is judged first: a dark picture
    has no contrast, so it would also look blurred."""
    if measures["brightest"] < limits["dark_brightest"]:
        return PROBLEMS["too_dark"]
    if measures["darkest"] > limits["bright_darkest"] or measures["blown_share"] >= limits["bright_blown_share"]:
        return PROBLEMS["too_bright"]
    if measures["sharpness"] < limits["blur_sharpness"]:
        return PROBLEMS["too_blurry"]
    return None


def luminance_spread(measures: dict) -> float:
    """How far the brightest 1% of exposure_focus_measures' picture is from its darkest 1%."""
    return measures["brightest"] - measures["darkest"]


def judge_pattern(measures: dict, limits: dict = THRESHOLDS) -> QualityProblem | None:
    """no_pattern when exposure_focus_measures' luminance spread is below the threshold: no dye
    line or motif edge stands out (a plain band of the cloth, a plain shirt), so any motif named
    would be a guess. A motif's resist lines are much lighter than the dyed ground."""
    if luminance_spread(measures) < limits["plain_spread"]:
        return PROBLEMS["no_pattern"]
    return None


def check_exposure_and_focus(rgb: np.ndarray, *, limits: dict = THRESHOLDS) -> QualityProblem | None:
    """too_dark, too_bright or too_blurry for an HxWx3 uint8 RGB picture, else None."""
    return judge_exposure_and_focus(exposure_focus_measures(rgb, limits), limits)


def coverage_measure(rgb: np.ndarray, limits: dict = THRESHOLDS) -> float:
    """Share of 16x16 working-pixel tiles that show pattern (colour std above a floor).

    The floor is partly relative to the picture's own luminance spread, so a dim but visible
    cloth still counts as pattern, and partly absolute, so camera noise on a plain wall does not.
    """
    work = working_copy(rgb)
    low, high = _percentiles(cv2.cvtColor(work, cv2.COLOR_RGB2GRAY), 0.01, 0.99)
    th, tw = min(TILE, work.shape[0]), min(TILE, work.shape[1])
    rows, cols = work.shape[0] // th, work.shape[1] // tw
    pixels = work[:rows * th, :cols * tw].astype(np.float32)
    mean = cv2.resize(pixels, (cols, rows), interpolation=cv2.INTER_AREA)  # exact tile means
    mean_sq = cv2.resize(pixels * pixels, (cols, rows), interpolation=cv2.INTER_AREA)
    std = np.sqrt(np.maximum(mean_sq - mean * mean, 0)).reshape(rows, cols, 3).max(axis=-1)  # most varying channel
    floor = max(limits["tile_std_floor"], limits["tile_std_share"] * (high - low))
    return float(np.count_nonzero(std >= floor)) / std.size


def judge_coverage(share: float, limits: dict = THRESHOLDS) -> QualityProblem | None:
    """too_small when coverage_measure's share of patterned tiles is below the threshold."""
    return PROBLEMS["too_small"] if share < limits["small_textured_share"] else None


def check_coverage(rgb: np.ndarray, *, limits: dict = THRESHOLDS) -> QualityProblem | None:
    """too_small when the patterned part is a small share of the frame (cloth far away on a plain
    wall or table), else None. Objects on a plain background trigger it too, so the app applies it
    only when the model finds the picture cloth-like but is not confident."""
    return judge_coverage(coverage_measure(rgb, limits), limits)
