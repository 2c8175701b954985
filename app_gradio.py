"""Run the Sasirangan motif finder in a browser (phone or desktop).

    python app_gradio.py [--model models/sasirangan_default] [--host 127.0.0.1] [--port 7860] [--share]
                         [--catalogue DIR_OR_POSTGRESQL_URL] [--curator-password PASSWORD]

With --catalogue, visitors can save pictures as suggestions for the motif catalogue, a Catalogue
tab shows each motif with its confirmed photos, and curators sign in on the Curator tab with the
password of --curator-password or of the SASIRANGAN_CURATOR_PASSWORD environment variable (the
variable keeps it out of the process list).

A thin shell (STYLE.md 10): the layout and handlers live in `sasirangan.app` (the catalogue's in
`sasirangan.app_catalogue`). `demo` is module-level for `gradio app_gradio.py` reload mode;
importing this file never fails, `demo` is just None when the default model folder is missing or
broken.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import gradio as gr

from sasirangan.app import build_app
from sasirangan.app_catalogue import PASSWORD_ENV
from sasirangan.calibrate import NotFittedError
from sasirangan.catalogue import Catalogue
from sasirangan.predict import Predictor

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "sasirangan_default"


def default_predictor() -> Predictor | None:
    """The bundled model on import, or None when it is missing or broken (importing must not crash)."""
    if __name__ == "__main__" or not (DEFAULT_MODEL / "model.keras").is_file():
        return None  # run as a script, main() loads the folder given by --model
    try:
        return Predictor(DEFAULT_MODEL)
    except Exception as error:  # main() reports a broken folder properly
        print(f"app_gradio: could not load {DEFAULT_MODEL}: {error}", file=sys.stderr)
        return None


if gr.NO_RELOAD:  # runs once in `gradio app_gradio.py` reload mode: loading the model is the slow part
    predictor = default_predictor()
demo = build_app(predictor) if predictor is not None else None


def main(argv=None) -> int:
    """Load --model (and --catalogue), build the page and serve it until Ctrl+C; 2 if either is unusable."""
    global predictor, demo  # module-level, so reload mode finds `demo` and keeps the loaded model
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to reach it from a phone on the same network")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument("--catalogue", metavar="DIR_OR_URL",
                        help="motif catalogue: a folder (created if missing) or a postgresql:// URL")
    parser.add_argument("--curator-password", metavar="PASSWORD",
                        help=f"lets curators sign in to review suggestions (default: ${PASSWORD_ENV}; "
                             "without either, curating is off)")
    args = parser.parse_args(argv)
    if args.curator_password and not args.catalogue:
        parser.error("--curator-password needs --catalogue (there is nothing to curate without one)")
    password = args.curator_password or os.environ.get(PASSWORD_ENV) or None
    catalogue = None
    if args.catalogue:  # before the model: a wrong location fails in a second
        try:
            catalogue = Catalogue.open(args.catalogue)
        except Exception as error:  # CatalogueError (not a folder or URL, unreachable), permissions, migrations...
            print(f"error: cannot open the catalogue '{args.catalogue}': {error}", file=sys.stderr)
            return 2
    loaded = predictor is None or predictor.model_dir.resolve() != Path(args.model).resolve()
    if loaded:
        try:
            predictor = Predictor(args.model)
        except Exception as error:  # missing folder, wrong class list, corrupt model file...
            print(f"error: cannot load the model folder '{args.model}': {error}", file=sys.stderr)
            return 2
    if catalogue is not None:
        try:
            predictor.use_catalogue(catalogue)  # confirmed photos name motifs too, without retraining
        except NotFittedError as error:  # an older model folder: suggestions and curating still work
            print(f"warning: answers will not use the catalogue's confirmed photos: {error}", file=sys.stderr)
    if loaded or catalogue is not None:
        demo = build_app(predictor, catalogue=catalogue, curator_password=password)
    print(f"Serving {args.model} ({len(predictor.class_names)} classes, {predictor.backend} backend)")
    if catalogue is not None:
        confirmed = sum(counts["confirmed"] for counts in catalogue.counts().values())
        print(f"Catalogue: {catalogue.location} ({len(catalogue.motifs())} motifs, {confirmed} confirmed photos); "
              f"curating {'on' if password else 'off (no --curator-password)'}"
              + ("; anyone with the public link can suggest photos" if args.share else ""))
    try:  # prints the local URL, then blocks until Ctrl+C (returns at once on a hot reload)
        demo.launch(server_name=args.host, server_port=args.port, share=args.share, show_error=True,
                    max_file_size="25mb")
    except OSError as error:  # e.g. the port is taken
        print(f"error: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    if code:  # no sys.exit(0): in reload mode this block runs again inside gradio's watcher thread
        sys.exit(code)
