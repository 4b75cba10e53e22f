"""The service measured under change: `serve_load.py --part change`.

Questions (goals in brackets):
1. Reads while the data changes: p50/p99 of recommendations (p99 ≤ 20 ms), a pricing
   suggestion and two dashboard pages (p99 ≤ 100 ms) with 0 and with 8 event writers, each
   POSTing a small batch to /v1/events at a steady rate. Every write bumps the events
   table's data version, so every cache keyed by it is invalidated while reads go on.
2. Question answering, cold (the first question about an item in a fresh service) and warm
   (a new question about the same item afterwards; ≤ 50 ms).
3. Service RSS before, during (peak) and after a burst of six 6000×6000 JPEG uploads to
   the image classifier (after: back within 10 % of before).

Data: the bundled UCI Online Retail sample (events, prices), the test shop's own reviews
and questions (tests/shop) and the shipped Fashion-MNIST slice (tests/corpora), trained as
the service tests do: EASE, the review models, a small image classifier, price
elasticities and forecasts. Built once in a child process and cached under
benchmarks/.work/serve_load/change-<hash>/. The service runs exactly as in the main
benchmark (one uvicorn worker, SHOPSENSE_SERVE_THREADS=1, pinned to its own core).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from serve_load import WORK, Pinning, RawClient, Server, log

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-write-key-0123456789"
SETUP_VERSION = 2
#: goals the brief of this measurement sets (p99 in ms, RSS share)
GOALS = {"recommendations": 20.0, "pricing": 100.0, "dashboard": 100.0, "qa_warm": 50.0}
RSS_BACK_WITHIN = 0.10
#: expensive-route limits raised so the burst and the questions are measured, not refused
LIMITS_ENV = {
    "SHOPSENSE_RATE_PER_MINUTE": "6000",
    "SHOPSENSE_RATE_BURST": "100",
    "SHOPSENSE_CONCURRENT_PER_CLIENT": "8",
}


# =========================================================================== setup (cached)
def setup_dir() -> Path:
    key = json.dumps({"v": SETUP_VERSION, "kind": "change"})
    return WORK / f"change-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def ensure_setup() -> tuple[Path, dict[str, Any]]:
    """The cached shop, built in a child process (training loads torch) when missing."""
    folder = setup_dir()
    if not (folder / "setup.json").exists():
        log(f"setup: building {folder} (sample shop, EASE, reviews, images, pricing)")
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--setup"], check=True)
    else:
        log(f"setup: reusing {folder}")
    return folder, json.loads((folder / "setup.json").read_text())


def build_setup() -> None:
    """The shop the service tests serve, in a temporary folder renamed when complete."""
    sys.path.insert(0, str(ROOT))  # the test shop's reviews, questions and photo slice
    from shopsense import workflows
    from shopsense.config import Settings
    from shopsense.data.sources import load_sample, load_source
    from shopsense.data.store import Store
    from shopsense.images import workflows as images
    from shopsense.pricing import workflows as pricing
    from shopsense.reviews import workflows as reviews
    from tests import shop as test_shop
    from tests.public_data import SHIPPED

    folder = setup_dir()
    tmp = folder.with_name(folder.name + ".incoming")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    settings = Settings(
        store_path=tmp / "store.duckdb",
        models_dir=tmp / "models",
        reports_dir=tmp / "reports",
        default_model="ease",
        threads=1,
    )
    start = time.perf_counter()
    data = load_sample()
    with Store(settings.store_path) as store:
        for table, frame in data.tables.items():
            store.write_frame(table, frame, source=data.name)
        written = test_shop.reviews().drop(columns="label")
        store.write_frame("reviews", written, source="shop reviews")
        store.write_frame("questions", test_shop.questions(), source="shop questions")
        photos = load_source("fashion-mnist", SHIPPED).tables["images"].sample(600, random_state=0)
        store.write_frame("images", photos, source="fashion-mnist slice")
    workflows.train(settings, "ease", {"l2": 100.0})
    reviews.train(settings, language="en")
    tiny = {"widths": [8, 16, 32], "epochs": 2, "batch_size": 64, "threads": 1}
    images.train(settings, params=tiny, test_size=0.2)
    run = pricing.elasticity(settings, top=40, params={"n_boot": 100})
    pricing.forecast(settings, kind="ets", horizon=14, top=10)
    events = data.tables["events"]
    questions = test_shop.questions()
    english = questions[questions["language"] == "en"]
    info = {
        "data": "bundled UCI Online Retail sample + tests/shop reviews and questions + "
        "tests/corpora Fashion-MNIST slice (600 photos)",
        "events": len(events),
        "users": sorted(events["user_id"].astype(str).unique().tolist()),
        "items": sorted(events["item_id"].astype(str).unique().tolist())[:2000],
        "priced_item": str(run.model.table_.sort_values("mean_units").index[-1]),
        "qa_items": english["item_id"].value_counts().index[:6].astype(str).tolist(),
        "setup_s": round(time.perf_counter() - start, 1),
    }
    (tmp / "setup.json").write_text(json.dumps(info) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


# =========================================================================== the service
def start(folder: Path, pinning: Pinning, name: str, models: Path | None = None) -> Server:
    """A fresh service over private copies of the cached shop's store and registry (writes
    and saved QA indexes must not leak into the next run; `models`: a registry copy to
    share), ready (stopped again if it never gets ready)."""
    run = WORK / "runs" / name
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    shutil.copy(folder / "store.duckdb", run / "store.duckdb")
    if models is None:
        models = run / "models"
        shutil.copytree(folder / "models", models)
    env = {
        "SHOPSENSE_STORE_PATH": str(run / "store.duckdb"),
        "SHOPSENSE_MODELS_DIR": str(models),
        "SHOPSENSE_REPORTS_DIR": str(folder / "reports"),
        "SHOPSENSE_API_KEYS": KEY,
        **LIMITS_ENV,
    }
    server = Server(folder, "ease", pinning, WORK / "logs" / f"{name}.log", "auto", env)
    server.__enter__()
    try:
        ready = server.wait_ready()
    except BaseException:
        server.stop()
        raise
    log(f"{name}: ready in {ready:.1f} s (RSS {server.rss_mb():.0f} MB)")
    return server


# =========================================================================== 1. reads + writers
#: the routes read in each scenario: all four, or the API routes alone (no dashboard pages)
SCENARIOS = {
    "reads_under_writes": ("recommendations", "pricing", "dashboard", "dashboard_pricing"),
    "api_reads_under_writes": ("recommendations", "pricing"),
}


def read_targets(
    info: dict[str, Any],
    rng: np.random.Generator,
    n: int,
    routes: tuple[str, ...] = SCENARIOS["reads_under_writes"],
) -> list[tuple[str, str]]:
    """n (route, path) reads cycling over `routes`; users drawn from the data."""
    users = info["users"]
    out = []
    for i in range(n):
        route = routes[i % len(routes)]
        if route == "recommendations":
            out.append((route, f"/v1/users/{users[rng.integers(len(users))]}/recommendations"))
        elif route == "pricing":
            out.append((route, f"/v1/pricing/suggestions/{info['priced_item']}"))
        elif route == "dashboard":
            out.append((route, "/dashboard"))
        else:
            out.append((route, "/dashboard/pricing"))
    return out


async def reads_under_writes(
    url: str,
    targets: list[tuple[str, str]],
    rate: float,
    writers: int,
    writer_rate: float,
    batch: int,
    info: dict[str, Any],
    seed: int,
) -> tuple[dict[str, list[float]], Counter[str]]:
    """Open-loop reads at `rate` (latency from each due time) while `writers` tasks each POST
    a `batch`-event batch every 1/writer_rate s, also open loop. Latencies per route (ms)."""
    rng = np.random.default_rng(seed)
    lat: dict[str, list[float]] = {}
    errors: Counter[str] = Counter()
    ok: Counter[str] = Counter()
    reader = RawClient(url, 32, 10.0)
    writer = RawClient(url, max(1, writers), 10.0)
    clock = time.perf_counter
    t0 = clock() + 0.05
    seconds = len(targets) / rate
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}

    async def call(route: str, due: float, method: str, path: str, body: bytes = b"") -> None:
        try:
            if method == "GET":
                status, _ = await reader.get(path)
            else:
                extra = {**headers, "Idempotency-Key": uuid.uuid4().hex}
                status, _ = await writer.post(path, body, extra)
            if status not in (200, 201):
                errors[f"{route} HTTP {status}"] += 1
            else:
                ok[route] += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as e:
            errors[f"{route} {type(e).__name__}"] += 1
        lat.setdefault(route, []).append((clock() - due) * 1e3)

    def batch_body() -> bytes:
        users, items = info["users"], info["items"]
        events = [
            {
                "user_id": users[rng.integers(len(users))],
                "item_id": items[rng.integers(len(items))],
                "event_type": "view",
            }
            for _ in range(batch)
        ]
        return json.dumps({"events": events}).encode()

    schedule: list[tuple[float, str, str, str, bytes]] = [
        (t0 + i / rate, route, "GET", path, b"") for i, (route, path) in enumerate(targets)
    ]
    for w in range(writers):
        offset = w / (writers * writer_rate)
        for j in range(int(seconds * writer_rate)):
            due = t0 + offset + j / writer_rate
            schedule.append((due, "events", "POST", "/v1/events", batch_body()))
    schedule.sort(key=lambda s: s[0])
    tasks = set()
    for due, route, method, path, body in schedule:
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(call(route, due, method, path, body))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks))
    await reader.close()
    await writer.close()
    return lat, errors, ok


def part_writers(
    folder: Path, info: dict[str, Any], pinning: Pinning, args: Any
) -> list[dict[str, Any]]:
    """Reads with 0 writers, then with `args.writers` at each rate, each on a fresh service
    over a fresh copy of the store: requests the client gave up on are still worked off by
    the service, so an overloaded phase would otherwise spill into the next one. With
    writers, also the API routes read alone, to separate what the writes cost the
    service from what they cost the dashboard pages read beside them."""
    rows = []
    rng = np.random.default_rng(args.seed)
    phases = [("reads_under_writes", 0, 0.0)]
    for scenario in SCENARIOS:
        phases += [(scenario, args.writers, rate) for rate in args.writer_rates]
    for scenario, writers, writer_rate in phases:
        name = f"change-{scenario}-{writers}x{writer_rate:g}"
        server = start(folder, pinning, name)
        try:
            routes = SCENARIOS[scenario]
            warm = read_targets(info, rng, int(args.read_rate * 3), routes)
            asyncio.run(reads_under_writes(server.url, warm, args.read_rate, 0, 1, 1, info, 0))
            rows += measure_phase(server, info, rng, writers, writer_rate, args, scenario)
        finally:
            server.stop()
    return rows


def measure_phase(
    server: Server,
    info: dict[str, Any],
    rng: np.random.Generator,
    writers: int,
    writer_rate: float,
    args: Any,
    scenario: str,
) -> list[dict[str, Any]]:
    """One phase of reads (and writes): a flat row per route."""
    n = int(args.read_rate * args.change_seconds)
    targets = read_targets(info, rng, n, SCENARIOS[scenario])
    cpu = server.process.cpu_times()
    rss_start = server.rss_mb()
    begin = time.perf_counter()
    lat, errors, ok = asyncio.run(
        reads_under_writes(
            server.url, targets, args.read_rate, writers, writer_rate or 1.0, args.batch,
            info, args.seed + writers,
        )
    )  # fmt: skip
    wall = time.perf_counter() - begin
    after = server.process.cpu_times()
    busy = (after.user + after.system) - (cpu.user + cpu.system)
    rows = []
    for route, values in lat.items():
        arr = np.array(values)
        p50, p99 = np.percentile(arr, [50, 99])
        goal = GOALS.get(route.split("_")[0])
        route_errors = sum(n for k, n in errors.items() if k.split(" ")[0] == route)
        rows.append(
            {
                "scenario": scenario,
                "route": ROUTES[route],
                "writers": writers,
                "writer_batches_per_s": writer_rate,
                "events_per_batch": args.batch,
                "requests": len(arr),
                "rps": round(ok[route] / wall, 1),
                "p50_ms": round(float(p50), 2),
                "p99_ms": round(float(p99), 2),
                "max_ms": round(float(arr.max()), 2),
                "errors": route_errors,
                "goal_p99_ms": goal,
                "meets_goal": None if goal is None else bool(p99 <= goal and not route_errors),
                "server_cpu_pct": round(100 * busy / wall, 1),
                "rss_mb": round(server.rss_mb(), 1),
                "rss_mb_start": round(rss_start, 1),
            }
        )
        log(
            f"{scenario}, {writers}x{writer_rate:g}/s writers, {route}: p50 {p50:.1f} / p99 "
            f"{p99:.1f} ms, {route_errors} errors"
        )
    if errors:
        log(f"errors: {dict(errors)}")
    return rows


ROUTES = {
    "recommendations": "GET /v1/users/{user_id}/recommendations",
    "pricing": "GET /v1/pricing/suggestions/{item_id}",
    "dashboard": "GET /dashboard",
    "dashboard_pricing": "GET /dashboard/pricing",
    "events": "POST /v1/events",
}


# =========================================================================== 2. questions
QUESTIONS = [
    "how long do they keep?",
    "is it good value for the money?",
    "does the colour fade after washing?",
    "is it a good gift?",
    "what size should I order?",
    "is it sturdy enough for daily use?",
]


def part_questions(folder: Path, info: dict[str, Any], pinning: Pinning) -> list[dict[str, Any]]:
    """Two fresh services one after the other on one registry copy: the first has no saved
    QA index (a new deploy: its first question embeds every passage), the second finds the
    index the first saved (a restart). On each, per item: one question cold, then new ones
    warm. The very first question of a process also loads the encoder: its own row."""
    models = WORK / "runs" / "qa-models"
    shutil.rmtree(models, ignore_errors=True)
    shutil.copytree(folder / "models", models)
    shutil.rmtree(models / "reviews" / "qa-index", ignore_errors=True)
    rows = []
    for index in ("built by this process", "saved by an earlier process"):
        server = start(folder, pinning, "change-questions", models)
        try:
            rows += ask_questions(server, info, index)
        finally:
            server.stop()
    return rows


def ask_questions(server: Server, info: dict[str, Any], index: str) -> list[dict[str, Any]]:
    """Question latencies (client-side, one at a time) by kind: first, cold, warm."""
    times: dict[str, list[float]] = {"first_in_process": [], "cold": [], "warm": []}
    failures: Counter[str] = Counter()
    with httpx.Client(base_url=server.url, timeout=120.0) as client:
        for n, item in enumerate(info["qa_items"]):
            for q, question in enumerate(QUESTIONS):
                body = {"question": question, "item_id": item, "k": 3}
                begin = time.perf_counter()
                r = client.post("/v1/questions/answer", json=body)
                ms = (time.perf_counter() - begin) * 1e3
                if r.status_code != 200:
                    failures[f"HTTP {r.status_code}"] += 1
                    log(f"question about {item}: {r.status_code} {r.text[:200]}")
                    continue
                kind = "warm" if q else ("first_in_process" if n == 0 else "cold")
                times[kind].append(ms)
    rss = server.rss_mb()
    rows = []
    for kind, values in times.items():
        if not values:
            continue
        arr = np.array(values)
        goal = GOALS["qa_warm"] if kind == "warm" else None
        p99 = float(np.percentile(arr, 99))
        rows.append(
            {
                "scenario": f"question_{kind}",
                "route": "POST /v1/questions/answer",
                "qa_index": index,
                "writers": 0,
                "requests": len(arr),
                "p50_ms": round(float(np.median(arr)), 2),
                "p99_ms": round(p99, 2),
                "max_ms": round(float(arr.max()), 2),
                "errors": sum(failures.values()),
                "goal_p99_ms": goal,
                "meets_goal": None if goal is None else bool(p99 <= goal and not failures),
                "rss_mb": round(rss, 1),
            }
        )
        log(f"questions ({index}) {kind}: median {np.median(arr):.1f} ms, max {arr.max():.1f}")
    return rows


# =========================================================================== 3. image burst
def big_jpeg(side: int, seed: int) -> bytes:
    """A smooth side×side photo-like JPEG (gradients and soft blobs: small on the wire,
    full size when decoded)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((side, side), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    img.close()
    return out.getvalue()


def part_images(folder: Path, pinning: Pinning, args: Any) -> list[dict[str, Any]]:
    """RSS sampled every 20 ms around a concurrent burst of large uploads."""
    photos = [big_jpeg(args.image_side, seed) for seed in range(args.images)]
    log(f"images: {args.images} JPEGs of {args.image_side}² px, "
        f"{np.mean([len(p) for p in photos]) / 1e3:.0f} kB each")  # fmt: skip
    env_body = str(max(len(p) for p in photos) + 100_000)
    server = start_with_body(folder, pinning, env_body)
    statuses: Counter[int] = Counter()
    try:
        with httpx.Client(base_url=server.url, timeout=120.0) as client:
            small = big_jpeg(256, 99)
            r = client.post("/v1/images/classify", files={"file": ("w.jpg", small)})
            r.raise_for_status()  # the model is loaded: the baseline includes it
        time.sleep(1.0)
        before = server.rss_mb()
        samples: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(server.rss_mb())
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        begin = time.perf_counter()

        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=120.0) as c:
                answers = await asyncio.gather(
                    *(c.post("/v1/images/classify", files={"file": (f"{i}.jpg", p)})
                      for i, p in enumerate(photos))
                )  # fmt: skip
            return [a.status_code for a in answers]

        statuses.update(asyncio.run(burst()))
        burst_s = time.perf_counter() - begin
        stop.set()
        sampler.join()
        after_1s = (time.sleep(1.0), server.rss_mb())[1]
        after_5s = (time.sleep(4.0), server.rss_mb())[1]
    finally:
        server.stop()
    peak = max([*samples, after_1s])
    back = abs(after_5s - before) <= RSS_BACK_WITHIN * before
    log(f"images: RSS {before:.0f} -> peak {peak:.0f} -> {after_1s:.0f} (1 s) -> "
        f"{after_5s:.0f} MB (5 s); answers {dict(statuses)}")  # fmt: skip
    return [
        {
            "scenario": "image_burst",
            "route": "POST /v1/images/classify",
            "writers": 0,
            "requests": args.images,
            "image_px": f"{args.image_side}x{args.image_side}",
            "upload_kb": round(float(np.mean([len(p) for p in photos])) / 1e3, 1),
            "burst_s": round(burst_s, 2),
            "errors": sum(n for s, n in statuses.items() if s != 200),
            "statuses": json.dumps({str(k): v for k, v in statuses.items()}),
            "rss_mb_before": round(before, 1),
            "rss_mb_peak": round(peak, 1),
            "rss_mb_after_1s": round(after_1s, 1),
            "rss_mb_after_5s": round(after_5s, 1),
            "rss_mb": round(after_5s, 1),
            "goal_rss_back_within": RSS_BACK_WITHIN,
            "meets_goal": bool(back and all(s == 200 for s in statuses)),
        }
    ]


def start_with_body(folder: Path, pinning: Pinning, max_body: str) -> Server:
    """A fresh service that accepts uploads of `max_body` bytes (the default cap is 1 MB)."""
    import os

    old = os.environ.get("SHOPSENSE_MAX_BODY_BYTES")
    os.environ["SHOPSENSE_MAX_BODY_BYTES"] = max_body
    try:
        return start(folder, pinning, "change-images")
    finally:
        if old is None:
            os.environ.pop("SHOPSENSE_MAX_BODY_BYTES")
        else:
            os.environ["SHOPSENSE_MAX_BODY_BYTES"] = old


# =========================================================================== run + output
def run(args: Any, argv: list[str] | None, begin: float) -> None:
    """The three parts on fresh services, then serve_load_change.{json,md}."""
    import os

    from provenance import header, stamp
    from serve_load import plan_pinning

    folder, info = ensure_setup()
    pinning = plan_pinning(not args.no_pin)
    log(f"pinning: {pinning.text}")
    try:
        rows = part_writers(folder, info, pinning, args)
        rows += part_questions(folder, info, pinning)
        rows += part_images(folder, pinning, args)
    except KeyboardInterrupt:
        log("interrupted: the service was stopped; no results written")
        raise SystemExit(130) from None
    finally:
        if pinning.client is not None:
            os.sched_setaffinity(0, pinning.client | (pinning.server or set()))
    from recommend_classic import run_meta

    meta = run_meta("serve_load", 1, begin, argv)
    rows = stamp([{**r, "pinning": pinning.text, "load": load_text()} for r in rows], meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    md = to_markdown(rows, meta, info, args, header(meta))
    args.out.with_suffix(".md").write_text(md)
    print(md)


def load_text() -> str:
    """What else the machine was doing: the 1-minute load average against its cores."""
    import os

    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


COLUMNS = ["scenario", "route", "qa_index", "writers", "writer_batches_per_s", "requests",
           "rps", "p50_ms", "p99_ms", "max_ms", "errors", "goal_p99_ms", "meets_goal",
           "server_cpu_pct", "rss_mb"]  # fmt: skip
IMAGE_COLUMNS = ["requests", "image_px", "upload_kb", "burst_s", "statuses", "rss_mb_before",
                 "rss_mb_peak", "rss_mb_after_1s", "rss_mb_after_5s", "meets_goal"]  # fmt: skip


def to_markdown(
    rows: list[dict[str, Any]], meta: dict[str, Any], info: dict[str, Any], args: Any, head: str
) -> str:
    """Tables for the three questions, with how they were measured."""
    reads = [r for r in rows if r["scenario"] != "image_burst"]
    burst = [r for r in rows if r["scenario"] == "image_burst"]
    lines = [
        "# Serving under change",
        "",
        f"One uvicorn worker (SHOPSENSE_SERVE_THREADS=1), {rows[0]['pinning']}. Reads: "
        f"{args.read_rate:g} requests/s open loop, cycling over the four routes "
        f"(api_reads_under_writes: over the two API routes alone), latency from each due "
        f"time, for {args.change_seconds:g} s with 0 and with {args.writers} "
        f"writers, each POSTing {args.batch} view events to /v1/events "
        f"{' or '.join(f'{r:g}' for r in args.writer_rates)} times a second (one phase each) "
        f"with the write key and an Idempotency-Key. Questions: each of "
        f"{len(info['qa_items'])} items gets one question cold, then {len(QUESTIONS) - 1} new "
        f"ones warm, one at a time. Image burst: {args.images} uploads of "
        f"{args.image_side}×{args.image_side} px at once. Limits on expensive routes raised "
        f"for the run ({', '.join(f'{k}={v}' for k, v in LIMITS_ENV.items())}; the body cap "
        f"to fit the uploads). Data: {info['data']} ({info['events']:,} events). "
        f"{rows[0]['load']} at the end; total {meta['total_s']:.0f} s. {head}",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in reads:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in COLUMNS) + " |")
    if burst:
        lines += ["", "| " + " | ".join(IMAGE_COLUMNS) + " |", "|" + "---|" * len(IMAGE_COLUMNS)]
        for row in burst:
            lines.append("| " + " | ".join(str(row.get(c, "")) for c in IMAGE_COLUMNS) + " |")
    lines += [
        "",
        "Goals: with 8 writers p99 ≤ 20 ms for recommendations and ≤ 100 ms for pricing and "
        "the dashboard; a warm question ≤ 50 ms; RSS 5 s after the burst within 10 % of before.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__" and sys.argv[1:] == ["--setup"]:
    build_setup()
