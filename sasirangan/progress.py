"""Progress bars for the steps that take minutes (scanning, features, evaluation), not only epochs.

tqdm's `auto` flavour draws a widget in Jupyter and Colab and a text bar on a terminal. Callers
turn bars on only where a person watches (the CLI on a terminal, the notebook): logs, CI and
`--quiet` runs get their one-line summaries instead.
"""

from __future__ import annotations


def progress(iterable=None, total: int | None = None, what: str = "", unit: str = "picture", enabled: bool = True):
    """`iterable` wrapped in a bar that says `what` it is doing (a plain pass-through when not enabled)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=what, unit=unit, leave=False, disable=not enabled, dynamic_ncols=True)


def watched() -> bool:
    """Whether a person is likely watching: a terminal, or a Jupyter/Colab kernel."""
    import sys

    return sys.stderr.isatty() or "ipykernel" in sys.modules
