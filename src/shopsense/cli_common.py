"""What every `shopsense` sub-command shares: consoles, common options, settings, errors
and tables. Each pillar's commands live beside its code (`shopsense.pricing.cli`, ...) and
import these, so the top-level `shopsense.cli` only mounts them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:  # pandas and pydantic load when a command runs, not for --help
    import pandas as pd

    from shopsense.config import Settings

console = Console()
err = Console(stderr=True)

StoreOpt = Annotated[
    Path | None, typer.Option("--store", help="DuckDB store file [env SHOPSENSE_STORE_PATH]")
]
KOpt = Annotated[int, typer.Option(min=1, max=1000, help="how many items")]
ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="saved model name; default: latest trained")
]
ModelsOpt = Annotated[
    Path | None, typer.Option("--models-dir", help="model registry [env SHOPSENSE_MODELS_DIR]")
]


def settings(store: Path | None = None, models_dir: Path | None = None) -> Settings:
    """The environment's settings with the command line's --store / --models-dir on top."""
    from shopsense.config import Settings

    overrides = {}
    if store is not None:
        overrides["store_path"] = store
    if models_dir is not None:
        overrides["models_dir"] = models_dir
    return Settings(**overrides)


def fail(message: str) -> typer.Exit:
    """Print `message` as an error and return the exit to raise (status 1, no traceback)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=1)


_DECIMALS = {"price": 2, "fit_s": 1, "train_s": 1, "share": 3, "revenue": 3, "recency_d": 1}
_DECIMALS |= {"orders": 1, "spend": 2, "p_purchase_30d": 3, "p_churn_90d": 3, "value_90d": 2}
_DECIMALS |= {"recency_days": 1, "frequency": 0, "monetary": 2, "score": 3}
_TEXT_COLUMNS = {"title", "why", "params", "name", "invoice"}


def print_frame(
    frame: pd.DataFrame, title: str | None = None, decimals: dict[str, int] | None = None
) -> None:
    """Print a frame as a table: floats rounded per column (`decimals` adds to the defaults),
    free text folds, ids and numbers keep their width and headers stay whole.

    A table wider than the terminal (80 columns, say) is printed as several tables of the
    columns that fit side by side, each repeating the first column, so every value and
    header can be read without a wider window."""
    import pandas as pd

    places = _DECIMALS | (decimals or {})
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for col, v in zip(frame.columns, row, strict=True):
            if v is None or (isinstance(v, float) and pd.isna(v)):
                cells.append("")
            elif isinstance(v, float):
                cells.append(f"{v:.{places.get(col, 4)}f}")
            else:
                cells.append(str(v))
        rows.append(cells)
    names = [str(c) for c in frame.columns]
    widths = [_column_width(name, [r[i] for r in rows]) for i, name in enumerate(names)]
    groups = _column_groups(widths, console.width)
    for n, group in enumerate(groups, start=1):
        part = title if len(groups) == 1 or title is None else f"{title} ({n}/{len(groups)})"
        _print_table(part, [names[i] for i in group], [[r[i] for i in group] for r in rows])


#: the narrowest a free-text column gets before it folds, and the most room it asks for
_TEXT_MIN, _TEXT_MAX = 16, 40
#: what a column costs beside its text: a border and a space either side
_COLUMN_EDGES = 3


def _column_width(name: str, cells: list[str]) -> int:
    """Room a column needs: free text folds down to `_TEXT_MIN`; anything else needs its
    longest value or its header, whichever is longer."""
    longest = max((len(c) for c in cells), default=0)
    if name in _TEXT_COLUMNS:
        return max(min(longest, _TEXT_MIN), min(len(name), _TEXT_MAX))
    return max(longest, len(name))


def _column_groups(widths: list[int], room: int) -> list[list[int]]:
    """Column indices in groups that each fit in `room` characters, the first column in
    every group (it names the row). One group when everything fits."""
    total = sum(w + _COLUMN_EDGES for w in widths) + 1
    if total <= room or len(widths) <= 1:
        return [list(range(len(widths)))]
    key = widths[0] + _COLUMN_EDGES + 1
    groups: list[list[int]] = []
    current, used = [0], key
    for i in range(1, len(widths)):
        need = widths[i] + _COLUMN_EDGES
        if len(current) > 1 and used + need > room:
            groups.append(current)
            current, used = [0], key
        current.append(i)
        used += need
    groups.append(current)
    return groups


def _print_table(title: str | None, names: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for i, name in enumerate(names):
        text = name in _TEXT_COLUMNS
        table.add_column(
            name,
            overflow="fold",
            no_wrap=not text,
            justify="left" if text else "right",
            min_width=_column_width(name, [r[i] for r in rows]),
            max_width=None if text else max(_column_width(name, [r[i] for r in rows]), 1),
        )
    for cells in rows:
        table.add_row(*cells)
    console.print(table)


@contextmanager
def working(what: str) -> Iterator[None]:
    """A spinner and the time spent on stderr while a long step runs, for steps that have
    no progress bar of their own; stdout keeps only the results (for pipes), and nothing is
    drawn when stderr is not a terminal."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        progress.add_task(what, total=None)
        yield
