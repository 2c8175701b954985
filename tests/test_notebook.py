"""The notebook calls the library and runs top to bottom; catch it drifting from the library's names."""

import ast
import importlib
import json
import os
import re
import sys
from pathlib import Path

import pytest
from conftest import make_tree

from sasirangan.card import CARD_FILE, MODEL_FILE
from sasirangan.colab import NOTEBOOK_URL, REPOSITORY_URL

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "train_your_own.ipynb"
# The toy size CI runs the notebook at: tiny pictures, random weights, one epoch, the whole picture only.
TOY_SETTINGS = {"image_size": 32, "weights": "none", "head_epochs": 1, "crop_passes": 1, "views_grid": 0,
                "batch_size": 8}


def code_cells(notebook: dict) -> list[str]:
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


def test_notebook_code_parses_and_imports_exist():
    for source in code_cells(json.loads(NOTEBOOK.read_text())):
        source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("sasirangan"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"


def test_notebook_trains_on_the_split_it_shows():
    calls = [node for source in code_cells(json.loads(NOTEBOOK.read_text())) for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "train"]
    assert calls and all(any(k.arg == "splits" for k in call.keywords) for call in calls)


def test_notebook_has_one_parameters_cell_first():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    tagged = [i for i, cell in enumerate(cells) if "parameters" in cell["metadata"].get("tags", [])]
    assert len(tagged) == 1
    assert all(cell["cell_type"] == "markdown" for cell in cells[:tagged[0]])
    assert all(not cell.get("outputs") and not cell.get("execution_count") for cell in cells), "clear the outputs"


def test_repository_url_is_the_same_everywhere():
    badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({NOTEBOOK_URL})"
    readme = (ROOT / "README.md").read_text()
    assert readme.count(badge) >= 2, "the README shows the Colab badge at the top and by the notebook's section"
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    assert badge in "".join(cells[0]["source"])
    installs = re.findall(r"git\+(https://[^\"' ]+)", "".join(source for source in code_cells({"cells": cells})))
    assert installs == [REPOSITORY_URL]
    urls = re.search(r"^\[project\.urls\]\n(?:.*\n)*?Repository = \"([^\"]+)\"", (ROOT / "pyproject.toml").read_text(),
                     re.MULTILINE)
    assert urls and urls.group(1) == REPOSITORY_URL


def kernel_of_this_python(folder: Path) -> str:
    """A Jupyter kernel that runs this interpreter (the venv's, activated or not); returns its name."""
    name = "sasirangan-test"
    spec = folder / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "sasirangan tests", "language": "python",
        "env": {"KERAS_HOME": os.environ["KERAS_HOME"]},  # conftest's offline cache
    }))
    return name


def test_notebook_runs_top_to_bottom_at_toy_size(tmp_path, monkeypatch):
    """CI runs every cell (papermill) on generated pictures; any failing cell fails the test."""
    import papermill

    from sasirangan.card import ModelCard
    from sasirangan.config import TrainConfig
    from sasirangan.data import scan_folder, split_samples

    data = make_tree(tmp_path / "data", per_class=10, size=40)
    model_dir = tmp_path / "model"
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    kernel = kernel_of_this_python(tmp_path / "jupyter")

    executed = papermill.execute_notebook(
        str(NOTEBOOK), str(tmp_path / "executed.ipynb"), kernel_name=kernel, cwd=str(tmp_path),
        parameters={"PHOTOS": "folder", "DATA_DIR": str(data), "MODEL_DIR": str(model_dir),
                    "TRAIN_SETTINGS": TOY_SETTINGS, "SHARE_APP": False},
        progress_bar=False, execution_timeout=300)  # raises PapermillExecutionError if a cell fails

    assert (model_dir / MODEL_FILE).is_file()
    card = json.loads((model_dir / CARD_FILE).read_text())
    trained = {name: {(os.path.realpath(s.path), s.label) for s in ModelCard.from_dict(card).samples(name, model_dir)}
               for name in ("train", "val", "test")}
    expected = split_samples(scan_folder(data), TrainConfig(**TOY_SETTINGS).check())
    assert trained == {name: {(os.path.realpath(s.path), s.label) for s in samples} for name, samples in expected.items()}
    # ... and the table the notebook showed is that split.
    shown = "".join(text for cell in executed["cells"] for output in cell.get("outputs", [])
                    for text in output.get("data", {}).get("text/markdown", []))
    for label in ("stripes", "bands", "checks"):
        counts = [sum(item[1] == label for item in card["split"][name]) for name in ("train", "val", "test")]
        assert f"| {label} | {' | '.join(map(str, counts))} |" in shown


def test_notebook_run_fails_when_a_cell_fails(tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    kernel = kernel_of_this_python(tmp_path / "jupyter")
    with pytest.raises(papermill.PapermillExecutionError, match="PHOTOS must be"):
        papermill.execute_notebook(str(NOTEBOOK), str(tmp_path / "executed.ipynb"), kernel_name=kernel,
                                   cwd=str(tmp_path), parameters={"PHOTOS": "postcard", "SHARE_APP": False},
                                   progress_bar=False, execution_timeout=120)
