"""`shopsense reviews ...`: load review corpora, train sentiment, score texts, summarise a
product's aspects, draft replies and answer questions with sources."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from shopsense.cli_common import (
    ModelsOpt,
    StoreOpt,
    console,
    fail,
    print_frame,
    settings,
    working,
)

app = typer.Typer(help="Reviews and customer questions.", no_args_is_help=True)


@app.command("load")
def load_cmd(
    source: Annotated[str, typer.Argument(help="e.g. womens-ecommerce-clothing-reviews")],
    root: Annotated[Path | None, typer.Option(help="folder of the data sets")] = None,
    store: StoreOpt = None,
) -> None:
    """Load a public review or Q&A data set into the store."""
    from shopsense.reviews import workflows

    try:
        with working(f"reading {source}"):
            reports = workflows.load(settings(store), source, root)
    except (KeyError, FileNotFoundError, ValueError) as e:
        raise fail(str(e)) from None
    for report in reports:
        console.print(report.summary())


@app.command("train")
def train_cmd(
    language: Annotated[str | None, typer.Option(help="en or zh; default: most reviews")] = None,
    kind: Annotated[str, typer.Option(help="tfidf, bilstm, textcnn or minilm")] = "tfidf",
    param: Annotated[list[str] | None, typer.Option(help="name=value, e.g. epochs=5")] = None,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Train a sentiment model on the store's reviews (published split) and save it."""
    from shopsense.reviews import workflows

    params = {}
    for item in param or []:
        name, _, value = item.partition("=")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    # the neural kinds show the trainer's bar of epochs; the others a spinner while they fit
    busy = working(f"training {kind} sentiment") if kind in ("tfidf", "minilm") else nullcontext()
    try:
        with busy:
            run = workflows.train(
                settings(store, models_dir), language=language, kind=kind, params=params
            )
    except (FileNotFoundError, ValueError, TypeError) as e:
        raise fail(str(e)) from None
    m = run.metrics
    console.print(
        f"saved {run.version.task}/{run.version.name}/{run.version.version}: test accuracy "
        f"{m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f} (majority {m['majority_accuracy']:.4f})"
        f"; report {run.report_path}"
    )


@app.command("sentiment")
def sentiment_cmd(
    texts: Annotated[list[str], typer.Argument(help="texts to score")],
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Score texts: P(positive) by the model of each text's language."""
    from shopsense.reviews import workflows

    try:
        frame = workflows.score(settings(store, models_dir), texts)
    except FileNotFoundError as e:
        raise fail(str(e)) from None
    print_frame(frame, decimals={"score": 3})


@app.command("aspects")
def aspects_cmd(
    item: Annotated[str, typer.Option("--item", help="item id")],
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """What customers praise and complain about for one item, with example sentences."""
    from shopsense.reviews import workflows

    try:
        frame = workflows.item_aspects(settings(store, models_dir), item)
    except (FileNotFoundError, KeyError) as e:
        raise fail(str(e).strip("'\"")) from None
    for col in ("praised_in", "complained_in"):
        frame[col] = frame[col].map(lambda ex: " | ".join(e["sentence"] for e in ex))
    left_out = frame.attrs.get("left_out", 0)
    print_frame(frame, title=f"aspects of {item}", decimals={"praise_share": 2})
    if left_out:
        language = frame.attrs.get("language")
        console.print(f"[dim]read in {language}; {left_out} reviews in other languages left out[/]")


@app.command("reply")
def reply_cmd(
    review: Annotated[str | None, typer.Option("--review", help="stored review id")] = None,
    text: Annotated[str | None, typer.Option("--text", help="or a review's text")] = None,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Draft a reply: to a negative review, an apology naming what the customer complained
    about; to any other, a thank-you."""
    from shopsense.reviews import workflows

    try:
        draft = workflows.reply(settings(store, models_dir), review_id=review, text=text)
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise fail(str(e).strip("'\"")) from None
    about = f" to review {escape(review)}" if review else ""
    console.print(f"[bold]{draft.kind}[/]{about} - aspects: {', '.join(draft.aspects) or '-'}")
    console.print(draft.text, highlight=False)


@app.command("ask")
def ask_cmd(
    question: Annotated[str, typer.Argument(help="the customer's question")],
    item: Annotated[str, typer.Option("--item", help="item id")],
    k: Annotated[int, typer.Option(min=1, max=50, help="passages to show")] = 5,
    method: Annotated[str, typer.Option(help="bm25, embedding or hybrid")] = "embedding",
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Answer a question about an item from its Q&A history, reviews and description."""
    from shopsense.reviews import workflows

    try:
        frame = workflows.ask(settings(store, models_dir), question, item, k=k, method=method)
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise fail(str(e).strip("'\"")) from None
    print_frame(frame[["rank", "source", "source_id", "text"]], title=question)


@app.command("index")
def index_cmd(store: StoreOpt = None, models_dir: ModelsOpt = None) -> None:
    """Embed the store's Q&A, reviews and descriptions for question answering now, so the
    service's first question does not wait for it (rerun after loading new reviews: only
    new passages are embedded)."""
    from shopsense.reviews import workflows

    try:
        out = workflows.index_passages(settings(store, models_dir))
    except (FileNotFoundError, ValueError) as e:
        raise fail(str(e)) from None
    console.print(f"{out['passages']:,} passages indexed ({out['embedded']:,} embedded now)")
