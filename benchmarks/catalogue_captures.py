"""The catalogue under load, and how fast a confirmation reaches the live app.

1. Concurrent captures, per backend (a SQLite folder catalogue, and a throw-away PostgreSQL
   server from Debian's `postgresql` package): 20 threads capture 20 different real photos at
   once, then 20 threads capture the same photo at once (as many browsers on one public link).
   Target: all stored, none twice. Prints photos and captures stored and the time per capture.
2. Confirm -> recognised: the bundled model serves live frames (one whole view and `decide`,
   as the webcam handler `app.predict_frame` does) through its own catalogue connection, as an app worker would; a curator,
   through another connection, confirms 5 photos of a motif the model never saw (a batik
   motif), one at a time. Measured: seconds from `confirm` returning to the first live answer
   that names the motif from the catalogue, frames sent back to back (the app sends one every
   0.2 s: add up to that). Target: under 1 second.

    python benchmarks/catalogue_captures.py [--no-postgresql]
"""

import argparse
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from _common import SHARED, image_files, seed_keras_cache

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the throw-away PostgreSQL server the tests use
THREADS = 20
LATENCY_MOTIF = "kawung"  # batik: not one of the bundled model's Sasirangan motifs


def concurrent_captures(location) -> dict:
    """Capture THREADS distinct photos at once, then one photo THREADS times at once."""
    from sasirangan.catalogue import Catalogue

    photos = image_files(SHARED / "datasets" / "batik10")[:: 7][:THREADS]
    with Catalogue.open(location) as catalogue:
        def capture(photo):
            started = time.perf_counter()
            catalogue.add_photo(photo, "batik", source="upload", by=f"browser-{uuid.uuid4().hex[:6]}")
            return time.perf_counter() - started

        with ThreadPoolExecutor(THREADS) as pool:
            seconds = list(pool.map(capture, photos))
        distinct = sum(catalogue.counts().get("batik", {}).values())
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(lambda _: catalogue.add_photo(photos[0], "same", source="upload"), range(THREADS)))
        same = sum(catalogue.counts().get("same", {}).values())
    return {"distinct_stored": distinct, "same_stored": same, "seconds": seconds}


def confirm_to_recognised(model_dir: Path) -> list[float]:
    from PIL import Image

    from sasirangan.catalogue import Catalogue
    from sasirangan.predict import Predictor
    from sasirangan.views import WHOLE

    photos = image_files(SHARED / "datasets" / "batik10" / LATENCY_MOTIF)
    frame = np.asarray(Image.open(photos[-1]).convert("RGB").resize((640, 480)))  # a photo never enrolled
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        with Catalogue.open(folder) as app_side, Catalogue.open(folder) as curator_side:
            predictor = Predictor(model_dir, catalogue=app_side)
            suggestions = [curator_side.add_photo(p, LATENCY_MOTIF, source="upload") for p in photos[:5]]
            for capture in suggestions:
                started = time.perf_counter()
                curator_side.confirm(capture.id, by="curator")
                while time.perf_counter() - started < 10:  # the live path per frame (app.predict_frame)
                    predictor.decide(predictor.outputs(frame, WHOLE), picture=frame)
                    if predictor.enrolment.references.get(LATENCY_MOTIF) == len(seconds) + 1:
                        break
                seconds.append(time.perf_counter() - started)
            named = predictor.predict(frame).label == LATENCY_MOTIF
    print(f"  after 5 confirmed photos the live frame is named {LATENCY_MOTIF}: {named}")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-postgresql", action="store_true", help="SQLite only")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "sasirangan_default")
    args = parser.parse_args()
    seed_keras_cache()

    with tempfile.TemporaryDirectory() as folder:
        results = {"sqlite": concurrent_captures(Path(folder) / "cat")}
    if not args.no_postgresql:
        from postgres_server import create_database, throwaway_postgresql

        with throwaway_postgresql() as server:
            results["postgresql"] = concurrent_captures(create_database(server, "bench"))
    for backend, figures in results.items():
        print(f"RESULT {backend}: {THREADS} concurrent captures of distinct photos -> {figures['distinct_stored']} "
              f"stored; {THREADS} of the same photo -> {figures['same_stored']} stored; per capture "
              f"median {np.median(figures['seconds']) * 1000:.0f} ms, max {max(figures['seconds']) * 1000:.0f} ms")
    seconds = confirm_to_recognised(args.model)
    print(f"RESULT confirm -> recognised by the live handler (another connection): median {np.median(seconds):.2f} s, "
          f"max {max(seconds):.2f} s over {len(seconds)} confirmations (+ up to 0.2 s to the next webcam frame)")


if __name__ == "__main__":
    main()
