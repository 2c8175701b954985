"""The exports of the bundled model for phones and other runtimes, each checked against Keras.

Copies models/sasirangan_default beside itself in runs/ (the same depth, so the card's relative
split paths still resolve, and the bundled model's card is left untouched), then exports it to
LiteRT float32, LiteRT int8 (full-integer, calibrated on up to 100 of its training pictures),
ONNX and a SavedModel with `sasirangan.export.export_model`, and prints for each: size, the largest
probability difference from Keras and the top-1 agreement on the test split, the accuracy of the
export and of Keras on the same pictures (whole picture, no rejection; a rate on the test split,
with its Wilson 95% interval), and the time per picture at batch size 1 on one thread, measured
in one run so the formats compare as ratios.

    python benchmarks/exports.py [--model models/sasirangan_default]
"""

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "sasirangan_default"))
    args = parser.parse_args()

    from sasirangan.evaluate import accuracy_interval
    from sasirangan.export import export_model

    source = Path(args.model).resolve()
    copy = ROOT / "runs" / f"{source.name}_exports"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("evaluation"))
    print(f"{source.name}: exports written to {copy}")
    print(f"{'export':24s} {'size':>8s} {'max |p - keras|':>16s} {'top-1 agreement':>16s} "
          f"{'accuracy (95% CI)':>20s} {'keras accuracy':>15s} {'ms/picture':>11s}")
    base = None
    for fmt, int8 in (("litert", False), ("litert", True), ("onnx", False), ("saved_model", False)):
        result = export_model(copy, fmt, int8=int8)
        size = sum(p.stat().st_size for p in result.path.rglob("*")) if result.path.is_dir() else result.path.stat().st_size
        low, high = accuracy_interval(round(result.accuracy * result.images_checked), result.images_checked)
        base = base or result.ms_per_image_p50
        print(f"{result.path.name:24s} {size / 1e6:6.1f} MB {result.max_probability_difference:16.1e} "
              f"{result.top1_agreement:15.1%} {result.accuracy:8.1%} ({low:.0%}-{high:.0%}) {result.keras_accuracy:14.1%} "
              f"{result.ms_per_image_p50:7.1f} ms ({result.ms_per_image_p50 / base:.2f}x)", flush=True)
    print(f"on {result.images_checked} test pictures of the model's own split")


if __name__ == "__main__":
    main()
