"""`sasirangan train | evaluate | predict`: the command line over the library.

Train flags are generated from `TrainConfig`, so the CLI and the config cannot drift.
`main(argv)` returns an exit code, so tests call it in-process.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import sys
from pathlib import Path

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
                                description="Train MobileNetV2 on DATA_DIR/<class>/<photo> and save a model folder.")
    train.add_argument("data_dir", help="folder with one sub-folder of photos per class ('unknown' = reject class)")
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
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

    predict = commands.add_parser("predict", help="name the motif in images",
                                  description="Print the top-3 motifs for each image (folders are searched).")
    predict.add_argument("model_dir")
    predict.add_argument("images", nargs="+", help="image files or folders")
    predict.add_argument("--json", action="store_true", help="one JSON object per line")
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
    from .train import train

    values = {name: getattr(args, name) for name in TrainConfig.field_names()}
    train(args.data_dir, args.out, TrainConfig(**values), verbose=2 if args.quiet or not sys.stdout.isatty() else 1)
    return 0


def _evaluate(args) -> int:
    from .report import build_report

    build_report(args.model_dir, args.data_dir, args.unknown)
    return 0


def _calibrate(args) -> int:
    from .calibrate import calibrate_model_folder

    calibrate_model_folder(args.model_dir, args.method, args.target_accept, args.confident)
    return 0


def _predict(args) -> int:
    from .data import ImageError
    from .predict import Predictor

    files = _expand(args.images)
    if not files:
        raise FileNotFoundError(f"No images found in {' '.join(args.images)}.")
    predictor = Predictor(args.model_dir)
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
    if prediction.verdict == MOTIF:
        return f"{prediction.label} ({prediction.confidence:.0%})   top: {guesses}"
    answer = "not sure which motif" if prediction.verdict == UNCERTAIN else "not a motif"
    advice = f" {prediction.advice}" if prediction.advice else ""
    return f"{prediction.label} ({answer})   closest: {guesses}   ({prediction.reason.rstrip('.')}.{advice})"


def main(argv=None) -> int:
    """Run the CLI; errors are one line on stderr and exit code 2, never a traceback."""
    args = build_parser().parse_args(argv)
    handlers = {"train": _train, "evaluate": _evaluate, "calibrate": _calibrate, "predict": _predict}
    try:
        return handlers[args.command](args)
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f"sasirangan {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = ""
        if args.command == "train" and (Path(args.out) / "checkpoints").is_dir():
            kept = f" The best model so far is kept in {Path(args.out) / 'checkpoints'}/."
        print(f"sasirangan {args.command}: interrupted.{kept}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
