"""Serving under load: top-10 recommendations at a fixed request rate, and a memory soak.

Question: can one service process answer `GET /v1/users/{id}/recommendations?k=10` at 300
requests/s with p99 ≤ 20 ms and no errors on a 2-core machine, and does its memory stay
flat over a ≥ 5-minute soak?

Method:
- Setup (cached under benchmarks/.work/serve_load/, keyed by data set and parameters): a
  store with the data set, EASE and SASRec trained into a registry beside it, and the
  data set's user ids. Runs in a child process so the load generator stays small.
- The real service runs as its own process: `uvicorn shopsense.serve.app:create_app
  --factory`, one worker, no access log, settings from SHOPSENSE_* variables, one scoring
  thread (SHOPSENSE_SERVE_THREADS=1). One fresh process per model, and one for the soak.
- The load generator is open loop: request i is due at t0 + i / rate whatever happened to
  the ones before it, and its latency is measured from that due time. A closed-loop client
  waits for answers before sending more and so sends less when the service stalls; its
  latencies then miss the queueing the stall causes (coordinated omission).
- Users are drawn from the data set (known to the models), a few per cent are ids nobody
  has seen (cold start: popular items).
- The generator's HTTP client is a minimal keep-alive HTTP/1.1 client on asyncio streams
  (see RawClient for why not httpx; `--client httpx` compares).
- Where the machine allows, the service is pinned to one core and the load generator to
  another, so the two do not take turns on the same core.

Run:  .venv/bin/python benchmarks/serve_load.py [--sweep] [--quick]
Writes benchmarks/results/serve_load.{json,md} and serve_load_soak.{json,png}
(--quick writes under benchmarks/.work/serve_load/quick/ unless --out is given).
`--part change` measures the service while its data changes instead (event writers beside
reads, questions cold and warm, memory around an image burst; see serve_change.py) and
writes benchmarks/results/serve_load_change.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import psutil
from provenance import header, stamp

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORK = HERE / ".work" / "serve_load"
TARGET_P99_MS = 20.0
ROUTE = "/v1/users/{user_id}/recommendations"

#: models served per data set and their training parameters. EASE: the l2 the classic
#: benchmark's grid picked on Beauty (recommend_classic.md); SASRec: an epoch cap so that
#: setup stays bounded on 2 cores (validation on a fixed sample of users keeps epochs short).
DATASETS: dict[str, dict[str, dict[str, Any]]] = {
    "amazon-beauty-seq": {
        "ease": {"l2": 50.0},
        "sasrec": {"epochs": 10, "validation_users": 2000},
    },
}
#: bump when the setup's layout or procedure changes, so old caches are not reused
SETUP_VERSION = 1


def log(message: str) -> None:
    """Progress goes to stderr so stdout carries only the result table."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# =========================================================================== setup (cached)
def setup_dir(dataset: str, models: dict[str, dict[str, Any]]) -> Path:
    """The cache folder of one (data set, model parameters) combination: a change to either
    gives a new folder, so a rerun never serves models trained with other settings."""
    key = json.dumps({"dataset": dataset, "models": models, "v": SETUP_VERSION}, sort_keys=True)
    return WORK / f"{dataset}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def ensure_setup(dataset: str, models: dict[str, dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """The cached store + registry, building it in a child process when missing.

    A child process: training EASE peaks near 3 GB and SASRec loads torch; neither should
    stay in the load generator's process while it measures.
    """
    folder = setup_dir(dataset, models)
    info_path = folder / "setup.json"
    if not info_path.exists():
        log(f"setup: building {folder} (store, {', '.join(models)}); this takes minutes")
        spec = json.dumps({"dataset": dataset, "models": models})
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--setup-only", spec], check=True
        )
    else:
        log(f"setup: reusing {folder}")
    return folder, json.loads(info_path.read_text())


def build_setup(dataset: str, models: dict[str, dict[str, Any]]) -> None:
    """Load the data set into a fresh store, train every model into the registry, and list
    the user ids. Built in a temporary folder and renamed at the end, so an interrupted
    setup is never mistaken for a finished one."""
    from recommend_classic import PeakMemory

    from shopsense import workflows
    from shopsense.config import Settings
    from shopsense.data.sources import load_source
    from shopsense.data.store import Store

    folder = setup_dir(dataset, models)
    tmp = folder.with_name(folder.name + ".incoming")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    settings = Settings(store_path=tmp / "store.duckdb", models_dir=tmp / "models")
    start = time.perf_counter()
    data = load_source(dataset, settings.data_root)
    with Store(settings.store_path) as store:
        for table, frame in data.tables.items():
            store.write_frame(table, frame, source=data.name)
    events = data.tables["events"]
    users = sorted(events["user_id"].astype(str).unique().tolist())
    (tmp / "users.json").write_text(json.dumps(users))
    log(
        f"setup: {dataset}: {len(events):,} events, {len(users):,} users "
        f"({time.perf_counter() - start:.0f} s)"
    )
    trained: dict[str, Any] = {}
    for name, params in models.items():
        with PeakMemory() as mem:
            begin = time.perf_counter()
            version = workflows.train(settings, name, params)
            seconds = time.perf_counter() - begin
        trained[name] = {
            "version": version.version,
            "params": params,
            "train_s": round(seconds, 1),
            "train_peak_mb": round(mem.mb, 1),
            "training": version.meta.get("data", {}).get("training", {}),
        }
        log(f"setup: trained {name} {params} in {seconds:.0f} s -> {version.version}")
    info = {"dataset": dataset, "users": len(users), "events": len(events), "models": trained}
    (tmp / "setup.json").write_text(json.dumps(info, indent=1, default=str) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


# =========================================================================== the service
def free_port() -> int:
    """A port nobody listens on now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Pinning:
    """Which cores the service and the load generator run on (None: not pinned)."""

    server: set[int] | None
    client: set[int] | None

    @property
    def text(self) -> str:
        if self.server is None or self.client is None:
            return "not pinned (os.sched_setaffinity unavailable or fewer than 2 cores)"
        server, client = _cores(self.server), _cores(self.client)
        return f"service on core {server}, load generator on core {client}"


def _cores(cores: set[int]) -> str:
    """Core numbers as the output shows them."""
    return ",".join(str(c) for c in sorted(cores))


def plan_pinning(enabled: bool) -> Pinning:
    """Service on the last allowed core, load generator on the first: on 2 cores each gets
    one, so the measured latency is the service's and not a fight over one core."""
    if not enabled or not hasattr(os, "sched_setaffinity"):
        return Pinning(None, None)
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return Pinning(None, None)
    return Pinning({allowed[-1]}, {allowed[0]})


class Server:
    """The service as a separate uvicorn process, stopped for sure on exit.

    Started in its own session so a Ctrl-C in the terminal reaches only the benchmark,
    which then stops the service itself (SIGTERM, then SIGKILL if it does not exit).
    """

    def __init__(
        self,
        folder: Path,
        model: str,
        pinning: Pinning,
        log_path: Path,
        ann: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.folder = folder
        self.extra_env = env or {}
        self.model = model
        self.pinning = pinning
        self.log_path = log_path
        self.ann = ann
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        """Start the process (not yet ready: see wait_ready)."""
        env = {
            **os.environ,
            "SHOPSENSE_STORE_PATH": str(self.folder / "store.duckdb"),
            "SHOPSENSE_MODELS_DIR": str(self.folder / "models"),
            "SHOPSENSE_DEFAULT_MODEL": self.model,
            "SHOPSENSE_SERVE_THREADS": "1",
            "SHOPSENSE_ANN": self.ann,
            **self.extra_env,
        }
        cmd = [
            sys.executable, "-m", "uvicorn", "shopsense.serve.app:create_app", "--factory",
            "--workers", "1", "--no-access-log", "--log-level", "warning",
            "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("wb")
        try:
            # The child inherits the affinity of the thread that forks it: pin ourselves to
            # the service's core for the fork, then move to the generator's core.
            with _affinity(self.pinning.server):
                self.proc = subprocess.Popen(
                    cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        finally:
            out.close()
        if self.pinning.client is not None:
            os.sched_setaffinity(0, self.pinning.client)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Graceful shutdown first (uvicorn finishes open requests on SIGTERM)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @property
    def process(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    def rss_mb(self) -> float:
        """Resident memory of the service process (it has no child processes)."""
        return self.process.memory_info().rss / 2**20

    def log_tail(self, lines: int = 30) -> str:
        """The end of the service's log, to say why it did not start."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout_s: float = 300.0) -> float:
        """Poll /readyz until the default model is loaded; seconds it took. Fails early,
        with the service's log, if the process exits."""
        assert self.proc is not None
        start = time.perf_counter()
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the service exited with {self.proc.returncode}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/readyz").status_code == 200:
                        return time.perf_counter() - start
                if time.perf_counter() - start > timeout_s:
                    raise RuntimeError(f"not ready after {timeout_s:.0f} s:\n{self.log_tail()}")
                time.sleep(0.2)


@contextlib.contextmanager
def _affinity(cores: set[int] | None) -> Iterator[None]:
    """Run the block on `cores` (a process forked inside inherits them), then restore."""
    if cores is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


_METRIC = re.compile(r"^(\w+)\{(.*)\}\s+(\S+)$")


def server_counters(url: str) -> dict[str, float]:
    """The service's own view, from /metrics: time spent in the recommendations route
    (sum, count) and answers by source. Read before and after a phase; the difference
    separates time inside the service from time on the wire and in the client."""
    text = httpx.get(f"{url}/metrics", timeout=10.0).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _METRIC.match(line)
        if not m:
            continue
        name, labels, value = m.groups()
        if name in ("shopsense_request_seconds_sum", "shopsense_request_seconds_count"):
            if f'route="{ROUTE}"' in labels:
                out[name] = float(value)
        elif name == "shopsense_recommendations_total":
            source = re.search(r'source="([^"]+)"', labels)
            if source:
                out[f"source_{source.group(1)}"] = float(value)
    return out


# =========================================================================== load generation
@dataclass
class Load:
    """What one fixed-rate run saw, request by request (index = order of due time)."""

    rate: float
    due: np.ndarray  # seconds after t0 each request was due
    latency_ms: np.ndarray  # from due time to the end of the answer (or of the failure)
    lag_ms: np.ndarray  # from due time to the moment the generator started sending it
    status: np.ndarray  # HTTP status; 0 for no answer
    errors: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0  # from t0 to the last answer
    client_cpu_s: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.due)

    @property
    def ok(self) -> int:
        """Complete answers: status 200 with k items."""
        return int((self.status == 200).sum()) - self.errors["short answer"]


def request_paths(
    users: Sequence[str], n: int, unknown_share: float, k: int, model: str, rng: np.random.Generator
) -> list[str]:
    """n request paths: known users drawn uniformly, `unknown_share` of them ids no model
    has seen (they get popular items: the cold-start path)."""
    picks = rng.integers(0, len(users), n)
    unknown = rng.random(n) < unknown_share
    paths = []
    for i in range(n):
        user = f"new-{rng.integers(1 << 40)}" if unknown[i] else users[picks[i]]
        paths.append(f"/v1/users/{quote(user, safe='')}/recommendations?k={k}&model={model}")
    return paths


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class RawClient:
    """A minimal HTTP/1.1 keep-alive client: up to `connections` persistent connections, one
    request at a time on each, requests waiting in FIFO order for a free one.

    Why not httpx: on this machine httpx's AsyncClient spends ~1.6 ms of CPU per request
    even one at a time, and its connection pool rescans every waiting request on each state
    change, so with a few hundred requests queued (exactly when the service falls behind)
    it costs ~15 ms per request and the generator, not the service, sets the latency. This
    client costs a small fraction of that. It speaks just what the service answers with
    (status line, headers, Content-Length body); `--client httpx` runs the same load with
    httpx for comparison.
    """

    def __init__(self, url: str, connections: int, timeout_s: float) -> None:
        parts = httpx.URL(url)
        self.host, self.port = parts.host, parts.port or 80
        self.max = connections
        self.timeout_s = timeout_s
        self.open = 0
        # idle connections; None stands for a slot freed by a broken connection, so a
        # request already waiting opens a new one instead of waiting for its timeout
        self.idle: asyncio.Queue[Conn | None] = asyncio.Queue()
        self.all: set[asyncio.StreamWriter] = set()
        self.head = f"HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()

    async def _acquire(self) -> Conn:
        """An idle connection, a new one while under the limit, else wait in line."""
        if self.idle.empty() and self.open < self.max:
            return await self._connect()
        conn = await self.idle.get()
        return conn if conn is not None else await self._connect()

    async def _connect(self) -> Conn:
        self.open += 1
        try:
            conn = await asyncio.open_connection(self.host, self.port)
        except BaseException:
            self._free_slot()
            raise
        self.all.add(conn[1])
        return conn

    def _free_slot(self) -> None:
        self.open -= 1
        self.idle.put_nowait(None)

    def _discard(self, writer: asyncio.StreamWriter) -> None:
        """Close a connection whose state is unknown and free its slot."""
        self.all.discard(writer)
        writer.close()
        self._free_slot()

    async def get(self, path: str) -> tuple[int, bytes]:
        """(status, body) of `GET path`; TimeoutError after `timeout_s` (waiting for a
        connection included), OSError-family errors for broken connections."""
        return await self._exchange(b"GET " + path.encode() + b" " + self.head)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """(status, body) of `POST path` with `body` and `headers` (the event writers)."""
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = self.head[:-2] + f"{lines}Content-Length: {len(body)}\r\n\r\n".encode()
        return await self._exchange(b"POST " + path.encode() + b" " + head + body)

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        async with asyncio.timeout(self.timeout_s):
            reader, writer = await self._acquire()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = _content_length(head)
                body = await reader.readexactly(length)
            except BaseException:
                self._discard(writer)  # a half-read answer would poison the next request
                raise
            if b"\r\nconnection: close" in head.lower():
                self._discard(writer)
            else:
                self.idle.put_nowait((reader, writer))
            return status, body

    async def close(self) -> None:
        for writer in list(self.all):
            writer.close()
        self.all.clear()


def _content_length(head: bytes) -> int:
    """The body length from raw response headers (the service always sends it)."""
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        raise ProtocolError("answer without Content-Length")
    start = at + len(b"\r\ncontent-length:")
    return int(head[start : head.index(b"\r\n", start)])


class ProtocolError(OSError):
    """An answer this client cannot read (counted as an error like a broken connection)."""


class HttpxClient:
    """The same interface over httpx.AsyncClient (keep-alive pool), to compare against."""

    def __init__(self, url: str, connections: int, timeout_s: float) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.client = httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout_s)

    async def get(self, path: str) -> tuple[int, bytes]:
        try:
            response = await self.client.get(path)
        except httpx.TimeoutException:
            raise TimeoutError from None
        return response.status_code, response.content

    async def close(self) -> None:
        await self.client.aclose()


CLIENTS = {"raw": RawClient, "httpx": HttpxClient}


async def fixed_rate(
    url: str,
    paths: Sequence[str],
    rate: float,
    *,
    k: int,
    connections: int,
    timeout_s: float,
    client_kind: str = "raw",
    on_tick: Callable[[float], None] | None = None,
) -> Load:
    """Send `paths` open loop at `rate` per second over keep-alive connections.

    Each request has a due time t0 + i / rate and is sent then even if earlier ones are
    still waiting; latency counts from the due time, so time spent queued anywhere
    (generator, connection pool, socket, service) is in the number. Requests still open
    `timeout_s` after the last one was due are cancelled and counted as errors.
    """
    n = len(paths)
    load = Load(
        rate, np.arange(n) / rate, np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, np.int16)
    )
    clock = time.perf_counter
    cpu0 = time.process_time()
    client = CLIENTS[client_kind](url, connections, timeout_s)

    async def one(i: int, due: float) -> None:
        load.lag_ms[i] = (clock() - due) * 1e3
        try:
            status, body = await client.get(paths[i])
            load.status[i] = status
            if status == 200:
                answer = json.loads(body)
                load.sources[answer.get("source", "?")] += 1
                if len(answer.get("items", ())) != k:
                    load.errors["short answer"] += 1
            else:
                load.errors[f"HTTP {status}"] += 1
        except TimeoutError:
            load.errors["timeout"] += 1
        except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError) as e:
            load.errors[type(e).__name__] += 1
        finally:
            load.latency_ms[i] = (clock() - due) * 1e3

    try:
        tasks: set[asyncio.Task[None]] = set()
        t0 = clock() + 0.05
        next_tick = 5.0
        for i in range(n):
            due = t0 + load.due[i]
            delay = due - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(i, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if on_tick is not None and load.due[i] >= next_tick:
                on_tick(load.due[i])
                next_tick += 5.0
        if tasks:
            _, pending = await asyncio.wait(set(tasks), timeout=timeout_s + 1.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
                load.errors["unfinished"] += len(pending)
    finally:
        await client.close()
    missing = np.isnan(load.latency_ms)
    load.latency_ms[missing] = (clock() - t0 - load.due[missing]) * 1e3
    load.wall_s = float(np.max(load.due + load.latency_ms / 1e3)) if n else 0.0
    load.client_cpu_s = time.process_time() - cpu0
    return load


def summarise(load: Load) -> dict[str, Any]:
    """Achieved rate and latency percentiles of one run; every request counts, failed and
    cancelled ones with the time they took to fail."""
    lat = load.latency_ms
    pct = np.percentile(lat, [50, 95, 99]) if len(lat) else np.full(3, np.nan)
    errors = load.requests - load.ok
    answered = sum(load.sources.values())
    return {
        "requests": load.requests,
        "rps": round(load.ok / load.wall_s, 1) if load.wall_s else 0.0,
        "p50_ms": round(float(pct[0]), 2),
        "p95_ms": round(float(pct[1]), 2),
        "p99_ms": round(float(pct[2]), 2),
        "max_ms": round(float(lat.max()), 2) if len(lat) else float("nan"),
        "mean_ms": round(float(lat.mean()), 2) if len(lat) else float("nan"),
        "errors": errors,
        "error_kinds": json.dumps(dict(load.errors)) if load.errors else "",
        "send_lag_p99_ms": round(float(np.percentile(load.lag_ms, 99)), 2) if len(lat) else 0,
        "cold_start_share": round(load.sources["cold_start"] / max(1, answered), 4),
        "client_cpu_pct": round(100 * load.client_cpu_s / load.wall_s, 1) if load.wall_s else 0,
    }


# =========================================================================== phases
@dataclass
class Bench:
    """Settings shared by every phase of a run."""

    dataset: str
    users: list[str]
    k: int
    unknown_share: float
    connections: int
    timeout_s: float
    pinning: Pinning
    rng: np.random.Generator
    client: str = "raw"


def measure(
    bench: Bench,
    server: Server,
    model: str,
    rate: float,
    seconds: float,
    on_tick: Callable[[float], None] | None = None,
) -> tuple[Load, dict[str, Any]]:
    """One fixed-rate phase with the service's CPU time, memory and own latency around it."""
    paths = request_paths(
        bench.users, max(1, round(rate * seconds)), bench.unknown_share, bench.k, model, bench.rng
    )
    proc = server.process
    before = server_counters(server.url)
    cpu = proc.cpu_times()
    rss_start = server.rss_mb()
    load = asyncio.run(
        fixed_rate(
            server.url,
            paths,
            rate,
            k=bench.k,
            connections=bench.connections,
            client_kind=bench.client,
            timeout_s=bench.timeout_s,
            on_tick=on_tick,
        )
    )
    cpu_after = proc.cpu_times()
    after = server_counters(server.url)
    busy = (cpu_after.user + cpu_after.system) - (cpu.user + cpu.system)
    count = after.get("shopsense_request_seconds_count", 0) - before.get(
        "shopsense_request_seconds_count", 0
    )
    spent = after.get("shopsense_request_seconds_sum", 0) - before.get(
        "shopsense_request_seconds_sum", 0
    )
    record = {
        **summarise(load),
        "server_mean_ms": round(1e3 * spent / count, 2) if count else float("nan"),
        "server_cpu_pct": round(100 * busy / load.wall_s, 1) if load.wall_s else 0.0,
        "rss_mb_start": round(rss_start, 1),
        "rss_mb_end": round(server.rss_mb(), 1),
        "server_threads": proc.num_threads(),
    }
    return load, record


def record_of(
    bench: Bench,
    model: str,
    info: dict[str, Any],
    phase: str,
    rate: float,
    seconds: float,
    measured: dict[str, Any],
) -> dict[str, Any]:
    """One flat result row: what was asked, what came back, and whether it meets the goal."""
    meets = (
        measured["errors"] == 0
        and measured["p99_ms"] <= TARGET_P99_MS
        and measured["rps"] >= 0.98 * rate
    )
    return {
        "dataset": bench.dataset,
        "model": model,
        "phase": phase,
        "target_rps": rate,
        "seconds": seconds,
        **measured,
        "meets_target": bool(meets),
        "model_version": info["version"],
        "model_params": json.dumps(info["params"]),
        "unknown_share": bench.unknown_share,
        "client": bench.client,
        "pinning": bench.pinning.text,
    }


def start_server(folder: Path, model: str, bench: Bench, ann: str, name: str) -> Server:
    """A fresh service answering with `model` by default, ready to measure (or stopped and
    the error raised: a service that never got ready must not be left running)."""
    server = Server(folder, model, bench.pinning, WORK / "logs" / f"{name}.log", ann)
    server.__enter__()
    try:
        ready_s = server.wait_ready()
    except BaseException:
        server.stop()
        raise
    log(
        f"{name}: service ready on {server.url} in {ready_s:.1f} s "
        f"(pid {server.process.pid}, RSS {server.rss_mb():.0f} MB)"
    )
    return server


def run_model(
    bench: Bench, folder: Path, model: str, info: dict[str, Any], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Warm up, then the target rate, then (optionally) the rate steps, on a fresh process."""
    records = []
    server = start_server(folder, model, bench, args.ann, model)
    try:
        measure(bench, server, model, args.rate, args.warmup_seconds)
        phases = [("target", args.rate, args.seconds)]
        if args.sweep:
            phases += [("sweep", rate, args.sweep_seconds) for rate in args.sweep_rates]
        for phase, rate, seconds in phases:
            _, measured = measure(bench, server, model, rate, seconds)
            row = record_of(bench, model, info, phase, rate, seconds, measured)
            log(f"{model} {phase} {rate:g} rps: {_brief(row)}")
            records.append(row)
            time.sleep(1.0)  # let anything queued drain before the next step
    finally:
        server.stop()
    return records


def run_soak(
    bench: Bench, folder: Path, model: str, info: dict[str, Any], args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The target rate for `soak_seconds` on a fresh process, sampling its RSS every 5 s.

    Memory is judged by the slope over the last 4 minutes (least squares), leaving the
    first minute for caches and allocator pools to settle.
    """
    server = start_server(folder, model, bench, args.ann, f"{model}-soak")
    samples: list[tuple[float, float]] = []
    try:
        measure(bench, server, model, args.rate, args.warmup_seconds)
        samples.append((0.0, server.rss_mb()))

        def tick(t: float) -> None:
            samples.append((t, server.rss_mb()))
            if len(samples) % 12 == 1:  # once a minute
                log(f"soak: {t:.0f} s, RSS {samples[-1][1]:.1f} MB")

        load, measured = measure(bench, server, model, args.rate, args.soak_seconds, tick)
        samples.append((load.wall_s, server.rss_mb()))
    finally:
        server.stop()
    t = np.array([s[0] for s in samples])
    rss = np.array([s[1] for s in samples])
    window = min(240.0, float(t[-1]))
    last = t >= t[-1] - window
    slope = float(np.polyfit(t[last] / 60, rss[last], 1)[0]) if last.sum() >= 2 else float("nan")
    row = record_of(bench, model, info, "soak", args.rate, args.soak_seconds, measured)
    row.update(
        rss_mb_start=round(float(rss[0]), 1),
        rss_mb_end=round(float(rss[-1]), 1),
        rss_mb_max=round(float(rss.max()), 1),
        rss_slope_mb_per_min=round(slope, 3),
        slope_window_s=round(window),
        memory_flat=bool(abs(slope) <= args.flat_mb_per_min),
    )
    series = {
        "dataset": bench.dataset,
        "model": model,
        "target_rps": args.rate,
        "interval_s": 5,
        "rss": [{"t_s": round(float(a), 2), "rss_mb": round(float(b), 2)} for a, b in samples],
        "windows": latency_windows(load, 10.0),
        "rss_slope_mb_per_min": row["rss_slope_mb_per_min"],
        "slope_window_s": row["slope_window_s"],
    }
    log(
        f"soak: {_brief(row)}; RSS {row['rss_mb_start']} -> {row['rss_mb_end']} MB "
        f"(max {row['rss_mb_max']}), slope {slope:+.3f} MB/min"
    )
    return row, series


def latency_windows(load: Load, width_s: float) -> list[dict[str, Any]]:
    """Latency percentiles per window of due time: shows drift or hiccups that a single
    percentile over the whole soak would average away."""
    out = []
    bins = (load.due // width_s).astype(int)
    for b in range(int(bins.max()) + 1 if len(bins) else 0):
        sel = bins == b
        lat = load.latency_ms[sel]
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        out.append(
            {
                "t_s": b * width_s,
                "requests": int(sel.sum()),
                "errors": int((load.status[sel] != 200).sum()),
                "p50_ms": round(float(p50), 2),
                "p95_ms": round(float(p95), 2),
                "p99_ms": round(float(p99), 2),
                "max_ms": round(float(lat.max()), 2),
            }
        )
    return out


def _brief(row: dict[str, Any]) -> str:
    return (
        f"{row['rps']} rps, p50 {row['p50_ms']} / p95 {row['p95_ms']} / p99 {row['p99_ms']} "
        f"ms, {row['errors']} errors, service CPU {row['server_cpu_pct']}%, "
        f"generator CPU {row['client_cpu_pct']}%"
    )


# =========================================================================== output
def plot_soak(series: dict[str, Any], path: Path) -> None:
    """RSS over time above latency percentiles per 10 s window, on one time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    t = np.array([s["t_s"] / 60 for s in series["rss"]])
    rss = np.array([s["rss_mb"] for s in series["rss"]])
    top.plot(t, rss, marker=".", label="RSS every 5 s")
    fit = t >= t[-1] - series["slope_window_s"] / 60
    if fit.sum() >= 2:
        line = np.polyfit(t[fit], rss[fit], 1)
        top.plot(t[fit], np.polyval(line, t[fit]), "--", color="grey", label="least squares")
    top.legend()
    top.set_ylabel("service RSS (MB)")
    top.set_title(
        f"{series['dataset']}, {series['model']}, {series['target_rps']:g} requests/s: "
        f"slope {series['rss_slope_mb_per_min']:+.2f} MB/min"
    )
    w = series["windows"]
    tw = [(x["t_s"] + 5) / 60 for x in w]
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        bottom.plot(tw, [x[key] for x in w], marker=".", label=key.removesuffix("_ms"))
    bottom.axhline(TARGET_P99_MS, color="grey", linestyle="--", label="p99 goal")
    bottom.set_yscale("log")
    bottom.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    bottom.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    bottom.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    bottom.set_ylabel("latency per 10 s (ms)")
    bottom.set_xlabel("minutes")
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _verdicts(records: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """One line per answer to the question, so the table does not have to be decoded."""
    out = []
    for row in records:
        if row["phase"] == "target":
            verdict = "meets the goal" if row["meets_target"] else "misses the goal"
            out.append(
                f"- {row['model']} at {row['target_rps']:g} requests/s: {verdict} "
                f"({row['rps']} answered/s, p99 {row['p99_ms']} ms, {row['errors']} errors)."
            )
        elif row["phase"] == "soak":
            flat = "flat" if row["memory_flat"] else "not flat"
            out.append(
                f"- memory over {row['seconds']:g} s ({row['model']}): {flat} "
                f"({row['rss_slope_mb_per_min']:+.2f} MB/min over the last "
                f"{row['slope_window_s']} s; limit {args.flat_mb_per_min:g} MB/min)."
            )
    return out


COLUMNS = ["model", "phase", "target_rps", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms",
           "errors", "server_mean_ms", "server_cpu_pct", "client_cpu_pct", "send_lag_p99_ms",
           "rss_mb_start", "rss_mb_end", "meets_target"]  # fmt: skip


def to_markdown(
    records: list[dict[str, Any]],
    meta: dict[str, Any],
    setup: dict[str, Any],
    args: argparse.Namespace,
) -> str:
    """The table a reader needs to answer the question, with how it was measured."""
    models = setup["models"]
    trained = "; ".join(
        f"{name} {json.dumps(m['params'])} ({m['version']}, trained in {m['train_s']} s"
        + (f", best epoch {m['training'].get('best_epoch')}" if m.get("training") else "")
        + ")"
        for name, m in models.items()
    )
    lines = [
        "# Serving under load",
        "",
        f"`GET {ROUTE}?k={args.k}` against one uvicorn worker (SHOPSENSE_SERVE_THREADS=1), "
        f"open-loop fixed-rate load (latency from each request's due time), "
        f"{args.unknown_share:.0%} unknown users (cold start), {args.connections} keep-alive "
        f"connections ({args.client} client). Goal: p99 ≤ {TARGET_P99_MS:g} ms at "
        f"{args.rate:g} requests/s, no errors. "
        f"{records[0]['pinning'] if records else ''}; total {meta['total_s']:.0f} s. "
        f"{header(meta)}",
        "",
        f"Data: {setup['dataset']} ({setup['events']:,} events, {setup['users']:,} users). "
        f"Models: {trained}. SASRec's training is capped at the epochs shown to bound setup "
        "time; its cost per request does not depend on how long it trained.",
        "",
        *_verdicts(records, args),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in records:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in COLUMNS) + " |")
    soak = [r for r in records if r["phase"] == "soak"]
    for row in soak:
        lines += [
            "",
            f"Soak ({row['model']}, {row['seconds']:g} s at {row['target_rps']:g} requests/s): "
            f"service RSS {row['rss_mb_start']} MB at the start, {row['rss_mb_end']} MB at the "
            f"end, {row['rss_mb_max']} MB at most; slope over the last {row['slope_window_s']} "
            f"s {row['rss_slope_mb_per_min']:+.3f} MB/min (flat: |slope| ≤ "
            f"{args.flat_mb_per_min:g} MB/min → {'yes' if row['memory_flat'] else 'no'}). "
            f"RSS samples and 10 s latency windows: `{args.out.stem}_soak.json`, plot "
            f"`{args.out.stem}_soak.png`.",
        ]
    lines += [
        "",
        "Columns: rps = answered requests per second achieved; latencies from the due time "
        "(ms); server_mean_ms = mean time inside the service's route (its own metrics); "
        "server_cpu_pct / client_cpu_pct = CPU of the service / load generator, % of one "
        "core; send_lag_p99_ms = how late the generator itself sent (high values mean the "
        "generator, not the service, was behind); rss in MB.",
    ]
    return "\n".join(lines) + "\n"


# =========================================================================== main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options; --quick shortens every phase so a smoke run takes about two minutes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="amazon-beauty-seq", choices=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=["ease", "sasrec"])
    parser.add_argument("--rate", type=float, default=300.0, help="target requests/s")
    parser.add_argument("--seconds", type=float, default=30.0, help="per model at --rate")
    parser.add_argument("--warmup-seconds", type=float, default=5.0)
    parser.add_argument("--sweep", action="store_true", help="also step through --sweep-rates")
    parser.add_argument("--sweep-rates", type=float, nargs="+", default=[100, 200, 300, 400])
    parser.add_argument("--sweep-seconds", type=float, default=15.0)
    parser.add_argument("--soak-seconds", type=float, default=300.0, help="0: no soak")
    parser.add_argument("--soak-model", default="ease")
    parser.add_argument(
        "--flat-mb-per-min", type=float, default=1.0, help="largest RSS slope that counts as flat"
    )
    parser.add_argument(
        "--sasrec-epochs",
        type=int,
        default=None,
        help="override the SASRec epoch cap (a separate cache)",
    )
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--unknown-share", type=float, default=0.03)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--client", default="raw", choices=list(CLIENTS), help="load generator's HTTP client"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="per request, seconds")
    parser.add_argument("--ann", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--no-pin", action="store_true", help="do not pin to cores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 10 s phases, 3 s warm-up, 5 s steps, 30 s soak",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--part",
        default="recommend",
        choices=["recommend", "change"],
        help="recommend: the rate, sweep and soak above; change: reads under event writers, "
        "question answering cold and warm, RSS around an image burst (serve_change.py)",
    )
    change = parser.add_argument_group("--part change")
    change.add_argument("--read-rate", type=float, default=40.0, help="reads/s, all routes")
    change.add_argument("--writers", type=int, default=8, help="concurrent event writers")
    change.add_argument(
        "--writer-rates",
        type=float,
        nargs="+",
        default=[5.0, 0.5],
        help="batches/s per writer; one phase each",
    )
    change.add_argument("--batch", type=int, default=5, help="events per batch")
    change.add_argument("--change-seconds", type=float, default=45.0, help="per writer phase")
    change.add_argument("--images", type=int, default=6, help="uploads in the burst")
    change.add_argument("--image-side", type=int, default=6000, help="pixels per side")
    parser.add_argument("--setup-only", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup_seconds, args.sweep_seconds = 10.0, 3.0, 5.0
        args.soak_seconds = min(args.soak_seconds, 30.0)
        args.change_seconds = min(args.change_seconds, 15.0)
    if args.out is None:
        stem = "serve_load_change" if args.part == "change" else "serve_load"
        args.out = (WORK / "quick" if args.quick else RESULTS) / f"{stem}.json"
    return args


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C, so the `finally` blocks that stop the service run."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Setup (cached), each model's phases, the soak, then the result files."""
    args = parse_args(argv)
    if args.setup_only:
        spec = json.loads(args.setup_only)
        build_setup(spec["dataset"], spec["models"])
        return
    begin = time.perf_counter()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the service too, as Ctrl-C does
    if args.part == "change":
        import serve_change

        serve_change.run(args, argv, begin)
        return
    available = DATASETS[args.dataset]
    unknown = [m for m in {*args.models, args.soak_model} if m not in available]
    if unknown:
        raise SystemExit(f"no settings for {unknown} on {args.dataset}; known: {list(available)}")
    models = {name: dict(params) for name, params in available.items()}
    if args.sasrec_epochs is not None and "sasrec" in models:
        models["sasrec"]["epochs"] = args.sasrec_epochs
    folder, setup = ensure_setup(args.dataset, models)
    pinning = plan_pinning(not args.no_pin)
    log(f"pinning: {pinning.text}")
    bench = Bench(
        dataset=args.dataset,
        users=json.loads((folder / "users.json").read_text()),
        k=args.k,
        unknown_share=args.unknown_share,
        connections=args.connections,
        timeout_s=args.timeout,
        pinning=pinning,
        rng=np.random.default_rng(args.seed),
        client=args.client,
    )
    records: list[dict[str, Any]] = []
    series = None
    try:
        for model in args.models:
            records += run_model(bench, folder, model, setup["models"][model], args)
        if args.soak_seconds > 0:
            row, series = run_soak(
                bench, folder, args.soak_model, setup["models"][args.soak_model], args
            )
            records.append(row)
    except KeyboardInterrupt:
        # an interrupted run must not replace the results of a complete one
        log("interrupted: the service was stopped; no results written")
        raise SystemExit(130) from None
    finally:
        if pinning.client is not None:
            os.sched_setaffinity(0, pinning.client | (pinning.server or set()))
    # imported only now: it loads torch, which the load generator has no use for
    from recommend_classic import run_meta

    meta = run_meta("serve_load", 1, begin, argv)
    records = stamp(records, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=1) + "\n")
    if series is not None:
        soak_path = args.out.with_name(args.out.stem + "_soak.json")
        soak_path.write_text(json.dumps(series, indent=1) + "\n")
        plot_soak(series, soak_path.with_suffix(".png"))
    md = to_markdown(records, meta, setup, args)
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
