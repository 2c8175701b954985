import json

import numpy as np
import pytest

from conftest import pattern_image
from sasirangan.cli import main
from sasirangan.data import Sample, make_dataset
from sasirangan.model import load_model_folder
from sasirangan.predict import Predictor


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
            "worst_mistakes.png", "predictions.csv"} <= {p.name for p in evaluation.iterdir()}
    rows = (evaluation / "predictions.csv").read_text().splitlines()
    assert rows[0] == "file,box,true,predicted,confidence,reason" and len(rows) == 1 + 3
    assert card["calibration"]["temperature"] > 0 and card["open_set"]["method"] == "mahalanobis"
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
    assert str(negatives) in report
    assert "perfectly calibrated model would measure on these 3 images" in report


def test_evaluate_a_whole_data_folder(trained_model_dir, tmp_path, capsys):
    for name in ("bands", "stripes"):
        (tmp_path / "more" / name).mkdir(parents=True)
        for i in range(2):
            pattern_image(name, 5000 + i).save(tmp_path / "more" / name / f"{i}.png")
    assert main(["evaluate", str(trained_model_dir), str(tmp_path / "more")]) == 0
    assert "4 images" in capsys.readouterr().out
    assert (trained_model_dir / "evaluation_more" / "confusion_matrix.png").is_file()


def test_predict_json_lines(trained_model_dir, tmp_path, capsys):
    good = tmp_path / "cloth.png"
    pattern_image("stripes", 77).save(good)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    assert main(["predict", str(trained_model_dir), str(good), str(bad), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert lines[0]["file"] == str(good) and lines[0]["label"] in ("bands", "checks", "stripes")
    assert len(lines[0]["top"]) == 3 and sum(p for _, p in lines[0]["top"]) == pytest.approx(1.0, abs=1e-4)
    assert lines[0]["confidence"] == lines[0]["top"][0][1]
    assert lines[1]["file"] == str(bad) and "error" in lines[1] and "label" not in lines[1]


def test_predictor_matches_model_on_pipeline_images(trained_model_dir):
    model, class_names, card = load_model_folder(trained_model_dir)
    samples = [Sample.from_json(item, trained_model_dir) for item in card["split"]["test"]]
    batch = next(iter(make_dataset(samples, class_names, 32, len(samples))))[0]
    expected = model.predict(batch, verbose=0)
    predictor = Predictor(trained_model_dir)
    for sample, row in zip(samples, expected):
        np.testing.assert_allclose(predictor.outputs(sample.path)["probabilities"], row, atol=1e-3)
        assert predictor.probabilities(sample.path).sum() == pytest.approx(1.0, abs=1e-5)  # calibrated ones too


@pytest.mark.parametrize("argv,match", [
    (["train", "/no/such/folder", "--out", "/tmp/x"], "Data folder '/no/such/folder' does not exist"),
    (["evaluate", "/no/such/model"], "Model folder '/no/such/model' does not exist"),
    (["predict", "/no/such/model", "x.jpg"], "does not exist"),
])
def test_cli_errors_are_one_line_not_tracebacks(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


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
