"""Benchmark: how fast the app answers one camera frame, and whether the fast path is exact.

Measures, in one run on the same machine:
  (a) model time per frame through `Predictor.raw_outputs` (LiteRT), p50 and p90;
  (b) the whole live-frame handler (`sasirangan.app.predict_frame`) on a random 640x480 frame;
  (c) Keras `model.predict` on one image, p50, and its ratio to (a);
  (d) the largest difference between the predictor's and the Keras model's probabilities;
  (e) one 640x480 picture answered on the whole picture plus 3x3 close-ups (`views.Views()`, what
      uploads and files get), to see whether the views fit the live path's budget.

Targets on the 2-core reference machine: (a) p50 <= 10 ms, (b) p50 <= 15 ms, (d) <= 1e-3.

With --backbones, also (f): every backbone of the table (`sasirangan.backbones`) at its native
size, as `sasirangan train --backbone KEY` would build it, with random weights (only
MobileNetV2's ImageNet file is on these machines; time per frame does not depend on the
weights): saved as a model folder, served through the same Predictor, model time and
live-frame handler time per frame, in the same run so they compare as ratios.

    python benchmarks/bench_serving.py [--model models/sasirangan_default] [--runs 200]
        [--backbones [KEY ...]] [--stn]
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TARGET_MODEL_MS = 10.0
TARGET_HANDLER_MS = 15.0
TARGET_AGREEMENT = 1e-3


def timed(fn, runs: int, warmup: int = 10) -> np.ndarray:
    """Milliseconds per call, after a few warm-up calls (first calls allocate and trace)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return np.array(times)


def agreement_images(count: int, image_size: int, rng) -> list[np.ndarray]:
    """Real photos when ../shared is there (motifs and other pictures), else random ones."""
    from sasirangan.data import load_image, prepare_image

    paths = sorted((SHARED / "datasets" / "sasirangan" / "photos").glob("*/*.jpg"))
    paths += sorted((SHARED / "datasets" / "not_textile").glob("*.jpg"))[:: 40]
    images = [prepare_image(load_image(p), image_size) for p in paths[:count]]
    while len(images) < count:
        images.append(rng.random((image_size, image_size, 3), dtype=np.float32))
    return images


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "sasirangan_default"))
    parser.add_argument("--runs", type=int, default=200, help="timed runs for (a), (b) and (c)")
    parser.add_argument("--images", type=int, default=20, help="images for the agreement check (d)")
    parser.add_argument("--backbones", nargs="*", metavar="KEY",
                        help="(f) also time these backbones (none given: every one in the table)")
    parser.add_argument("--stn", action="store_true", help="(f) time each backbone also with a spatial transformer")
    args = parser.parse_args()
    if args.backbones is not None:
        time_backbones(args.backbones, args.runs, args.stn)
        return

    from sasirangan.app import predict_frame
    from sasirangan.data import prepare_image
    from sasirangan.predict import Predictor
    from sasirangan.views import Views

    rng = np.random.default_rng(0)
    predictor = Predictor(args.model)
    size = predictor.image_size
    print(f"model {args.model}: {len(predictor.class_names)} classes, {size} px, backend {predictor.backend}, "
          f"{os.cpu_count()} CPU cores")

    prepared = prepare_image(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), size)
    model_ms = timed(lambda: predictor.raw_outputs(prepared), args.runs)

    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    history = []

    def handler():
        nonlocal history
        *_, history = predict_frame(predictor, frame, history)

    handler_ms = timed(handler, args.runs)

    views_ms = timed(lambda: predictor.predict(frame, views=Views()), max(20, args.runs // 4), warmup=3)

    batch = prepared[None]
    keras_ms = timed(lambda: predictor.model.predict(batch, verbose=0), args.runs, warmup=3)

    images = agreement_images(args.images, size, rng)
    fast = np.stack([predictor.raw_outputs(image)["probabilities"] for image in images])
    reference = predictor.model.predict(np.stack(images), verbose=0)
    difference = float(np.abs(fast - reference).max())

    def verdict(ok):
        return "pass" if ok else "FAIL"

    a50, a90 = np.percentile(model_ms, [50, 90])
    b50, b90 = np.percentile(handler_ms, [50, 90])
    c50 = float(np.percentile(keras_ms, 50))
    print(f"(a) model time per frame ({predictor.backend}, {args.runs} runs): p50 {a50:.2f} ms, p90 {a90:.2f} ms "
          f"-> target p50 <= {TARGET_MODEL_MS:g} ms: {verdict(a50 <= TARGET_MODEL_MS)}")
    print(f"(b) live-frame handler, 640x480 frame ({args.runs} runs): p50 {b50:.2f} ms, p90 {b90:.2f} ms "
          f"-> target p50 <= {TARGET_HANDLER_MS:g} ms: {verdict(b50 <= TARGET_HANDLER_MS)}")
    print(f"(c) keras model.predict, one image ({args.runs} runs): p50 {c50:.2f} ms; "
          f"{c50 / a50:.1f}x slower than (a)")
    e50 = float(np.percentile(views_ms, 50))
    print(f"(e) one 640x480 picture on {Views().count} views (whole + 3x3 close-ups): p50 {e50:.2f} ms, "
          f"{e50 / b50:.1f}x the live handler; {'fits' if e50 <= TARGET_HANDLER_MS else 'does not fit'} the "
          f"{TARGET_HANDLER_MS:g} ms live budget, so the live path {'could average views' if e50 <= TARGET_HANDLER_MS else 'stays single-view'}")
    print(f"(d) max |predictor - keras| probability on {len(images)} images: {difference:.2e} "
          f"-> target <= {TARGET_AGREEMENT:g}: {verdict(difference <= TARGET_AGREEMENT)}")


def time_backbones(keys, runs: int, with_stn: bool = False) -> None:
    """(f): each backbone's model time and live-frame handler time per 640x480 frame (and, with
    `with_stn`, the same backbone behind a spatial transformer, right after it)."""
    import tempfile

    from sasirangan.app import predict_frame
    from sasirangan.backbones import BACKBONES, get_backbone
    from sasirangan.card import ModelCard
    from sasirangan.data import prepare_image
    from sasirangan.model import build_model, save_model_folder
    from sasirangan.predict import Predictor

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    classes = [f"motif_{i}" for i in range(10)] + ["unknown"]
    print(f"(f) per backbone, native size, random weights, {runs} runs each, {os.cpu_count()} CPU cores:")
    print(f"    {'backbone':20s} {'size':>5s} {'parameters':>11s} {'model p50':>10s} {'handler p50':>12s} {'vs mobilenet_v2':>16s}")
    reference = None
    for key, stn in [(key, stn) for key in (keys or list(BACKBONES)) for stn in ((False, True) if with_stn else (False,))]:
        size = get_backbone(key).native_size
        with tempfile.TemporaryDirectory() as folder:
            model = build_model(len(classes), size, weights=None, backbone=key, stn=stn)
            save_model_folder(model, classes, ModelCard(classes=classes, input_size=size, backbone=key), folder)
            predictor = Predictor(folder)
            prepared = prepare_image(frame, size)
            model_ms = np.percentile(timed(lambda: predictor.raw_outputs(prepared), runs), 50)
            history = []

            def handler():
                nonlocal history
                *_, history = predict_frame(predictor, frame, history)

            handler_ms = np.percentile(timed(handler, runs), 50)
        reference = reference or (handler_ms if key == "mobilenet_v2" and not stn else None)
        ratio = f"{handler_ms / reference:.1f}x" if reference else "-"
        print(f"    {key + (' + stn' if stn else ''):20s} {size:5d} {model.count_params():11,d} {model_ms:8.1f} ms {handler_ms:10.1f} ms {ratio:>16s}"
              f"{'' if handler_ms <= TARGET_HANDLER_MS else '  (over the 15 ms live budget)'}", flush=True)


if __name__ == "__main__":
    main()
