"""Progress bars for long steps: drawn when asked (a terminal, a notebook), silent otherwise."""

from conftest import make_tree
from sasirangan.data import scan_folder
from sasirangan.progress import progress


def test_a_bar_says_what_it_is_doing_and_passes_every_item_through(capsys):
    assert list(progress(iter(range(5)), 5, "Crop features (train)", "batch")) == list(range(5))
    assert "Crop features (train)" in capsys.readouterr().err
    assert list(progress(range(5), 5, "Quiet", enabled=False)) == list(range(5))
    assert capsys.readouterr().err == ""


def test_scanning_shows_a_bar_only_when_asked(tmp_path, capsys):
    data = make_tree(tmp_path / "data", per_class=3, size=32)
    quiet = scan_folder(data)
    assert capsys.readouterr().err == ""
    shown = scan_folder(data, show_progress=True)
    err = capsys.readouterr().err
    assert "Scanning" in err and "/9 " in err  # the bar knows how many files there are
    assert [s.path for s in shown.samples] == [s.path for s in quiet.samples]
