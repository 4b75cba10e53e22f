"""What every `shopsense` sub-command shares: consoles, common options, settings, errors
and tables. Each pillar's commands live beside its code (`shopsense.pricing.cli`, ...) and
import these, so the top-level `shopsense.cli` only mounts them."""

from __future__ import annotations

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
    free text folds on a narrow terminal, ids and numbers keep their width."""
    import pandas as pd
    from rich.table import Table

    places = _DECIMALS | (decimals or {})
    table = Table(title=title, show_lines=False)
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
    for i, col in enumerate(frame.columns):
        text = col in _TEXT_COLUMNS
        longest = max((len(r[i]) for r in rows), default=0)
        # On a narrow terminal only free text folds; ids and numbers keep their width
        # (up to a cap) so a name is never squeezed to three letters.
        table.add_column(
            str(col),
            overflow="fold",
            no_wrap=not text,
            justify="left" if text else "right",
            min_width=min(longest, 12 if text else 24),
        )
    for cells in rows:
        table.add_row(*cells)
    console.print(table)
