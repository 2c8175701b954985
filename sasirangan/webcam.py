"""What a webcam held over the cloth makes of it: to measure on, and to train on.

A photo of a motif is not what the app sees. `webcam_view` imitates a laptop or phone camera
held over one region of the cloth: a 640x480 frame showing part of the region magnified
1.5-3x, turned up to +-30 degrees, slanted, softened, lit differently, with sensor noise and
JPEG compression. `benchmarks/honest_answers.py` shows the held-out region of each photo this
way; the frame stays inside the region, so it never shows cloth the model was trained on.
Training can show the training pictures this way too (`--camera-passes`): the measurement then
uses the same kind of frames on regions training never saw, which says the model copes with
these changes, not that a real camera makes no others.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FRAME_SIZE = (640, 480)  # width, height of a webcam frame


@dataclass(frozen=True)
class WebcamSettings:
    """The ranges each frame's changes are drawn from (uniformly)."""

    zoom: tuple[float, float] = (1.5, 3.0)  # the region filling the frame is 1x; 3x shows a third of its side
    tilt: float = 30.0  # degrees, either way
    slant: float = 0.08  # each corner moves up to this share of the frame's side (perspective)
    blur: tuple[float, float] = (0.0, 2.0)  # Gaussian sigma in pixels of the 640x480 frame
    gain: tuple[float, float] = (0.7, 1.3)  # brightness
    gamma: tuple[float, float] = (0.8, 1.25)
    noise: float = 3.0  # sensor noise, standard deviation in grey levels
    jpeg: tuple[int, int] = (60, 90)  # quality


def webcam_view(rgb: np.ndarray, box=None, rng: np.random.Generator | None = None,
                settings: WebcamSettings = WebcamSettings()) -> np.ndarray:
    """One 640x480 webcam-like frame (uint8 RGB) of the region `box` of a photo.

    Args:
        rgb: the photo, HxWx3 uint8.
        box: (left, top, right, bottom) as shares of the photo's width and height, as in
            `data.Sample.box`; None = the whole photo.
        rng: random numbers (seed it for repeatable frames).
    """
    rng = rng or np.random.default_rng()
    height, width = rgb.shape[:2]
    left, top, right, bottom = box or (0.0, 0.0, 1.0, 1.0)
    region = np.array([left * width, top * height, right * width, bottom * height])
    region_w, region_h = region[2] - region[0], region[3] - region[1]
    frame_w, frame_h = FRAME_SIZE
    aspect = frame_w / frame_h

    # The window the camera sees: 4:3, 1/zoom of the largest 4:3 window in the region, turned,
    # shrunk further if its turned outline would leave the region.
    window_w = min(region_w, region_h * aspect) / rng.uniform(*settings.zoom)
    angle = np.radians(rng.uniform(-settings.tilt, settings.tilt))
    cos, sin = abs(np.cos(angle)), abs(np.sin(angle))
    outline_w = lambda w: w * cos + w / aspect * sin  # noqa: E731
    outline_h = lambda w: w * sin + w / aspect * cos  # noqa: E731
    window_w *= min(1.0, region_w / outline_w(window_w), region_h / outline_h(window_w)) / (1 + 2 * settings.slant)
    window_h = window_w / aspect
    spare_w, spare_h = region_w - outline_w(window_w), region_h - outline_h(window_w)
    centre = region[:2] + [outline_w(window_w) / 2 + rng.uniform(0, max(spare_w, 0)),
                           outline_h(window_w) / 2 + rng.uniform(0, max(spare_h, 0))]

    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * [window_w / 2, window_h / 2]
    corners += rng.uniform(-settings.slant, settings.slant, (4, 2)) * [window_w, window_h]
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = (corners @ turn.T + centre).astype(np.float32)
    target = np.array([[0, 0], [frame_w, 0], [frame_w, frame_h], [0, frame_h]], np.float32)
    frame = cv2.warpPerspective(rgb, cv2.getPerspectiveTransform(source, target), FRAME_SIZE,
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    sigma = rng.uniform(*settings.blur)
    if sigma > 0.05:
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    light = frame.astype(np.float32) / 255.0
    light = np.clip(light ** rng.uniform(*settings.gamma) * rng.uniform(*settings.gain), 0, 1) * 255
    light += rng.normal(0, settings.noise, light.shape)
    frame = np.clip(light, 0, 255).astype(np.uint8)
    quality = int(rng.integers(settings.jpeg[0], settings.jpeg[1] + 1))
    encoded = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def webcam_burst(rgb: np.ndarray, box=None, rng: np.random.Generator | None = None, frames: int = 5,
                 settings: WebcamSettings = WebcamSettings(), shake_px: float = 12.0, shake_deg: float = 1.5) -> list:
    """`frames` consecutive frames of a camera held steady over the region: one view drawn as
    `webcam_view` draws it, then each frame moved by a hand's tremor (up to `shake_px` pixels
    and `shake_deg` degrees) with fresh sensor noise: what the live app averages over."""
    rng = rng or np.random.default_rng()
    still = webcam_view(rgb, box, np.random.default_rng(int(rng.integers(2**32))), settings)
    centre = (FRAME_SIZE[0] / 2, FRAME_SIZE[1] / 2)
    burst = []
    for _ in range(frames):
        tremor = cv2.getRotationMatrix2D(centre, rng.uniform(-shake_deg, shake_deg), 1.0)
        tremor[:, 2] += rng.uniform(-shake_px, shake_px, 2)
        frame = cv2.warpAffine(still, tremor, FRAME_SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        noisy = frame.astype(np.float32) + rng.normal(0, settings.noise, frame.shape)
        burst.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return burst


def held_out_region(boxes) -> tuple[float, float, float, float]:
    """The smallest box holding every crop box of one photo's held-out split (its region)."""
    boxes = np.asarray(list(boxes), np.float64)
    return (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max()))
