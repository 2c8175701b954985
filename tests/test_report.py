"""The report's figure of where each photo's held-out regions lie."""

from PIL import Image

from conftest import make_tree
from sasirangan.config import TrainConfig
from sasirangan.data import scan_folder, split_samples
from sasirangan.report import held_out_regions, plot_held_out_regions


def _inside(box, region) -> bool:
    return region[0] <= box[0] and region[1] <= box[1] and box[2] <= region[2] and box[3] <= region[3]


def test_each_photo_split_into_regions_gets_its_validation_and_test_region(tmp_path):
    splits = split_samples(scan_folder(make_tree(tmp_path / "d", per_class=1, size=96)),
                           TrainConfig(samples_per_class=30, region_grid=3))
    regions = held_out_regions(splits)
    assert [label for _, label in regions] == ["bands", "checks", "stripes"]
    for (photo, label), photo_regions in regions.items():
        assert set(photo_regions) == {"val", "test"}
        val, test = photo_regions["val"], photo_regions["test"]
        assert min(val[2], test[2]) <= max(val[0], test[0]) or min(val[3], test[3]) <= max(val[1], test[1])  # apart
        for split, region in photo_regions.items():
            boxes = [s.box for s in splits[split] if s.path == photo]
            assert boxes and all(_inside(box, region) for box in boxes)
    figure = plot_held_out_regions(splits, tmp_path / "regions.jpg")
    assert figure == tmp_path / "regions.jpg" and Image.open(figure).size[0] > 300


def test_photos_split_whole_draw_no_regions(tmp_path):
    splits = split_samples(scan_folder(make_tree(tmp_path / "d", per_class=10)), TrainConfig())
    assert held_out_regions(splits) == {}
    assert plot_held_out_regions(splits, tmp_path / "regions.jpg") is None
    assert not (tmp_path / "regions.jpg").exists()


def test_training_on_one_photo_a_class_reports_where_its_regions_lie(tmp_path):
    from sasirangan.cli import main

    data = make_tree(tmp_path / "data", per_class=1, size=96)
    assert main(["train", str(data), "--out", str(tmp_path / "model"), "--image-size", "32", "--weights", "none",
                 "--head-epochs", "1", "--fine-tune-epochs", "0", "--samples-per-class", "12", "--batch-size", "8",
                 "--quiet"]) == 0
    evaluation = tmp_path / "model" / "evaluation"
    report = (evaluation / "report.md").read_text()
    assert "## Where the held-out regions lie" in report and "![held-out regions](held_out_regions.jpg)" in report
    assert Image.open(evaluation / "held_out_regions.jpg").format == "JPEG"
