"""How a picture becomes what the model sees: the whole picture plus close-ups of its pattern.

Motifs are fine repeating patterns; a 1024-px photo squashed to 224 px loses them. So the
model sees each picture at two scales: whole, and as a grid of close-up tiles cut from the
picture enlarged to `zoom` times the model's input. Training draws random crops between those
two scales from the same enlarged picture (`data.make_dataset`); evaluation, calibration and
serving average the model's outputs over the views this module makes. The views are
recorded in the model card, so every caller answers the same for the same file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Views:
    """Which views of a picture the model's answer is averaged over.

    Args:
        grid: close-up tiles per side (grid x grid of them); 0 = the whole picture only.
        zoom: the tiles come from the picture squashed to `zoom` x the model's input side.
    """

    grid: int = 3
    zoom: float = 2.0

    @property
    def count(self) -> int:
        return 1 + self.grid * self.grid

    def base_side(self, image_size: int) -> int:
        """Side of the enlarged square that tiles (and training crops) are cut from."""
        return image_size if self.grid == 0 else int(round(self.zoom * image_size))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> "Views":
        """Views from a model card; a card without them (older models) means the whole picture only."""
        return cls(**values) if values else WHOLE


WHOLE = Views(grid=0, zoom=1.0)  # one view: what the live webcam path affords per frame


def squash(rgb: np.ndarray, side: int) -> np.ndarray:
    """Resize to a side x side square (area averaging when shrinking, so fine lines survive)."""
    shrinking = rgb.shape[0] > side or rgb.shape[1] > side
    return cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def view_pixels(rgb: np.ndarray, image_size: int, views: Views) -> np.ndarray:
    """The model's views of one RGB uint8 picture: (views.count, size, size, 3) uint8.

    The first view is the whole picture; then the grid of close-up tiles, row by row.
    """
    whole = squash(rgb, image_size)
    if views.grid == 0:
        return whole[None]
    base = squash(rgb, views.base_side(image_size))
    starts = np.linspace(0, base.shape[0] - image_size, views.grid).round().astype(int)
    tiles = [base[top : top + image_size, left : left + image_size] for top in starts for left in starts]
    return np.stack([whole, *tiles])


def image_views(rgb: np.ndarray, image_size: int, views: Views) -> np.ndarray:
    """`view_pixels` as the model takes them: float32 in [0, 1].

    This is the one image path into the model: training's evaluation split, calibration,
    the report, the CLI, the app and the notebook all go through it.
    """
    return view_pixels(rgb, image_size, views).astype(np.float32) / 255.0


def average_outputs(outputs: dict[str, np.ndarray], counts) -> dict[str, np.ndarray]:
    """Average per-view model outputs into one row per picture (`counts` views each, in order).

    Logits, features and embeddings are averaged; probabilities are the softmax of the
    averaged logits, so they stay consistent with temperature scaling.
    """
    from .calibrate import softmax

    ends = np.cumsum(counts)
    starts = ends - np.asarray(counts)
    averaged = {key: np.stack([np.asarray(value)[a:b].mean(axis=0) for a, b in zip(starts, ends)])
                for key, value in outputs.items()}
    if "logits" in averaged:
        averaged["probabilities"] = softmax(averaged["logits"]).astype(np.float32)
    return averaged
