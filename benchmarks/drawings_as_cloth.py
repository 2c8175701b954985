"""Do the 12 line drawings teach the motifs' shapes? Drawings rendered as cloth, judged on frames.

The drawings in `../shared/datasets/sasirangan/drawings/` are one motif element each, black on
white with its name below; 10 of them are motifs of the bundled model. Each is rendered as dyed
cloth: rows of the element at a random scale, light resist lines on a dark dyed ground (or, with
`--polarity either`, the other way round half of the time), softened as dye bleeds, with grain;
half of them then seen as a webcam frame (`webcam.webcam_view`).

The test is the floor's probe of `feature_layers.py` and `input_size.py` (standardised logistic
regression, C = 0.1, on the frozen pooled layer the bundled head reads), fitted on the model's
TRAINING split only (each picture whole and 3 webcam-like frames of it, as they are and with
their colours turned), with and without the rendered drawings, and judged on the best motif of
the webcam-like frames of the VALIDATION regions (never the test regions). A third probe is
fitted on the rendered drawings alone: does a drawing name real cloth at all?

    python benchmarks/drawings_as_cloth.py                       # about 3 min
    python benchmarks/drawings_as_cloth.py --polarity either
"""

import argparse
import json
from pathlib import Path

import numpy as np

from _common import SHARED, seed_keras_cache
from feature_layers import PooledLayers, best_motif_right, fit, region_frames, training_rows
from honest_answers import ROOT, wilson
from input_size import LAYER

DRAWINGS = SHARED / "datasets" / "sasirangan" / "drawings"
SPELLINGS = {"kembang_tampuk_manggis": "kambang_tampuk_manggis"}  # the drawing's name for the photo's motif
LABEL_ROW = 330  # the drawings' names are written below this row


def motif_element(path: Path) -> np.ndarray:
    """The drawing's ink (a boolean mask), cut to its bounding box, without the name below it."""
    import cv2

    from sasirangan.data import load_image

    ink = cv2.cvtColor(load_image(str(path)), cv2.COLOR_RGB2GRAY)[:LABEL_ROW] < 128
    rows, cols = np.nonzero(ink)
    return ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def rendered_cloth(element: np.ndarray, rng: np.random.Generator, polarity: str, side: int = 640) -> np.ndarray:
    """Rows of the element, alternate rows shifted, in two dye colours, bled and grainy: RGB uint8."""
    import cv2

    scale = rng.uniform(0.25, 0.6)
    motif = cv2.resize(element.astype(np.uint8), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) > 0
    height, width = motif.shape
    gap = int(rng.uniform(0.2, 0.8) * height) + 4
    lines = np.zeros((side, side), bool)
    top, row = int(rng.uniform(0, gap)), 0
    while top + height < side:
        left = -int(rng.uniform(0, width)) if row % 2 else 0
        while left < side:
            start, stop = max(left, 0), min(left + width, side)
            lines[top:top + height, start:stop] |= motif[:, start - left:stop - left]
            left += width + int(rng.uniform(0, 0.2) * width)
        top, row = top + height + gap, row + 1
    ground, line = rng.uniform(20, 140, 3), rng.uniform(170, 255, 3)
    if polarity == "either" and rng.random() < 0.5:
        ground, line = line, ground
    picture = cv2.GaussianBlur(np.where(lines[..., None], line, ground).astype(np.float32), (0, 0), rng.uniform(0.5, 2.5))
    return np.clip(picture + rng.normal(0, 8, picture.shape), 0, 255).astype(np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "sasirangan_default"),
                        help="the model folder whose split (train/val/test regions) is used")
    parser.add_argument("--per-drawing", type=int, default=40, help="rendered cloth pictures of each drawing")
    parser.add_argument("--polarity", choices=("light", "either"), default="light",
                        help="light resist lines on dark dye (Sasirangan's), or either way round")
    args = parser.parse_args()
    seed_keras_cache()

    from sasirangan.card import CLASS_NAMES_FILE, ModelCard
    from sasirangan.webcam import webcam_view

    model_dir = Path(args.model)
    class_names = json.loads((model_dir / CLASS_NAMES_FILE).read_text())
    card = ModelCard.load(model_dir, class_names, None)
    pooled = PooledLayers()
    columns = pooled.columns(LAYER)
    rng = np.random.default_rng(123)
    rows, labels = training_rows(pooled, card, model_dir, "train", rng)
    frames, _, frame_labels = region_frames(pooled, card, model_dir, "val", seed=1)
    rows, frames = rows[:, columns], frames[:, columns]

    drawn_labels = []
    for path in sorted(DRAWINGS.glob("*.png")):
        motif = SPELLINGS.get(path.stem, path.stem)
        if motif not in class_names:
            continue
        element = motif_element(path)
        for _ in range(args.per_drawing):
            cloth = rendered_cloth(element, rng, args.polarity)
            pooled.add(webcam_view(cloth, (0.0, 0.0, 1.0, 1.0), rng) if rng.random() < 0.5 else cloth)
            drawn_labels.append(motif)
    drawn_rows, drawn_labels = pooled.take()[:, columns], np.array(drawn_labels)

    has_drawing = np.isin(frame_labels, drawn_labels)
    print(f"{len(labels)} training-split rows; {len(drawn_labels)} rendered drawings of {len(set(drawn_labels))} motifs "
          f"({args.polarity} lines); {len(frame_labels)} validation-region frames, best motif of the probe:")
    for name, (x, y) in {"training split": (rows, labels),
                         "training split + drawings": (np.concatenate([rows, drawn_rows]),
                                                       np.concatenate([labels, drawn_labels]))}.items():
        probe = fit(x, y)
        print(f"  {name:26s} all frames {wilson(best_motif_right(probe, frames, frame_labels), len(frame_labels))}; "
              f"motifs with a drawing "
              f"{wilson(best_motif_right(probe, frames[has_drawing], frame_labels[has_drawing]), int(has_drawing.sum()))}")
    alone = best_motif_right(fit(drawn_rows, drawn_labels), frames[has_drawing], frame_labels[has_drawing])
    print(f"  {'drawings alone':26s} motifs with a drawing {wilson(alone, int(has_drawing.sum()))} "
          f"(chance {1 / len(set(drawn_labels)):.0%})")


if __name__ == "__main__":
    main()
