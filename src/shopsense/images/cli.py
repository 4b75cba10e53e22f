"""`shopsense images ...`: load photos, train the classifier, classify, find look-alikes and
check the catalogue. A thin layer over `shopsense.images.workflows`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shopsense.cli_common import (
    ModelsOpt,
    StoreOpt,
    console,
    fail,
    print_frame,
    settings,
    working,
)

app = typer.Typer(
    help="Product photos: categories, look-alikes, catalogue checks.", no_args_is_help=True
)

NameOpt = Annotated[str | None, typer.Option("--name", help="model name under images/")]


def _params(pairs: list[str]) -> dict[str, object]:
    """`epochs=15`, `widths=32,64,128` -> typed values."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ValueError(f"--param {pair!r} is not key=value")
        key = key.strip().replace("-", "_")
        if "," in raw:
            out[key] = [int(v) for v in raw.split(",")]
        elif raw.lower() in ("true", "false"):
            out[key] = raw.lower() == "true"
        else:
            try:
                out[key] = int(raw)
            except ValueError:
                try:
                    out[key] = float(raw)
                except ValueError:
                    out[key] = raw
    return out


def _problems(problems: list | tuple) -> None:
    for p in problems[:20]:
        console.print(f"[yellow]skipped[/] {p}", highlight=False)
    if len(problems) > 20:
        console.print(f"[yellow]... and {len(problems) - 20} more unreadable images[/]")


@app.command("load")
def load(
    folder: Annotated[Path, typer.Argument(help="folder of PNG/JPEG photos")],
    labels: Annotated[
        str, typer.Option(help="'folders': the parent folder names the category; 'none'")
    ] = "folders",
    store: StoreOpt = None,
) -> None:
    """Add a folder of photos to the store's images table (unreadable files are listed)."""
    from shopsense.images.workflows import load_folder

    try:
        report, problems = load_folder(settings(store), folder, labels=labels)
    except (FileNotFoundError, ValueError) as e:
        raise fail(str(e)) from None
    _problems(problems)
    console.print(report.summary())


@app.command("train")
def train(
    name: Annotated[str, typer.Option(help="model name under images/")] = "classifier",
    param: Annotated[list[str], typer.Option("--param", "-p", help="key=value")] = [],  # noqa: B006
    test_size: Annotated[float, typer.Option(min=0.01, max=0.5)] = 0.1,
    search: Annotated[bool, typer.Option(help="build the visual search index")] = True,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Train the CNN on the store's labelled photos; save a version and a report."""
    from shopsense.images import workflows

    try:
        run = workflows.train(
            settings(store, models_dir),
            name=name,
            params=_params(param),
            test_size=test_size,
            search=search,
        )
    except (FileNotFoundError, ValueError) as e:
        raise fail(str(e)) from None
    _problems(run.problems)
    r = run.report
    console.print(
        f"saved {run.version.task}/{run.version.name}/{run.version.version}: test accuracy "
        f"{r['accuracy']:.4f}, macro F1 {r['macro_f1']:.4f}"
        + (f", search precision@10 {r['search_precision_at_10']:.3f}" if search else "")
    )
    for cls, acc in r["per_class_accuracy"].items():
        console.print(f"  {cls:<14} {acc:.3f}", highlight=False)
    console.print(f"report: {run.report_dir}")


@app.command("classify")
def classify(
    files: Annotated[list[Path], typer.Argument(help="photo files")],
    name: NameOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """The category of each photo, with its probability."""
    from shopsense.images import workflows

    try:
        frame, problems, version = workflows.classify(settings(None, models_dir), files, name=name)
    except (FileNotFoundError, ValueError) as e:
        raise fail(str(e)) from None
    _problems(problems)
    if len(frame):
        print_frame(frame, title=f"{version.name}/{version.version}", decimals={"confidence": 3})
    if problems and not len(frame):
        raise typer.Exit(1)


@app.command("similar")
def similar(
    item: Annotated[str | None, typer.Option("--item", help="item id in the catalogue")] = None,
    image: Annotated[Path | None, typer.Option("--image", help="a photo file")] = None,
    k: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    name: NameOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Catalogue photos that look like an item's photo or a photo file."""
    from shopsense.images import workflows
    from shopsense.images.io import ImageError

    try:
        frame, version = workflows.similar(
            settings(None, models_dir), item_id=item, file=image, k=k, name=name
        )
    except (FileNotFoundError, ValueError, KeyError, ImageError) as e:
        raise fail(str(e).strip('"')) from None
    print_frame(
        frame,
        title=f"like {item or image} ({version.name}/{version.version})",
        decimals={"similarity": 3},
    )


@app.command("check")
def check(
    min_confidence: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.9,
    top: Annotated[int, typer.Option(min=1)] = 20,
    name: NameOpt = None,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Flag items whose photo the classifier confidently puts in another category."""
    from shopsense.images import workflows

    try:
        with working("classifying every item's photo"):
            run = workflows.check(
                settings(store, models_dir), name=name, min_confidence=min_confidence
            )
    except (FileNotFoundError, ValueError) as e:
        raise fail(str(e)) from None
    console.print(f"{len(run.flags):,} of {run.checked:,} items flagged; all in {run.path}")
    if len(run.flags):
        print_frame(run.flags.head(top), decimals={"confidence": 3, "listed_probability": 3})
