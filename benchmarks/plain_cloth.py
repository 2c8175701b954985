"""Where does "no pattern in view" start? The threshold of the plain-cloth check (quality.py).

A webcam held over the plain part of a cloth (or over a plain shirt) shows no motif, yet the model
names one: the bundled model named Gelombang at up to 95% on frames of the plain black band of the
Ular Lidi photo. The check flags a picture whose luminance spread (99th minus 1st percentile of
the working copy, `quality.exposure_focus_measures`) is below `THRESHOLDS["plain_spread"]`, and
then no motif is named.

The threshold is chosen on the webcam-like frames of the *validation* regions (the same frames
and seed as `honest_answers.py`), decided by the model without any picture check: the highest
value (steps of 5) at which at most 1% of the frames named right would be flagged, the false-alarm
rule of `quality_checks.py`. Then, for reading only: what it does on the test-region frames, and
how many whole photos of cloth (the 16, other_motifs, batik10) it would flag.

    python benchmarks/plain_cloth.py                      # the bundled model (about 20 s)
    python benchmarks/plain_cloth.py --model runs/other
"""

import argparse
from pathlib import Path

import numpy as np

from _common import SHARED, image_files, seed_keras_cache
from honest_answers import region_shots

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = np.arange(10, 101, 5)
MAX_FALSE_ALARM = 0.01


def frame_rows(predictor, samples, seed: int, count: int = 20) -> list[tuple[str, float]]:
    """(outcome, luminance spread) of each webcam-like frame: outcome is "right", "wrong" (a motif
    named, not this one) or "unnamed", decided without picture checks."""
    from sasirangan.quality import exposure_focus_measures, luminance_spread
    from sasirangan.views import WHOLE

    rows = []
    for frames, label in region_shots(samples, predictor.card.unknown_class, count, seed):
        answer = predictor.decide(predictor.outputs(frames[0], WHOLE))
        outcome = "unnamed" if answer.verdict != "motif" else "right" if answer.label == label else "wrong"
        rows.append((outcome, luminance_spread(exposure_focus_measures(frames[0]))))
    return rows


def flagged(rows, outcome: str, threshold: float) -> int:
    return sum(kind == outcome and spread < threshold for kind, spread in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "sasirangan_default"))
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args()
    seed_keras_cache()

    from sasirangan.data import load_image
    from sasirangan.predict import Predictor
    from sasirangan.quality import THRESHOLDS, exposure_focus_measures, luminance_spread

    predictor = Predictor(args.model)
    card = predictor.card
    val = frame_rows(predictor, card.samples("val", args.model), seed=1)  # honest_answers.py's seeds
    test = frame_rows(predictor, card.samples("test", args.model), seed=0)
    right = sum(kind == "right" for kind, _ in val)
    print(f"Model {args.model}: validation-region frames named right {right}/{len(val)}, wrong "
          f"{sum(kind == 'wrong' for kind, _ in val)}; test-region frames named right "
          f"{sum(kind == 'right' for kind, _ in test)}/{len(test)}, wrong {sum(kind == 'wrong' for kind, _ in test)}")
    print("\nluminance spread below | validation frames: named right flagged, named wrong flagged | "
          "test frames (read only): named right flagged, named wrong flagged")
    for threshold in CANDIDATES:
        counts = [flagged(rows, kind, threshold) for rows in (val, test) for kind in ("right", "wrong")]
        print(f"  {threshold:5.0f}                | {counts[0]:3d}, {counts[1]:3d}{'':26s}| {counts[2]:3d}, {counts[3]:3d}")
    allowed = [t for t in CANDIDATES if flagged(val, "right", t) <= MAX_FALSE_ALARM * right]
    chosen = float(max(allowed))
    print(f"Chosen on the validation frames (at most {MAX_FALSE_ALARM:.0%} of those named right flagged): "
          f"{chosen:.0f}; the module's THRESHOLDS['plain_spread'] is {THRESHOLDS['plain_spread']:.0f}")

    datasets = args.shared / "datasets"
    folders = {"the 16 Sasirangan photos": datasets / "sasirangan" / "photos",
               "other_motifs": datasets / "sasirangan" / "other_motifs", "batik10": datasets / "batik10"}
    for name, folder in folders.items():
        spreads = [luminance_spread(exposure_focus_measures(load_image(path))) for path in image_files(folder)]
        print(f"  whole photos, {name}: flagged at the module's {THRESHOLDS['plain_spread']:.0f} "
              f"{sum(s < THRESHOLDS['plain_spread'] for s in spreads)}/{len(spreads)}, at the chosen {chosen:.0f} "
              f"{sum(s < chosen for s in spreads)}/{len(spreads)} (lowest spreads "
              f"{', '.join(f'{s:.0f}' for s in sorted(spreads)[:3])})")


if __name__ == "__main__":
    main()
