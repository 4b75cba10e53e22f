"""`shopsense` command line: a thin layer over `shopsense.workflows` and the store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from shopsense.cli_common import (
    KOpt,
    ModelOpt,
    ModelsOpt,
    StoreOpt,
    console,
    err,
    working,
)
from shopsense.cli_common import fail as _fail
from shopsense.cli_common import print_frame as _print_frame
from shopsense.cli_common import settings as _settings
from shopsense.images.cli import app as images_app
from shopsense.pricing.cli import app as pricing_app
from shopsense.reviews.cli import app as reviews_app

app = typer.Typer(
    help="Deep learning on an online shop's own data.", no_args_is_help=True, add_completion=False
)
data_app = typer.Typer(help="Load data sets and inspect the store.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(images_app, name="images")
app.add_typer(reviews_app, name="reviews")
app.add_typer(pricing_app, name="pricing")


# --------------------------------------------------------------------------- data
@app.command()
def ingest(
    table: Annotated[str, typer.Argument(help="events, items, users, orders, order_lines, ...")],
    file: Annotated[Path, typer.Argument(help="CSV/TSV/Parquet/JSONL file, optionally .gz")],
    mapping: Annotated[
        Path | None,
        typer.Option(help="TOML file mapping the file's columns and conventions (docs/data.md)"),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(help="schema_column=file_column (repeat; over the mapping file)"),
    ] = None,
    set_value: Annotated[
        list[str] | None,
        typer.Option("--set", help="column=value for every row, e.g. currency=SEK (repeat)"),
    ] = None,
    time_format: Annotated[
        str | None, typer.Option(help="strftime pattern of the times, e.g. '%d/%m/%Y %H:%M'")
    ] = None,
    time_zone: Annotated[
        str | None, typer.Option(help="the shop's time zone, e.g. Europe/Stockholm")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show the first mapped rows and counts; write nothing")
    ] = False,
    reject_file: Annotated[
        Path | None,
        typer.Option(help="write bad rows here (with line and reason) and load the rest"),
    ] = None,
    format: Annotated[str | None, typer.Option(help="csv, tsv, parquet or jsonl")] = None,
    store: StoreOpt = None,
) -> None:
    """Load a file into a table of the store: all rows, or none if any row is bad.

    A mapping (file or options) turns a shop's own export into the schema; every load ends
    with a data-quality report.
    """
    from shopsense.data.ingest import IngestError
    from shopsense.data.mapping import Mapping, MappingError
    from shopsense.data.store import Store, StoreLocked

    settings = _settings(store)
    try:
        rules = Mapping.from_file(mapping) if mapping is not None else Mapping()
        rules = rules.merged(Mapping.from_options(column, set_value, time_format, time_zone))
        if dry_run:
            _dry_run(settings, table, file, rules, format)
            return
        with Store(settings.store_path) as s:
            report = s.ingest(table, file, reject_path=reject_file, format=format, mapping=rules)
    except IngestError as e:
        raise _fail(f"{e}\nnothing was loaded; the store is unchanged") from None
    except StoreLocked as e:
        raise _fail(f"{e}\nnothing was loaded") from None
    except (FileNotFoundError, KeyError, ValueError, MappingError) as e:
        raise _fail(str(e)) from None
    console.print(
        f"{report.table}: read {report.rows_read:,} rows from {report.source}; "
        f"inserted {report.rows_inserted:,}, updated {report.rows_updated:,}, "
        f"skipped {report.rows_skipped_existing:,} already stored, "
        f"rejected {report.rows_rejected:,}"
    )
    if report.reject_path:
        console.print(f"bad rows written to {report.reject_path}")
    for w in report.warnings:
        err.print(f"[yellow]warning:[/] {w}")
    if report.quality is not None:
        _print_quality([report.quality])


def _dry_run(settings, table: str, file: Path, rules, format: str | None) -> None:
    """Map and check `file` as ingest would, print what it would load, write nothing."""
    from shopsense.data.orders import kind_counts, order_line_view
    from shopsense.data.store import Store

    path = settings.store_path
    store = Store(path, read_only=True) if path.exists() else Store(":memory:")
    with store as s:
        checked = s.check(table, file, format=format, mapping=rules)
        items = s.read("items", ["item_id", "kind"]) if table == "order_lines" else None
    if checked.fatal:
        raise checked.error()
    good = checked.good
    console.print(
        f"dry run, nothing written: {checked.rows_read:,} rows read from {checked.source}, "
        f"{len(good):,} would load into {table}, {len(checked.bad):,} have problems"
    )
    _print_frame(good.head(5).astype(str), title=f"first mapped rows of {table}")
    if table == "order_lines" and len(good):
        catalogue = items if items is not None and len(items) else None
        counts = kind_counts(order_line_view(good, catalogue, source=checked.source))
        _print_frame(counts, title="lines per line type and item kind")
    for name in ("kind", "event_type", "language"):
        if name in good.columns and len(good):
            values = good[name].fillna("(empty)").value_counts().rename("rows").reset_index()
            _print_frame(values, title=f"rows per {name}")
    for problem in checked.problems[:10]:
        err.print(f"[red]problem:[/] {problem}")


def _print_quality(reports) -> None:
    for report in reports:
        lines = report.lines()
        console.print(f"[bold]data quality[/] {lines[0]}")
        for line in lines[1:]:
            style = "yellow" if "warning:" in line else "dim"
            console.print(f"[{style}]{line}[/]")


@data_app.command("quality")
def data_quality(
    table: Annotated[str | None, typer.Argument(help="one table; default: every table")] = None,
    history: Annotated[bool, typer.Option(help="every past ingest, not only the latest")] = False,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The data-quality report of the latest ingest of each table (or of every ingest)."""
    from shopsense.data.store import Store

    settings = _settings(store)
    if not settings.store_path.exists():
        raise _fail(f"no store at {settings.store_path}; load data first")
    with Store(settings.store_path, read_only=True) as s:
        reports = s.quality_reports(table, latest=not history)
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in reports], default=str))
    elif not reports:
        console.print("no ingest recorded yet")
    else:
        _print_quality(reports)


@data_app.command("stats")
def data_stats(
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Rows, users, items, time range, density, duplicates and nulls of every table."""
    from shopsense.data.store import Store

    settings = _settings(store)
    if not settings.store_path.exists():
        raise _fail(
            f"no store at {settings.store_path}; load data first (shopsense data load sample)"
        )
    with Store(settings.store_path, read_only=True) as s:
        stats = s.stats()
    if as_json:
        console.print_json(json.dumps(stats.to_dict(), default=str))
    else:
        console.print(stats.render())


@data_app.command("load")
def data_load(
    source: Annotated[
        str,
        typer.Argument(
            help="sample, uci-online-retail, amazon-beauty-seq, movielens-100k, diginetica-sample"
        ),
    ],
    root: Annotated[Path | None, typer.Option(help="folder holding the public data sets")] = None,
    store: StoreOpt = None,
) -> None:
    """Map a public data set (or the bundled sample) into the schema and load it."""
    from shopsense.data.sources import load_sample, load_source
    from shopsense.data.store import Store, StoreLocked

    settings = _settings(store)
    try:
        with working(f"reading {source}"):
            data = (
                load_sample()
                if source == "sample"
                else load_source(source, root or settings.data_root)
            )
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise _fail(str(e)) from None
    for note in data.notes:
        console.print(f"[dim]- {note}[/]")
    try:
        s = Store(settings.store_path)
    except StoreLocked as e:
        raise _fail(f"{e}\nnothing was loaded") from None
    with s:
        for table, frame in data.tables.items():
            report = s.write_frame(table, frame, source=data.name)
            console.print(
                f"{table}: {report.rows_inserted:,} inserted, {report.rows_updated:,} updated, "
                f"{report.rows_skipped_existing:,} already stored"
            )


# --------------------------------------------------------------------------- models
@app.command()
def train(
    model: Annotated[
        str, typer.Option("--model", "-m", help="model name, e.g. ease, itemknn, als")
    ],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE, repeatable")
    ] = None,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
    checkpoint_dir: Annotated[
        Path | None,
        typer.Option(help="neural models: write a checkpoint here after every epoch"),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="neural models: continue from the checkpoint in --checkpoint-dir")
    ] = False,
) -> None:
    """Fit a model on every event in the store and save it as a new version.

    Neural models (sasrec, gru4rec, ...) stop early on each customer's last event and show
    a progress bar; a killed run continues with --checkpoint-dir DIR --resume.
    """
    from shopsense import workflows
    from shopsense.recommend import MODELS
    from shopsense.recommend.neural import NeuralRecommender

    settings = _settings(store, models_dir)
    neural = issubclass(MODELS.get(model, object), NeuralRecommender)
    try:
        params = workflows.parse_params(model, param or [])
        if neural:  # the trainer's own progress bar shows epochs, loss and validation
            version = workflows.train(
                settings, model, params, checkpoint_dir=checkpoint_dir, resume=resume
            )
        else:
            with working(f"training {model} on the store's events"):
                version = workflows.train(
                    settings, model, params, checkpoint_dir=checkpoint_dir, resume=resume
                )
    except (ValueError, FileNotFoundError) as e:
        raise _fail(str(e)) from None
    d = version.meta.get("data", {})
    console.print(
        f"trained [bold]{version.name}[/] {version.version} on {d.get('events', 0):,} events "
        f"({d.get('users', 0):,} users × {d.get('items', 0):,} items) "
        f"in {d.get('train_s', 0):.1f}s "
        f"-> {version.path}"
    )
    if d.get("training", {}).get("best_metric") is not None:
        t = d["training"]
        console.print(
            f"{t['epochs']} epochs ({t['seconds_per_epoch']:.1f}s each), best validation "
            f"NDCG@10 {t['best_metric']:.4f} at epoch {t['best_epoch']}"
            + (" — stopped early" if t["stopped_early"] else "")
        )


@app.command("evaluate")
def evaluate_cmd(
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="model(s) to compare; default: all")
    ] = None,
    protocol: Annotated[
        str, typer.Option(help="leave_last_out, temporal or random")
    ] = "leave_last_out",
    k: Annotated[int, typer.Option(help="cut-off of the ranking metrics")] = 10,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="MODEL.NAME=VALUE, repeatable")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Compare models on held-out events (full ranking); writes a report to reports/."""
    from shopsense import workflows
    from shopsense.recommend import MODELS

    settings = _settings(store)
    names = model or list(MODELS)
    params: dict[str, dict] = {}
    try:
        for p in param or []:
            name, dot, rest = p.partition(".")
            if not dot or name not in names:
                raise ValueError(f"bad --param {p!r}: expected MODEL.NAME=VALUE for one of {names}")
            params.setdefault(name, {}).update(workflows.parse_params(name, [rest]))
        run = workflows.evaluate_models(settings, names, protocol=protocol, k=k, params=params)
    except (ValueError, FileNotFoundError) as e:
        raise _fail(str(e)) from None
    s = run.split
    console.print(
        f"{protocol}: {s['users']:,} users × {s['items']:,} items; train {s['train_events']:,}, "
        f"validation {s['validation_events']:,}, test {s['test_events']:,} events; full ranking"
    )
    frame = run.table()
    cols = [
        "model",
        "stage",
        "users",
        f"hr@{k}",
        f"ndcg@{k}",
        f"recall@{k}",
        "recall@20",
        f"mrr@{k}",
        f"coverage@{k}",
        "fit_s",
    ]
    frame = frame[[c for c in cols if c in frame]]
    for stage in ("validation", "test"):
        part = frame[frame["stage"] == stage].drop(columns="stage")
        if len(part):
            _print_frame(part.sort_values(f"ndcg@{k}", ascending=False), title=f"{stage} (k={k})")
    if run.path:
        console.print(f"report written to {run.path}")


@app.command()
def recommend(
    user_id: Annotated[str, typer.Argument(help="the customer's id")],
    k: KOpt = 10,
    model: ModelOpt = None,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Top-k items for a customer, with titles, prices and why."""
    from shopsense import workflows

    settings = _settings(store, models_dir)
    try:
        table, note = workflows.recommend_for_user(settings, user_id, k=k, model_name=model)
    except (ValueError, FileNotFoundError) as e:
        raise _fail(str(e)) from None
    _print_frame(table, title=f"recommendations for {user_id} ({note})")


@app.command()
def similar(
    item_id: Annotated[str, typer.Argument(help="the item's id")],
    k: KOpt = 10,
    model: ModelOpt = None,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Items most similar to an item, according to a trained model."""
    from shopsense import workflows

    settings = _settings(store, models_dir)
    try:
        table = workflows.similar_to_item(settings, item_id, k=k, model_name=model)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise _fail(str(e).strip("'\"")) from None
    _print_frame(table, title=f"items similar to {item_id}")


@app.command()
def explain(
    user_id: Annotated[str, typer.Argument(help="the customer's id")],
    item_id: Annotated[str, typer.Argument(help="the item's id")],
    model: ModelOpt = None,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Why a model would recommend an item to a customer, in terms of their own items."""
    from shopsense import workflows

    settings = _settings(store, models_dir)
    try:
        why, table = workflows.explain_pair(settings, user_id, item_id, model_name=model)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise _fail(str(e).strip("'\"")) from None
    console.print(f"score {why.score:.4f}: {why.text(table['title'].dropna().to_dict())}")
    if len(table) > 1:
        _print_frame(table.reset_index(), title="contributions of the customer's items")


TaskOpt = Annotated[
    str | None,
    typer.Option(
        "--task",
        help="recommend, behavior, pricing, images or reviews (default: the task that has a "
        "model of this name; recommend when several do)",
    ),
]


@app.command()
def models(
    models_dir: ModelsOpt = None,
    task: Annotated[
        str | None, typer.Option("--task", help="only this task's models, e.g. behavior")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="a running service, e.g. http://127.0.0.1:8000: show what it serves"),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            envvar="SHOPSENSE_READ_KEY",
            show_envvar=True,
            help="key sent to --url (default: the first of SHOPSENSE_READ_KEYS, then "
            "SHOPSENSE_API_KEYS)",
        ),
    ] = None,
) -> None:
    """List every task's saved models and versions: which is active (serves after a
    restart), which is the newest, and with --url which one a running service serves now."""
    from shopsense.registry import Registry

    settings = _settings(models_dir=models_dir)
    registry = Registry(settings.models_dir)
    tasks = [task] if task else sorted(registry.tasks(), key=lambda t: t != "recommend")
    versions = [v for t in tasks for v in registry.versions(t)]
    if not versions:
        console.print(f"no {task + ' ' if task else ''}models under {settings.models_dir}")
        return
    newest = {(v.task, v.name): v.version for v in versions}  # oldest first: the last wins
    active = {}
    for task_name in newest:
        try:
            active[task_name] = registry.active(*task_name).version
        except FileNotFoundError as e:  # active.json names a deleted version
            err.print(f"[yellow]warning:[/] {e}", highlight=False)
    serving = _serving(url, key or _first_key(settings)) if url else None
    rows = []
    for v in versions:
        row = {"name": v.name, "version": v.version, "task": v.task}
        if serving is not None:
            row["serving"] = "*" if serving.get((v.task, v.name)) == v.version else ""
        row |= {
            "active": "*" if active.get((v.task, v.name)) == v.version else "",
            "newest": "*" if newest[(v.task, v.name)] == v.version else "",
            "created": v.meta.get("created_at", ""),
            "events": v.meta.get("data", {}).get("events", ""),
            "train_s": v.meta.get("data", {}).get("train_s", ""),
            "onnx": _exported(v.meta),
            "params": json.dumps(v.meta.get("params", {})),
        }
        rows.append(row)
    import pandas as pd

    _print_frame(pd.DataFrame(rows), title=f"models in {settings.models_dir}")
    if serving is None:
        console.print("[dim]active: serves after a restart; --url URL shows what serves now[/]")


def _checked_on(report: dict) -> str:
    """What an export's check read, e.g. "1000 users" or "512 photos"."""
    if "checked_images" in report:
        return f"{report['checked_images']} photos"
    return f"{report.get('checked_users', 0)} users"


def _exported(meta: dict) -> str:
    """The exported precisions whose parity check passed, e.g. "fp32+int8" ("" if none)."""
    checks = meta.get("export", {}).get("precisions", {})  # only passed files are used
    return "+".join(p for p, check in checks.items() if check.get("passed"))


def _first_key(settings) -> str | None:
    """The key to read a service with: a read key, else an API key, else none."""
    keys = [*settings.read_keys, *settings.api_keys]
    return keys[0].get_secret_value() if keys else None


def _serving(url: str, key: str | None = None) -> dict[tuple[str, str], str]:
    """(task, name) -> the version a running service answers with (its GET /v1/models;
    a service that does not say the task lists recommenders)."""
    import httpx

    headers = {"X-API-Key": key} if key else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/v1/models", headers=headers, timeout=10)
        response.raise_for_status()
    except httpx.HTTPStatusError as e:
        refused = e.response.status_code in (401, 403)
        hint = " (give a read key: --key or SHOPSENSE_READ_KEY)" if refused else ""
        raise _fail(f"could not ask the service at {url}: {e}{hint}") from None
    except httpx.HTTPError as e:
        raise _fail(f"could not ask the service at {url}: {e}") from None
    return {
        (v.get("task", "recommend"), v["name"]): v["version"]
        for v in response.json()
        if v.get("serving")
    }


def _task_of(registry, name: str, task: str | None) -> str:
    """The task a model name belongs to: --task, else the one task with that name
    (recommend when several have it)."""
    if task:
        return task
    found = [t for t in registry.tasks() if registry.versions(t, name)]
    if len(found) == 1:
        return found[0]
    if "recommend" in found or not found:
        return "recommend"  # not found: the registry's error names the saved models
    raise _fail(f"{name} is a model of several tasks ({', '.join(found)}); choose with --task")


@app.command()
def activate(
    name: Annotated[str, typer.Argument(help="model name, e.g. ease or segments")],
    version: Annotated[str, typer.Argument(help="version, e.g. v0002")],
    task: TaskOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Make a saved version the one that serves. A running service answers with it from
    its next request for models other than recommenders; a recommender is swapped in by
    POST /v1/models/NAME/activate, or at the next start."""
    from shopsense.registry import Registry

    settings = _settings(models_dir=models_dir)
    registry = Registry(settings.models_dir)
    try:
        v = registry.activate(_task_of(registry, name, task), name, version)
    except (FileNotFoundError, ValueError) as e:
        raise _fail(str(e)) from None
    console.print(f"{v.task}/{v.name}/{v.version} is now active")


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="model name, e.g. ease or segments")],
    task: TaskOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Serve the version that was active before the current one again."""
    from shopsense.registry import Registry

    settings = _settings(models_dir=models_dir)
    registry = Registry(settings.models_dir)
    try:
        v = registry.rollback(_task_of(registry, name, task), name)
    except (FileNotFoundError, ValueError) as e:
        raise _fail(str(e)) from None
    console.print(f"rolled back: {v.task}/{v.name}/{v.version} is now active")


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="model name, e.g. sasrec")],
    version: Annotated[
        str | None, typer.Argument(help="version, e.g. v0002 (default: the newest)")
    ] = None,
    task: TaskOpt = None,
    int8: Annotated[bool, typer.Option(help="also write an int8 (quantised) file")] = True,
    models_dir: ModelsOpt = None,
) -> None:
    """Write a saved deep model's ONNX form beside its weights, checked against the model:
    it then scores with ONNX Runtime (SHOPSENSE_ONNX=off: torch). Training already does
    this; use it for versions saved before, or with SHOPSENSE_ONNX=off."""
    from shopsense.registry import Registry

    settings = _settings(models_dir=models_dir)
    registry = Registry(settings.models_dir)
    task_name = _task_of(registry, name, task)
    try:
        with console.status(f"exporting {task_name}/{name} to ONNX"):
            if task_name == "images":  # checked on the store's own photos
                from shopsense.images import workflows as images

                report = images.export(settings, name, version, int8=int8)
            else:
                report = registry.export(task_name, name, version, int8=int8)
    except (FileNotFoundError, ValueError) as e:
        raise _fail(str(e)) from None
    import pandas as pd

    rows = [{"precision": p, **check} for p, check in report["precisions"].items()]
    _print_frame(
        pd.DataFrame(rows),
        title=f"{task_name}/{name}: ONNX against torch on {_checked_on(report)}",
    )
    failed = [r["precision"] for r in rows if not r["passed"]]
    if failed:
        err.print(
            f"[yellow]warning:[/] {', '.join(failed)} missed its parity bar and will not be used"
        )


# ---------------------------------------------------------------------- behaviour
@app.command()
def segments(
    method: Annotated[
        str, typer.Option(help="autoencoder (learned embedding + clustering) or rfm (rules)")
    ] = "autoencoder",
    k: Annotated[
        int | None, typer.Option(min=2, max=50, help="segments; default: chosen by silhouette")
    ] = None,
    cutoff: Annotated[
        str | None, typer.Option(help="as of this date (YYYY-MM-DD); default: all orders")
    ] = None,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Segment the store's customers (from its order lines) and describe each segment.

    Saves the segmenter as a new version of behavior/segments and writes the profiles,
    the report and a 2-D plot of the segments to the reports folder.
    """
    from shopsense.behavior import workflows as behavior

    settings = _settings(store, models_dir)
    try:
        with working(f"segmenting customers ({method})"):
            run = behavior.segment(settings, method=method, k=k, cutoff=cutoff)
    except (ValueError, FileNotFoundError) as e:
        raise _fail(str(e)) from None
    columns = {
        "name": "name",
        "customers": "customers",
        "customer_share": "share",
        "revenue_share": "revenue",
        "recency_days_median": "recency_d",
        "frequency_median": "orders",
        "monetary_median": "spend",
    }
    shown = run.profiles[list(columns)].rename(columns=columns)
    _print_frame(shown, title=f"{len(shown)} segments ({method}); medians per customer")
    r = run.report
    stability = r.get("stability", {})
    extra = f", ARI across seeds {stability['ari_mean']:.2f}" if "ari_mean" in stability else ""
    console.print(
        f"{r.get('customers', 0):,} customers, k={r.get('k')}{extra}; "
        f"saved {run.version.name} {run.version.version}; report and plot in {run.report_dir}"
    )


@app.command()
def predict(
    target: Annotated[str, typer.Argument(help="next-purchase, churn or value")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="base_rate, logreg, gbm, gru (value: bgnbd, last_period, gbm, gru); "
            "default gbm, for value bgnbd",
        ),
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=1000, help="customers shown")] = 15,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Predict what every customer does next: buys within 30 days, churns (no purchase in
    90 days), or how much they spend in 90 days.

    Trains on rolling cut-offs over the store's order lines, saves the model as a new
    version of behavior/<target>, writes every customer's prediction to a CSV in the
    reports folder and shows the top customers.
    """
    from shopsense.behavior import workflows as behavior

    settings = _settings(store, models_dir)
    try:
        with working(f"fitting {target} on rolling cut-offs"):
            run = behavior.predict(settings, target, kind=model)
    except (ValueError, FileNotFoundError) as e:
        raise _fail(str(e)) from None
    shown = run.predictions.head(top).reset_index(names="customer")
    _print_frame(shown, title=f"{target}: top {len(shown)} of {len(run.predictions):,} customers")
    console.print(
        f"saved {run.version.name} {run.version.version} "
        f"(cut-offs {', '.join(run.version.meta['data']['cutoffs'])}); all customers in {run.path}"
    )


@app.command()
def anomalies(
    detector: Annotated[
        str, typer.Option(help="isolation_forest (fast baseline) or sequence_autoencoder (GRU)")
    ] = "isolation_forest",
    top: Annotated[int, typer.Option(min=1, max=1000, help="orders shown")] = 15,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
) -> None:
    """Flag the most unusual orders of the store's order lines, each with the features
    that made it unusual; every order's score goes to a CSV in the reports folder."""
    from shopsense.behavior import workflows as behavior

    settings = _settings(store, models_dir)
    try:
        with working(f"scoring orders with {detector}"):
            run = behavior.anomalies(settings, detector=detector, top=top)
    except (ValueError, FileNotFoundError) as e:
        raise _fail(str(e)) from None
    shown = run.flagged.reset_index(names="invoice")
    _print_frame(shown, title=f"the {len(shown)} most unusual orders ({detector})")
    console.print(f"saved {run.version.name} {run.version.version}; every order in {run.path}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address [env SHOPSENSE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="port [env SHOPSENSE_PORT]")] = None,
    store: StoreOpt = None,
    models_dir: ModelsOpt = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    access_log: Annotated[bool, typer.Option(help="log every request (path and status)")] = True,
    read_only: Annotated[
        bool | None,
        typer.Option(
            "--read-only",
            help="do not write the store (no events): serve beside the service that writes "
            "it [env SHOPSENSE_READ_ONLY]",
        ),
    ] = None,
) -> None:
    """Run the HTTP service and dashboard (OpenAPI docs at /docs). Writes need a key from
    SHOPSENSE_API_KEYS. One service writes a store; more can serve it with --read-only."""
    import uvicorn

    from shopsense.data.store import StoreLocked, WriteLock
    from shopsense.serve.app import create_app

    settings = _settings(store, models_dir)
    update = {"host": host, "port": port, "read_only": read_only}
    if any(v is not None for v in update.values()):
        settings = settings.model_copy(update={k: v for k, v in update.items() if v is not None})
    lock = None
    if not settings.read_only:  # refuse here, before uvicorn starts, when another writes
        try:
            lock = WriteLock(settings.store_path, "shopsense serve").acquire()
        except StoreLocked as e:
            raise _fail(f"{e}\nor start this one with --read-only") from None
    if not settings.api_keys:
        err.print("[yellow]no SHOPSENSE_API_KEYS set: the service is read-only[/]")
    console.print(
        f"shopsense on http://{settings.host}:{settings.port}  "
        f"(dashboard /dashboard, API docs /docs)"
    )
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            access_log=access_log,
        )
    finally:
        if lock is not None:
            lock.release()


def main() -> None:
    """The `shopsense` command. A store that another process writes is refused by every
    command that writes it with one line naming the holder, never a traceback."""
    from shopsense.data.store import StoreLocked

    try:
        app(prog_name="shopsense")
    except StoreLocked as e:
        _fail(f"{e}\nnothing was written")
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
