"""Exports of a trained model folder for phones, the web and other runtimes.

A model folder's `model.keras` needs Python and Keras. A phone app, a browser or a C++ server
needs the same network in a file its own runtime reads: LiteRT (`.tflite`, Android and iOS,
optionally full-integer int8 for small and fast phones), ONNX (ONNX Runtime on any platform)
or a TensorFlow SavedModel (TF Serving, TF.js converter).

Two things make an export safe to hand over:

1. It is checked. Each export is run beside the Keras model on the folder's test pictures
   (or, without a test split, on up to 20 training pictures), and the largest probability
   difference, the top-1 agreement and the time per picture are stored in the model card
   (`card.extra["exports"]`), so nobody ships a file that answers differently unknowingly.
2. It is described. A JSON spec beside the export (`export.json`, one entry per exported
   file) says what a phone developer needs without Python: input name, shape, dtype and
   value range, channel order, how to resize a picture, the output and its class order,
   and the checked figures. Facts the card owns (class names, input size, temperature) are
   copied from the card, never recomputed.

Every export takes the whole picture squashed to a square of the card's `input_size`, RGB;
the float exports take values in [0, 1] (the model's normalisation is a layer inside it).
The int8 LiteRT export takes the raw RGB bytes (uint8, 0..255) and returns float32
probabilities: phone image APIs give bytes, and float probabilities need no dequantising,
so the app code is the same for both LiteRT files apart from the input type. int8 costs
accuracy: on the bundled MobileNetV2 model it names the same class as Keras on 93% of the 184
test pictures (the float exports: 100%, probabilities within 1e-5), so read the card's figures
before shipping it.

Example:
    >>> result = export_model("models/sasirangan_default", "litert")  # doctest: +SKIP
    >>> result.top1_agreement, result.path.name                         # doctest: +SKIP
    (1.0, 'model_float32.tflite')
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .data import ImageError, load_image
from .views import WHOLE, image_views

EXPORT_FORMATS = ("litert", "onnx", "saved_model")

LITERT_FLOAT_FILE = "model_float32.tflite"
LITERT_INT8_FILE = "model_int8.tflite"
ONNX_FILE = "model.onnx"
SAVED_MODEL_DIR = "saved_model"
SPEC_FILE = "export.json"  # the phone developer's description of every export in the folder
SPEC_FORMAT = 1

CALIBRATION_IMAGES = 100  # training pictures the int8 quantiser sees (more rarely changes its ranges)
FALLBACK_CHECK_IMAGES = 20  # training pictures checked when the folder has no test split
CHECK_BATCH = 32  # pictures per Keras batch during the check (the export runs one at a time)
ONNX_OPSET = 17

RESIZE = ("squash the whole picture to input_size x input_size (stretched, not cropped: the aspect ratio "
          "is not kept) with area interpolation (OpenCV INTER_AREA); bilinear when the picture is smaller")
OUTPUT_MEANING = ("softmax probabilities, one per class in class_names order (uncalibrated; the calibrated "
                  "ones are softmax(log(p) / temperature))")


class ExportError(ValueError):
    """An export that cannot be made as asked; the one-line message says what to do."""


@dataclass
class ExportResult:
    """What `export_model` wrote and how closely it agrees with the Keras model."""

    path: Path  # the exported file (or SavedModel folder)
    format: str  # one of EXPORT_FORMATS
    int8: bool
    max_probability_difference: float  # largest |p_export - p_keras| over checked pictures and classes
    top1_agreement: float  # share of checked pictures where both name the same class
    images_checked: int
    ms_per_image_p50: float  # median time of one export call at batch size 1 (one CPU thread), in ms
    spec_path: Path | None = None  # the JSON spec beside the export
    accuracy: float | None = None  # share of checked pictures the export names right (whole picture)
    keras_accuracy: float | None = None  # the same for the Keras model, on the same pictures


def export_model(model_dir, fmt: str, out_dir=None, int8: bool = False) -> ExportResult:
    """Export a model folder's model to `fmt`, check it against Keras, and record the check.

    Args:
        model_dir: a folder written by `sasirangan train`.
        fmt: one of `EXPORT_FORMATS`: "litert", "onnx" or "saved_model".
        out_dir: where to write the export and `export.json`; default: the model folder.
        int8: full-integer quantisation (LiteRT only), calibrated on up to
            `CALIBRATION_IMAGES` of the folder's training pictures.

    Returns:
        An `ExportResult`. The same figures go into the model card
        (`extra["exports"][file name]`) and into `export.json` beside the export.

    Raises:
        ExportError: unknown format, int8 with a format other than LiteRT, no pictures to
            calibrate or check on, or a converter that cannot export this model.
        FileNotFoundError, ValueError: the model folder is missing or broken.
    """
    from .model import load_model_folder

    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"Unknown export format; use one of {', '.join(EXPORT_FORMATS)}. Received: fmt={fmt!r}.")
    if int8 and fmt != "litert":
        raise ExportError(f"int8 quantisation is only available for the LiteRT export; use fmt='litert' with int8, "
                          f"or export {fmt!r} without int8. Received: fmt={fmt!r}, int8=True.")
    model_dir = Path(model_dir)
    model, _, card = load_model_folder(model_dir)
    size = int(card.input_size)

    # Gather the pictures first, so a folder that cannot be checked fails before writing anything.
    check_split, check_samples = check_samples_of(card, model_dir)
    calibration = calibration_samples(card, model_dir) if int8 else None
    require_files(check_samples + (calibration or []))
    out_dir = Path(out_dir) if out_dir is not None else model_dir
    out_dir.mkdir(parents=True, exist_ok=True)

    if fmt == "litert":
        path = out_dir / (LITERT_INT8_FILE if int8 else LITERT_FLOAT_FILE)
        runner = export_litert(model, path, size, calibration)
    elif fmt == "onnx":
        path = out_dir / ONNX_FILE
        runner = export_onnx(model, path, size)
    else:
        path = out_dir / SAVED_MODEL_DIR
        runner = export_saved_model(model, path)

    check = check_export(model, runner, check_samples, size, list(card.classes))
    check["checked_on"] = check_split
    result = ExportResult(path=path, format=fmt, int8=int8, **{key: check[key] for key in (
        "max_probability_difference", "top1_agreement", "images_checked", "ms_per_image_p50")},
        accuracy=check.get("accuracy"), keras_accuracy=check.get("keras_accuracy"))

    record = {"format": fmt, "int8": int8, "path": os.path.relpath(path, model_dir),
              "size_bytes": _size_of(path), "runtime": runner.runtime, **check,
              "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    card.extra.setdefault("exports", {})[path.name] = record
    card.save(model_dir)
    result.spec_path = write_spec(out_dir, path.name, spec_entry(card, runner, record))
    return result


# --------------------------------------------------------------------------- pictures


def prepared_picture(sample, size: int) -> np.ndarray:
    """One sample as the model sees the whole picture: (size, size, 3) float32 in [0, 1]."""
    try:
        rgb = load_image(sample.path)
    except ImageError as error:
        raise ExportError(f"Cannot read a picture the model card lists ({error}); put the data back where "
                          "the card's split says (paths are relative to the model folder).") from None
    return image_views(sample.view(rgb), size, WHOLE)[0]


def require_files(samples: list) -> None:
    """Fail early, in one line, when pictures the card lists are not where it says."""
    missing = [s.path for s in samples if not Path(s.path).is_file()]
    if missing:
        raise ExportError(f"{len(missing)} of the pictures the model card lists are missing (e.g. {missing[0]}); put "
                          "the data back where the card's split says (paths are relative to the model folder).")


def _spread(samples: list, count: int) -> list:
    """Up to `count` samples spread evenly over the list (splits are often grouped by class)."""
    step = max(1, math.ceil(len(samples) / count))
    return samples[::step][:count]


def check_samples_of(card, model_dir) -> tuple[str, list]:
    """The pictures an export is checked on: the test split, else up to 20 training pictures."""
    test = card.samples("test", model_dir)
    if test:
        return "test split", test
    train = _spread(card.samples("train", model_dir), FALLBACK_CHECK_IMAGES)
    if train:
        return f"{len(train)} training pictures (the folder has no test split)", train
    raise ExportError(f"The model card in {model_dir} lists no test or training pictures to check the export on; "
                      "export from a folder written by `sasirangan train`.")


def calibration_samples(card, model_dir) -> list:
    """Up to `CALIBRATION_IMAGES` training pictures for int8 calibration."""
    samples = _spread(card.samples("train", model_dir), CALIBRATION_IMAGES)
    if not samples:
        raise ExportError(f"int8 quantisation needs the training pictures to calibrate on, and the model card in "
                          f"{model_dir} lists none; export without int8, or from a folder written by "
                          "`sasirangan train`.")
    return samples


# --------------------------------------------------------------------------- formats


@dataclass
class Runner:
    """Runs one export on one prepared picture and describes its input and output."""

    run: Callable  # (1, S, S, 3) float32 in [0, 1] -> (1, K) float32 probabilities
    input: dict  # what the export itself reports: name, shape, dtype, value range
    output: dict
    runtime: str  # the package (and version) that ran the check


def export_litert(model, path: Path, size: int, calibration: list | None = None) -> Runner:
    """Write a LiteRT file: float32, or full-integer int8 (uint8 input) calibrated on `calibration`."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: _representative_data(calibration, size)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8  # raw RGB bytes in
        converter.inference_output_type = tf.float32  # probabilities out, no dequantising in the app
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # it lists every variable
            # uint8 input: the converter asks for input statistics it takes from the calibration
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            flatbuffer = converter.convert()
    except ExportError:
        raise  # a calibration picture that cannot be read
    except Exception as error:
        kind = "int8" if calibration is not None else "float32"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"The LiteRT converter cannot make a {kind} export of this model ({first_line}); "
                          "try the float32 LiteRT export or the SavedModel.") from error
    path.write_bytes(flatbuffer)
    return _litert_runner(path)


def _representative_data(samples: list, size: int):
    """Calibration pictures, the first with one black and one white pixel.

    The two pixels pin the input's observed range to exactly [0, 1], so the uint8 input's
    quantisation is scale 1/255, zero point 0: the app feeds the picture's bytes as they are.
    """
    for i, sample in enumerate(samples):
        picture = prepared_picture(sample, size)
        if i == 0:
            picture[0, 0], picture[0, 1] = 0.0, 1.0
        yield [picture[None]]


def _litert_runner(path: Path) -> Runner:
    try:
        from ai_edge_litert.interpreter import Interpreter

        runtime = f"ai-edge-litert {importlib.metadata.version('ai-edge-litert')}"
    except ImportError:  # no LiteRT wheel for this platform: TensorFlow's own interpreter
        import tensorflow as tf

        Interpreter, runtime = tf.lite.Interpreter, f"tf.lite (tensorflow {tf.__version__})"
    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    (given,), (answer,) = interpreter.get_input_details(), interpreter.get_output_details()
    scale, zero_point = given["quantization"]

    def run(batch):
        if given["dtype"] == np.uint8:  # [0, 1] -> the picture's bytes, exactly
            batch = np.round(batch / scale + zero_point).clip(0, 255).astype(np.uint8)
        interpreter.set_tensor(given["index"], batch)
        interpreter.invoke()
        return interpreter.get_tensor(answer["index"]).astype(np.float32)

    signature = interpreter.get_signature_list().get("serving_default", {})
    input_info = {"name": given["name"], "signature_name": (signature.get("inputs") or [None])[0],
                  "shape": [int(d) for d in given["shape"]], "dtype": np.dtype(given["dtype"]).name}
    if given["dtype"] == np.uint8:
        input_info.update(range=[0, 255], quantization={"scale": float(scale), "zero_point": int(zero_point)})
    else:
        input_info.update(range=[0.0, 1.0])
    output_info = {"name": answer["name"], "signature_name": (signature.get("outputs") or [None])[0],
                   "shape": [int(d) for d in answer["shape"]], "dtype": np.dtype(answer["dtype"]).name}
    return Runner(run, input_info, output_info, runtime)


def export_onnx(model, path: Path, size: int) -> Runner:
    """Write an ONNX file with tf2onnx (input "image", output "probabilities").

    Keras' own `model.export(format="onnx")` leaves the `Normalization` layer's mean and
    variance (constants captured by the traced function) as extra graph inputs, so the
    function is frozen here first and its graph converted.
    """
    try:
        import onnxruntime  # noqa: F401  (checks the file)
        import tensorflow as tf
        import tf2onnx
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    except ImportError:
        raise ExportError("The ONNX export needs tf2onnx, onnx and onnxruntime: "
                          "pip install 'sasirangan[export]'.") from None

    spec = tf.TensorSpec([None, size, size, 3], tf.float32, name="image")
    function = tf.function(lambda image: model(image, training=False), input_signature=[spec])
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    image_name, output_name = frozen.inputs[0].name, frozen.outputs[0].name
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("ERROR")  # tf2onnx freezes the graph with TF1 functions, each with a deprecation warning
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            tf2onnx.convert.from_graph_def(
                frozen.graph.as_graph_def(), input_names=[image_name], output_names=[output_name],
                opset=ONNX_OPSET, output_path=str(path),
                tensors_to_rename={image_name: "image", output_name: "probabilities"})
    except Exception as error:
        raise ExportError(f"tf2onnx cannot convert this model ({type(error).__name__}: {error}); "
                          "use the LiteRT or SavedModel export.") from error
    finally:
        logger.setLevel(level)
    return _onnx_runner(path)


def _onnx_runner(path: Path) -> Runner:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    given, answer = session.get_inputs(), session.get_outputs()
    if len(given) != 1:
        raise ExportError(f"The ONNX export has {len(given)} inputs ({', '.join(i.name for i in given)}), not one "
                          "image; report this with your tf2onnx and Keras versions.")

    def run(batch):
        return session.run([answer[0].name], {given[0].name: batch})[0]

    def info(node):
        shape = [d if isinstance(d, int) else -1 for d in node.shape]  # -1: any batch size
        dtype = node.type.removeprefix("tensor(").rstrip(")")  # ONNX says "float" for float32
        return {"name": node.name, "shape": shape, "dtype": "float32" if dtype == "float" else dtype}

    return Runner(run, {**info(given[0]), "range": [0.0, 1.0]}, info(answer[0]),
                  f"onnxruntime {onnxruntime.__version__}")


def export_saved_model(model, path: Path) -> Runner:
    """Write a TensorFlow SavedModel (signature "serving_default") with Keras' exporter."""
    import tensorflow as tf

    model.export(str(path), format="tf_saved_model", verbose=False)
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    (input_name, input_spec), = signature.structured_input_signature[1].items()
    (output_name, output_spec), = signature.structured_outputs.items()

    def run(batch):
        return signature(**{input_name: tf.constant(batch)})[output_name].numpy()

    def info(name, spec):
        return {"name": name, "shape": [-1 if d is None else int(d) for d in spec.shape], "dtype": spec.dtype.name}

    return Runner(run, {**info(input_name, input_spec), "signature": "serving_default", "range": [0.0, 1.0]},
                  info(output_name, output_spec), f"tensorflow {tf.__version__}")


def _size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# --------------------------------------------------------------------------- check and spec


def check_export(model, runner: Runner, samples: list, size: int, class_names=None) -> dict:
    """Run the export (batch size 1) and the Keras model on the same prepared pictures.

    Returns:
        max_probability_difference, top1_agreement, images_checked and ms_per_image_p50; with
        `class_names`, also accuracy and keras_accuracy: the share of pictures each names
        right (whole picture, no rejection), so what quantisation costs reads as accuracy.
    """
    largest, agreeing, seconds, right, keras_right = 0.0, 0, [], 0, 0
    for start in range(0, len(samples), CHECK_BATCH):
        batch = np.stack([prepared_picture(s, size) for s in samples[start : start + CHECK_BATCH]])
        expected = np.asarray(model(batch, training=False))
        answers = []
        for picture, keras_row in zip(batch, expected):
            started = time.perf_counter()
            got = runner.run(picture[None])[0]
            answers.append(got)
            seconds.append(time.perf_counter() - started)
            largest = max(largest, float(np.abs(got - keras_row).max()))
            agreeing += int(np.argmax(got) == np.argmax(keras_row))
        if class_names is not None:
            truth = [class_names.index(s.label) if s.label in class_names else -1
                     for s in samples[start : start + CHECK_BATCH]]
            right += sum(int(np.argmax(row) == label) for row, label in zip(answers, truth))
            keras_right += sum(int(np.argmax(row) == label) for row, label in zip(expected, truth))
    figures = {"max_probability_difference": largest, "top1_agreement": agreeing / len(samples),
               "images_checked": len(samples), "ms_per_image_p50": round(1000 * float(np.median(seconds)), 3)}
    if class_names is not None:
        figures.update(accuracy=right / len(samples), keras_accuracy=keras_right / len(samples))
    return figures


def spec_entry(card, runner: Runner, record: dict) -> dict:
    """One export's description for app developers; class names and sizes come from the card."""
    size = card.input_size
    return {
        "file": Path(record["path"]).name,
        "format": record["format"],
        "int8": record["int8"],
        "input": {**runner.input, "layout": "NHWC", "channel_order": "RGB",
                  "values": ("the picture's RGB bytes as they are, 0..255" if runner.input["dtype"] == "uint8"
                             else "RGB divided by 255, float32 in [0, 1]")},
        "resize": f"{RESIZE} (input_size = {size})",
        "output": {**runner.output, "meaning": OUTPUT_MEANING},
        "class_names": list(card.classes),
        "input_size": size,
        "unknown_class": card.unknown_class,
        "temperature": card.temperature,
        "views": ("one view, the whole picture" if card.view_spec.count == 1 else
                  "one view, the whole picture (the Python predictor also averages close-up tiles of it, "
                  "model card 'views', so its answers can differ slightly)"),
        "check": {key: record[key] for key in ("checked_on", "images_checked", "max_probability_difference",
                                               "top1_agreement", "ms_per_image_p50", "runtime")},
        "size_bytes": record["size_bytes"],
        "created": record["created"],
    }


def write_spec(out_dir: Path, file_name: str, entry: dict) -> Path:
    """Add or replace one export's entry in `export.json` (other exports' entries are kept)."""
    path = Path(out_dir) / SPEC_FILE
    spec = {"format": SPEC_FORMAT, "exports": {}}
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
            if isinstance(previous, dict) and isinstance(previous.get("exports"), dict):
                spec["exports"] = previous["exports"]
        except json.JSONDecodeError:
            pass  # a broken spec is rewritten from this export on
    spec["exports"][file_name] = entry
    path.write_text(json.dumps(spec, indent=2))
    return path

