import json
import shutil

import numpy as np
import pytest

from conftest import pattern_image
from sasirangan.cli import main
from sasirangan.model import load_model_folder
from sasirangan.evaluate import model_outputs
from sasirangan.predict import Predictor
from sasirangan.views import WHOLE, Views


def test_train_writes_a_complete_model_folder(trained_model_dir):
    names = {p.name for p in trained_model_dir.iterdir()}
    assert {"model.keras", "class_names.json", "model_card.json", "model.tflite", "training_curves.png", "evaluation"} <= names
    assert "checkpoints" not in names
    card = json.loads((trained_model_dir / "model_card.json").read_text())
    assert card["classes"] == ["bands", "checks", "stripes"]
    assert card["class_counts"] == {"bands": 10, "checks": 10, "stripes": 10}
    assert [len(card["split"][s]) for s in ("train", "val", "test")] == [24, 3, 3]
    assert card["label_conflicts"] == []  # the toy tree has no picture filed twice
    assert len(card["history"]["loss"]) >= 2 and "test_metrics" in card and "versions" in card
    evaluation = trained_model_dir / "evaluation"
    assert {"report.md", "metrics.json", "confusion_matrix.png", "confusion_matrix.csv", "roc.png", "reliability.png", "training_curves.png",
            "worst_mistakes.png", "worst_mistakes_heatmaps.png", "predictions.csv"} <= {p.name for p in evaluation.iterdir()}
    rows = (evaluation / "predictions.csv").read_text().splitlines()
    assert rows[0] == "file,box,true,predicted,verdict,confidence,reason" and len(rows) == 1 + 3
    assert card["calibration"]["temperature"] > 0 and card["open_set"]["method"] == "mahalanobis"
    assert card["refit"]["on"] == ["train", "val"] and card["views"] == {"grid": 3, "zoom": 2.0}
    cv = card["cross_validation"]  # --folds 2: judged on all 27 train + validation pictures
    assert cv["folds"] == 2 and cv["images"] == 27 and cv["accuracy_interval"][0] <= cv["accuracy"] <= cv["accuracy_interval"][1]
    assert (trained_model_dir / "open_set.npz").is_file()


def test_evaluate_repeats_the_saved_test_split(trained_model_dir, tmp_path, capsys):
    negatives = tmp_path / "negatives"
    negatives.mkdir()
    for i in range(5):
        pattern_image("checks", 9000 + i).save(negatives / f"{i}.png")
    assert main(["evaluate", str(trained_model_dir), "--unknown", str(negatives)]) == 0
    out = capsys.readouterr().out
    assert "Evaluation on the model's test split: 3 images" in out
    assert "95% CI" in out  # three test images: the summary must say how little that measures
    assert "a perfectly calibrated model would measure" in out  # and how little an ECE on them says
    metrics = json.loads((trained_model_dir / "evaluation" / "metrics.json").read_text())
    assert np.array(metrics["confusion_matrix"]).sum() == 3
    row = metrics["rejection"][str(negatives)]
    assert row["images"] == 5 and 0 <= row["rejected"] <= 1 and 0 <= row["auroc"] <= 1 and 0 <= row["fpr95"] <= 1
    assert set(metrics["robustness"]) >= {"clean", "rotation +-30 deg", "JPEG quality 30", "small (40%) on plain background",
                                          "close-up (centre half enlarged)", "other colourway (hue turned 120 deg)"}
    assert metrics["leakage_pairs"] == 0
    low, high = metrics["accuracy_interval"]
    assert low <= metrics["accuracy"] <= high and high - low > 0.4
    reference, upper = metrics["ece_if_calibrated"]
    assert 0 <= reference <= upper <= 1 and len(metrics["calibration_points"]["correct"]) == 3
    report = (trained_model_dir / "evaluation" / "report.md").read_text()
    for heading in ("## Per class", "## Rejection", "## Robustness", "## Worst mistakes", "## Leakage check"):
        assert heading in report
    assert "## Where the held-out regions lie" not in report  # the toy photos were split whole, not into regions
    assert not (trained_model_dir / "evaluation" / "held_out_regions.jpg").exists()
    assert str(negatives) in report
    assert "perfectly calibrated model would measure on these 3 images" in report
    assert metrics["naming_thresholds"] == {"confident": 0.5, "unknown_ceiling": 1.0}
    assert "| ... answered with a motif named from | 50% calibrated probability, the unknown class at most 100% |" in report


def test_evaluate_a_whole_data_folder(trained_model_dir, tmp_path, capsys):
    for name in ("bands", "stripes"):
        (tmp_path / "more" / name).mkdir(parents=True)
        for i in range(2):
            pattern_image(name, 5000 + i).save(tmp_path / "more" / name / f"{i}.png")
    assert main(["evaluate", str(trained_model_dir), str(tmp_path / "more")]) == 0
    assert "4 images" in capsys.readouterr().out
    assert (trained_model_dir / "evaluation_more" / "confusion_matrix.png").is_file()


@pytest.mark.parametrize("confident, named", [(0.01, True), (0.99, False)])
def test_predict_json_lines(trained_model_dir, predictor, tmp_path, capsys, confident, named):
    """Both kinds of answer, pinned by the model's threshold: named or not, the confidence is the
    most probable class's and the guesses are the model's own (the toy model has no unknown
    class, so its top guess), with no unknown among them; only a name has no reason."""
    model_dir = tmp_path / "model"
    shutil.copytree(trained_model_dir, model_dir)
    assert main(["calibrate", str(model_dir), "--thresholds-only", "--confident", str(confident)]) == 0
    good = predictor.card.samples("train", trained_model_dir)[0].path  # a picture it knows: past the open-set gate
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    capsys.readouterr()
    assert main(["predict", str(model_dir), str(good), str(bad), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    answer = lines[0]
    assert answer["file"] == str(good) and (answer["verdict"] == "motif") == named
    assert answer["label"] == (answer["top"][0][0] if named else "unknown")
    assert ("reason" in answer) == (not named)
    assert len(answer["top"]) == 3 and sum(p for _, p in answer["top"]) == pytest.approx(1.0, abs=1e-4)
    assert answer["confidence"] == answer["top"][0][1] and "unknown" not in dict(answer["top"])
    assert lines[1]["file"] == str(bad) and "error" in lines[1] and "label" not in lines[1]


def test_predictor_answers_files_as_the_evaluation_pipeline_does(trained_model_dir):
    """One image path into the model: the CLI/app Predictor (LiteRT, views averaged one by one)
    and evaluation/calibration (batched tf.data) give the same outputs for the same file."""
    model, class_names, card = load_model_folder(trained_model_dir)
    views = card.view_spec
    assert views == Views(grid=3, zoom=2.0)
    samples = card.samples("test", trained_model_dir)
    expected = model_outputs(model, samples, class_names, 32, views)
    predictor = Predictor(trained_model_dir)
    for i, sample in enumerate(samples):
        got = predictor.outputs(sample.path)
        for key in ("logits", "embedding"):
            np.testing.assert_allclose(got[key], expected[key][i], atol=2e-3, rtol=1e-3)
        assert predictor.probabilities(sample.path).sum() == pytest.approx(1.0, abs=1e-5)  # calibrated ones too
    whole = model_outputs(model, samples[:1], class_names, 32, WHOLE)  # the live path's single view agrees too
    np.testing.assert_allclose(predictor.outputs(samples[0].path, WHOLE)["embedding"], whole["embedding"][0], atol=2e-3, rtol=1e-3)


def test_train_checks_settings_before_any_work(image_tree, tmp_path, capsys):
    assert main(["train", str(image_tree), "--out", str(tmp_path / "m"), "--folds", "1", "--backbone", "resnet9",
                 "--unknown-ceiling", "0"]) == 2
    err = capsys.readouterr().err
    assert "folds must be 0 (off) or at least 2" in err and "backbone must be one of mobilenet_v2" in err
    assert "unknown_ceiling must be in (0, 1]" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m").exists()


@pytest.mark.parametrize("argv,match", [
    (["train", "/no/such/folder", "--out", "/tmp/x"], "Data folder '/no/such/folder' does not exist"),
    (["evaluate", "/no/such/model"], "Model folder '/no/such/model' does not exist"),
    (["predict", "/no/such/model", "x.jpg"], "does not exist"),
])
def test_cli_errors_are_one_line_not_tracebacks(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_calibrate_stores_the_thresholds_it_is_given(trained_model_dir):
    import shutil

    copy = trained_model_dir.parent / "calibrated_copy"  # beside the original: the split's relative paths still hold
    shutil.copytree(trained_model_dir, copy)
    assert main(["calibrate", str(copy), "--confident", "0.7", "--unknown-ceiling", "0.05"]) == 0
    verdict = json.loads((copy / "model_card.json").read_text())["verdict"]
    assert (verdict["confident"], verdict["unknown_ceiling"]) == (0.7, 0.05)
    assert Predictor(copy).unknown_ceiling == 0.05
    before = (copy / "model_card.json").read_text()
    assert main(["calibrate", str(copy), "--unknown-ceiling", "1.5"]) == 2
    assert (copy / "model_card.json").read_text() == before  # a bad setting changes nothing
    assert main(["calibrate", str(copy)]) == 0  # without the flags: the training settings again
    verdict = json.loads((copy / "model_card.json").read_text())["verdict"]
    assert (verdict["confident"], verdict["unknown_ceiling"]) == (0.5, 1.0)


def test_calibrate_thresholds_only_refits_nothing(trained_model_dir, capsys):
    import shutil

    copy = trained_model_dir.parent / "thresholds_copy"
    shutil.copytree(trained_model_dir, copy)
    before = json.loads((copy / "model_card.json").read_text())
    fitted = (copy / "open_set.npz").read_bytes()
    assert main(["calibrate", str(copy), "--thresholds-only", "--unknown-ceiling", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "named from 50%, while the unknown class has at most 5%; nothing was refitted" in out
    assert f"report.md was written before this calibration: `sasirangan evaluate {copy}`" in out  # the report is stale
    after = json.loads((copy / "model_card.json").read_text())
    assert after["verdict"] == {**before["verdict"], "unknown_ceiling": 0.05}
    assert after["calibration"] == before["calibration"] and (copy / "open_set.npz").read_bytes() == fitted
    assert main(["calibrate", str(copy), "--thresholds-only"]) == 2
    assert "Give --confident, --unknown-ceiling or both" in capsys.readouterr().err
    assert json.loads((copy / "model_card.json").read_text()) == after


def test_cli_suggests_close_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "no-data", "--out", "m", "--head-epoch", "3"])
    assert exit_info.value.code == 2
    assert "did you mean --head-epochs" in capsys.readouterr().err


def test_cli_train_reports_single_class(tmp_path, capsys):
    (tmp_path / "d" / "only").mkdir(parents=True)
    pattern_image("bands", 1).save(tmp_path / "d" / "only" / "a.png")
    assert main(["train", str(tmp_path / "d"), "--out", str(tmp_path / "m"), "--weights", "none"]) == 2
    assert "at least two class sub-folders" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_model_without_unknown_class_rejects_by_score(trained_model_dir, tmp_path):
    predictor = Predictor(trained_model_dir)
    assert "unknown" not in predictor.class_names and predictor.scorer is not None
    image = tmp_path / "cloth.png"
    pattern_image("stripes", 4242).save(image)
    outputs = predictor.outputs(image)
    far = dict(outputs, embedding=outputs["embedding"] + 50.0 * (np.abs(outputs["embedding"]).max() + 1))
    answer = predictor.decide(far)
    assert answer.label == "unknown" and "unlike every motif" in answer.reason
    assert answer.top[0][0] in predictor.class_names  # the top guesses are still shown
    assert predictor.decide(outputs).score > answer.score


def test_explain_writes_a_heatmap_and_refuses_bad_input(trained_model_dir, tmp_path, capsys):
    from PIL import Image

    photo = tmp_path / "photo.png"
    pattern_image("stripes", 11).save(photo)
    out = tmp_path / "heat.png"
    assert main(["explain", str(trained_model_dir), str(photo), "--out", str(out), "--class", "checks"]) == 0
    assert "looked at for checks" in capsys.readouterr().out
    with Image.open(out) as written:
        assert written.width > written.height  # the picture and its heatmap side by side
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    assert main(["explain", str(trained_model_dir), str(broken), "--out", str(tmp_path / "b.png")]) == 2
    assert main(["explain", str(trained_model_dir), str(photo), "--out", str(tmp_path / "c.png"), "--class", "sofa"]) == 2
    err = capsys.readouterr().err
    assert "not an image file" in err and "class_name must be one of bands, checks, stripes" in err
    assert not (tmp_path / "b.png").exists() and not (tmp_path / "c.png").exists()


def test_export_cli_checks_the_file_and_says_what_it_wrote(trained_model_dir, tmp_path, capsys):
    out = tmp_path / "phone"
    assert main(["export", str(trained_model_dir), "--format", "litert", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"Wrote {out / 'model_float32.tflite'}" in said and "on 3 pictures" in said
    spec = json.loads((out / "export.json").read_text())
    assert json.loads((trained_model_dir / "model_card.json").read_text())["exports"]["model_float32.tflite"]
    assert "model_float32.tflite" in json.dumps(spec)
    assert main(["export", str(trained_model_dir), "--format", "onnx", "--int8"]) == 2
    assert "int8 quantisation is only available for the LiteRT export" in capsys.readouterr().err
