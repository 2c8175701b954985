"""`sasirangan train | evaluate | calibrate | predict | export | explain | catalogue`: the command line over the library.

Train flags are generated from `TrainConfig`, so the CLI and the config cannot drift.
`main(argv)` returns an exit code, so tests call it in-process.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import shlex
import sys
from pathlib import Path

from .checkpoints import TrainingInterrupted
from .config import IMAGE_EXTENSIONS, TrainConfig


class _Parser(argparse.ArgumentParser):
    """argparse that suggests the closest flag for a misspelt one (and takes no abbreviations)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        if "unrecognized arguments" in message:
            parsers = [self] + [sub for action in self._actions if isinstance(action, argparse._SubParsersAction)
                                for sub in action.choices.values()]
            known = sorted({option for parser in parsers for action in parser._actions for option in action.option_strings})
            for word in message.split(":", 1)[1].split():
                if word.startswith("--"):
                    close = difflib.get_close_matches(word.split("=")[0], known, n=3)
                    if close:
                        message += f"\n  '{word}': did you mean {' or '.join(close)}?"
        super().error(message)


LIST_FLAG_HELP = {
    "unknown_dirs": "folder of extra 'unknown' pictures that are not cloth (rooms, people, objects); repeat for more",
    "cloth_dirs": "folder of cloth or patterns that are none of your motifs (other motifs, other cloth): they join "
                  "'unknown' and teach the model to answer 'cloth, but not sure which motif'; repeat for more",
}


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    for item in dataclasses.fields(TrainConfig):
        flag = "--" + item.name.replace("_", "-")
        default = getattr(defaults, item.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=f"(default: {default})")
        elif isinstance(default, list):
            single = flag[:-1] if flag.endswith("s") else flag
            parser.add_argument(single, dest=item.name, action="append", default=[], metavar="DIR",
                                help=LIST_FLAG_HELP[item.name])
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f"(default: {default})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sasirangan", description="Recognise Sasirangan (and other) textile motifs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a model folder from a folder of class sub-folders",
                                description="Train a transfer model (MobileNetV2 unless --backbone says otherwise: "
                                            "mobilenet_v3_small|large, resnet50, efficientnet_b0..b4, efficientnet_v2_s, "
                                            "vgg19, convnext_tiny) on DATA_DIR/<class>/<photo> and save a model folder.")
    train.add_argument("data_dir", help="folder with one sub-folder of photos per class ('unknown' = reject class), "
                                        "or a catalogue (folder or postgresql:// URL): its confirmed photos")
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--photos-dir", help="where a catalogue's confirmed photos are exported to train on "
                                            "(default: OUT_photos beside the model folder; kept, updated next time)")
    train.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    train.add_argument("--resume", action="store_true",
                       help="continue the run interrupted in OUT (Ctrl+C, a crash) from its last finished epoch, "
                            "with the same settings")
    _add_config_flags(train)

    evaluate = commands.add_parser("evaluate", help="evaluate a model folder",
                                   description="Evaluate on the model's own test split, or on all of DATA_DIR, and write "
                                               "report.md with figures into the model folder.")
    evaluate.add_argument("model_dir")
    evaluate.add_argument("data_dir", nargs="?", help="a folder laid out like the training data (optional)")
    evaluate.add_argument("--unknown", action="append", default=[], metavar="DIR",
                          help="folder of pictures that are none of the classes, to measure rejection; repeatable")

    calibrate = commands.add_parser("calibrate", help="refit confidence calibration and the unknown threshold",
                                    description="Fit temperature scaling and the open-set threshold on the model's "
                                                "validation split (train does this itself).")
    calibrate.add_argument("model_dir")
    calibrate.add_argument("--method", default=TrainConfig.open_set_method, help="open-set score (default: %(default)s)")
    calibrate.add_argument("--target-accept", type=float, default=TrainConfig.target_accept,
                           help="share of known validation images to accept (default: %(default)s)")
    calibrate.add_argument("--confident", type=float, default=None,
                           help="calibrated probability from which a motif is named (default: the model's own)")
    calibrate.add_argument("--unknown-ceiling", type=float, default=None,
                           help="the most calibrated probability the unknown class may have while a motif is named "
                                "(default: the model's own; 1 = no limit)")
    calibrate.add_argument("--thresholds-only", action="store_true",
                           help="only set --confident and/or --unknown-ceiling in the model card, refitting nothing "
                                "(for a model refit on train + validation, whose validation photos are now seen)")
    calibrate.add_argument("--centres-only", action="store_true",
                           help="only add the class centres catalogue motifs are enrolled against and the training "
                                "pictures uploads are ranked by (models calibrated before they existed); "
                                "temperature and thresholds stay as they are")

    average = commands.add_parser("average", help="average the heads of models trained on one split",
                                  description="Write one model whose answers are the mean of the given models' "
                                              "calibrated logits: one recipe trained with other --seed values and "
                                              "the same --split-seed. Serves as fast as one of them.")
    average.add_argument("model_dirs", nargs="+", metavar="MODEL_DIR", help="two or more model folders")
    average.add_argument("--out", required=True, help="model folder to write")

    predict = commands.add_parser("predict", help="name the motif in images",
                                  description="Print the top-3 motifs for each image (folders are searched).")
    predict.add_argument("model_dir")
    predict.add_argument("images", nargs="+", help="image files or folders")
    predict.add_argument("--json", action="store_true", help="one JSON object per line")
    predict.add_argument("--catalogue", metavar="CAT", help="also name motifs enrolled in this catalogue (folder or "
                                                            "postgresql:// URL) from its confirmed photos")

    export = commands.add_parser("export", help="export a model for phones and other runtimes, checked against Keras",
                                 description="Write the model as LiteRT (.tflite), ONNX or a TensorFlow SavedModel, "
                                             "check it against the Keras model on the test split, record the check in "
                                             "the model card, and describe it in export.json (input, resizing, output, "
                                             "classes) for a phone developer.")
    export.add_argument("model_dir")
    export.add_argument("--format", dest="fmt", required=True, choices=["litert", "onnx", "saved_model"])
    export.add_argument("--out", help="folder to write into (default: the model folder)")
    export.add_argument("--int8", action="store_true",
                        help="LiteRT only: full-integer quantisation calibrated on the model's training pictures")

    explain = commands.add_parser("explain", help="a Grad-CAM heatmap of where the model looked",
                                  description="Write IMAGE and a heatmap over it side by side (Grad-CAM on the Keras "
                                              "model): did the model look at the motif or at the background?")
    explain.add_argument("model_dir")
    explain.add_argument("image")
    explain.add_argument("--out", required=True, help="PNG file to write")
    explain.add_argument("--class", dest="class_name", metavar="NAME",
                         help="explain this class instead of the model's answer")

    catalogue = commands.add_parser("catalogue", help="the motif catalogue: import, export, list, backup",
                                    description="A catalogue is a folder (SQLite and photos inside, created when "
                                                "missing) or a postgresql:// URL.")
    actions = catalogue.add_subparsers(dest="action", required=True, parser_class=_Parser)
    load = actions.add_parser("import", help="add a folder of class sub-folders as confirmed photos")
    load.add_argument("catalogue", metavar="CAT")
    load.add_argument("data_dir", help="folder with one sub-folder of photos per motif")
    load.add_argument("--by", default="import", help="recorded as who added and confirmed them (default: %(default)s)")
    export = actions.add_parser("export", help="write the confirmed photos as a folder per motif, with provenance.csv")
    export.add_argument("catalogue", metavar="CAT")
    export.add_argument("out_dir", help="a new or empty folder, or an earlier export (brought up to date)")
    listing = actions.add_parser("list", help="photos per motif and status")
    listing.add_argument("catalogue", metavar="CAT")
    backup = actions.add_parser("backup", help="a consistent copy of the whole catalogue into a new folder")
    backup.add_argument("catalogue", metavar="CAT")
    backup.add_argument("dest", help="a new or empty folder; the copy is a folder catalogue")
    return parser


def _expand(paths) -> list[Path]:
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        else:
            files.append(path)
    return files


def _train(args) -> int:
    from .catalogue import Catalogue, is_catalogue
    from .train import train

    values = {name: getattr(args, name) for name in TrainConfig.field_names()}
    data_dir = args.data_dir
    if is_catalogue(data_dir):  # train on its confirmed photos, exported to a folder the model card can point to
        data_dir = args.photos_dir or str(Path(args.out).resolve()) + "_photos"
        with Catalogue.open(args.data_dir) as catalogue:
            summary = catalogue.export(data_dir)
        print(f"Exported {sum(summary.written.values())} confirmed photos of {len(summary.written)} motifs from "
              f"{catalogue.location} to {data_dir}", flush=True)
    train(data_dir, args.out, TrainConfig(**values), verbose=2 if args.quiet or not sys.stdout.isatty() else 1,
          resume=args.resume)
    return 0


def _evaluate(args) -> int:
    from .report import build_report

    build_report(args.model_dir, args.data_dir, args.unknown)
    return 0


def _calibrate(args) -> int:
    from .calibrate import calibrate_model_folder, set_naming_thresholds
    from .card import EVALUATION_DIR, REPORT_FILE
    from .enrol import add_class_centres

    if args.centres_only:  # the answers, and so the report's figures, stay as they are
        add_class_centres(args.model_dir)
        return 0
    if args.thresholds_only:
        verdict = set_naming_thresholds(args.model_dir, args.confident, args.unknown_ceiling).verdict
        print(f"A motif is now named from {verdict['confident']:.0%}, while the unknown class has at most "
              f"{verdict['unknown_ceiling']:.0%}; nothing was refitted.")
    else:
        calibrate_model_folder(args.model_dir, args.method, args.target_accept, args.confident,
                               unknown_ceiling=args.unknown_ceiling)
    report = Path(args.model_dir) / EVALUATION_DIR / REPORT_FILE
    if report.is_file():  # its figures were measured with the model's answers before this
        print(f"{report} was written before this calibration: `sasirangan evaluate {args.model_dir}` measures "
              "the model's answers again.")
    return 0


def _average(args) -> int:
    from .average import average_models

    average_models(args.model_dirs, args.out)
    return 0


def _predict(args) -> int:
    from .data import ImageError
    from .predict import Predictor

    files = _expand(args.images)
    if not files:
        raise FileNotFoundError(f"No images found in {' '.join(args.images)}.")
    predictor = Predictor(args.model_dir, catalogue=args.catalogue)
    failures = 0
    for file in files:
        try:
            prediction = predictor.predict(file)
        except ImageError as error:
            failures += 1
            message = str(error).split(": ", 1)[-1]
            if args.json:
                print(json.dumps({"file": str(file), "error": message}), flush=True)
            else:
                print(f"{file}: error: {message}", flush=True)
            continue
        if args.json:
            print(json.dumps(prediction.to_json(str(file))), flush=True)
        else:
            print(f"{file}: {_answer_line(prediction)}", flush=True)
    return 1 if failures == len(files) else 0


def _answer_line(prediction) -> str:
    """One line a person reads: the answer (motif, not sure, not a motif), the guesses, why."""
    from .verdict import MOTIF, UNCERTAIN

    guesses = ", ".join(f"{name} {p:.1%}" for name, p in prediction.top)
    if prediction.verdict != MOTIF:  # as the app's card: shares among the motifs, which the unknown class would shrink to 0%
        guesses = ", ".join(f"{name} {p:.0%}" for name, p in prediction.closest_motifs(among_motifs=True))
    if prediction.verdict == MOTIF and prediction.source == "catalogue":
        return (f"{prediction.label} (from {prediction.match.references} catalogue photos; closest by "
                f"{prediction.match.margin:+.2f} over {prediction.match.rival})")
    if prediction.verdict == MOTIF:
        return f"{prediction.label} ({prediction.confidence:.0%})   top: {guesses}"
    answer = "not sure which motif" if prediction.verdict == UNCERTAIN else "not a motif"
    advice = f" {prediction.advice}" if prediction.advice else ""
    return (f"{prediction.label} ({answer})   closest motifs (share among them): {guesses}   "
            f"({prediction.reason.rstrip('.')}.{advice})")


def _export(args) -> int:
    from .export import export_model

    print(f"Exporting {args.model_dir} to {args.fmt}{' (int8)' if args.int8 else ''} and checking it against Keras ...",
          flush=True)
    result = export_model(args.model_dir, args.fmt, args.out, args.int8)
    print(f"Wrote {result.path}: on {result.images_checked} pictures it names the same class as the Keras model "
          f"{result.top1_agreement:.1%} of the time (largest probability difference {result.max_probability_difference:.1e}; "
          f"{result.ms_per_image_p50:.1f} ms a picture). Described in {result.spec_path}.")
    return 0


def _explain(args) -> int:
    from .explain import explain

    found = explain(args.model_dir, args.image, Path(args.out), args.class_name)
    print(f"{args.image}: looked at for {found.class_name} ({found.probability:.0%}); heatmap written to {found.out_path}")
    return 0


def _catalogue(args) -> int:
    from .catalogue import STATUSES, Catalogue

    if args.action == "import" and not Path(args.data_dir).is_dir():  # before the catalogue is created
        raise FileNotFoundError(f"{args.data_dir}: folder not found; give a folder with one sub-folder per motif.")
    with Catalogue.open(args.catalogue) as catalogue:
        if args.action == "import":
            summary = catalogue.import_folder(args.data_dir, by=args.by, progress=_progress_line)
            print(f"\rImported {sum(summary.added.values())} photos into {catalogue.location}"
                  f" ({summary.duplicates} already there)" + " " * 20)
            for motif, count in sorted(summary.added.items()):
                print(f"  {motif}: {count}")
            for path, reason in summary.skipped:
                print(f"  skipped {path}: {reason.split(': ', 1)[-1]}")
            for folder in summary.empty:
                print(f"  empty folder: {folder}")
        elif args.action == "export":
            summary = catalogue.export(args.out_dir)
            print(f"Exported {sum(summary.written.values())} confirmed photos of {len(summary.written)} motifs to "
                  f"{summary.path} (with provenance.csv)" + (f"; removed {summary.removed} no longer confirmed"
                                                               if summary.removed else ""))
        elif args.action == "list":
            counts = catalogue.counts()
            width = max([len(slug) for slug in counts] + [5])
            print(f"{'motif':<{width}}  " + "  ".join(f"{status:>9}" for status in STATUSES))
            for slug, by_status in sorted(counts.items()):
                print(f"{slug:<{width}}  " + "  ".join(f"{by_status.get(status, 0):>9}" for status in STATUSES))
        else:
            print(f"Backed up {catalogue.location} to {catalogue.backup(args.dest)}")
    return 0


def _progress_line(done: int, total: int, path) -> None:
    """One updating line on a terminal; every 50th file otherwise (logs stay short)."""
    if sys.stdout.isatty():
        print(f"\r{done}/{total} {Path(path).name[:40]:<40}", end="", flush=True)
    elif done % 50 == 0 or done == total:
        print(f"{done}/{total} photos read", flush=True)


def main(argv=None) -> int:
    """Run the CLI; errors are one line on stderr and exit code 2, never a traceback."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    handlers = {"train": _train, "evaluate": _evaluate, "calibrate": _calibrate, "average": _average,
                "predict": _predict, "export": _export, "explain": _explain, "catalogue": _catalogue}
    try:
        return handlers[args.command](args)
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f"sasirangan {args.command}: error: {error}", file=sys.stderr)
        return 2
    except TrainingInterrupted:  # train() has said what is kept
        again = shlex.join(["sasirangan", *argv, *([] if args.resume else ["--resume"])])
        print(f"sasirangan train: interrupted. To continue where it stopped:\n  {again}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"sasirangan {args.command}: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
