"""Keep the figures the docs quote equal to the benchmark results files.

    .venv/bin/python scripts/render_results.py           # rewrite every marked block
    .venv/bin/python scripts/render_results.py --check   # list stale blocks and stray figures

A hand-typed figure drifts when a benchmark is rerun; a marked block cannot, because its
content is rendered from the results JSON. Two kinds of block, in README.md and docs/*.md:

    <!-- results: benchmarks/results/images.json task=classify | model, accuracy:.4f as accuracy -->
    | model | test accuracy |
    |---|---|
    | ... |
    <!-- /results -->

    reaches <!-- result: benchmarks/results/images.json task=classify model=cnn | accuracy:.4f
    -->0.9353<!-- /result -->     (on one line in a doc)

Before `|`: the results file (from the repository root) and `field=value` filters (all must
hold; shell-style quotes for values with spaces). After it: the columns, separated by a
comma and a space, each `field[:format][ as label]` (format: a Python format spec, e.g.
`.4f`, `.1%`, `,.0f`; default: four significant digits). A table keeps the file's record
order; a last `| per FIELD` pivots it (one column per value of that field, holding
the last column; the other columns name the rows). A `result` must match exactly one record.

`--check` also reads every doc section (heading to heading) that names a results file or
a benchmark script: each decimal figure in it outside code and outside marked blocks must
be a value of that results file at the precision shown (also as a percentage, in
thousands, or without its sign), or a share of two counts of one record. A paragraph
quoting other sources (published figures, earlier runs) names them in a note that lists
those figures: `<!-- quotes: published targets 0.045 0.030 -->`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = "benchmarks/results"

TABLE = re.compile(r"(?ms)^<!-- results: (?P<spec>[^\n]*?) -->\n(?P<body>.*?)^<!-- /results -->$")
INLINE = re.compile(r"<!-- result: (?P<spec>[^\n]*?) -->(?P<body>[^\n]*?)<!-- /result -->")
#: A section cites results `name` when it names results/name.(md|json) or benchmarks/name.py.
CITE = re.compile(r"benchmarks/(?:results/)?([a-z_]+)\.(?:md|json|py|\{json,md\})")
#: A decimal figure, not part of a version (3.11.7), an identifier or a longer number.
FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*\.\d+)(?![\w.]*\d)")
QUOTES = re.compile(r"<!-- quotes: (?P<what>\S[^\n]*?) -->")


class SpecError(ValueError):
    """A marked block that cannot be rendered: names the doc, line and reason."""


@dataclass(frozen=True)
class Column:
    field: str
    fmt: str
    label: str


@dataclass(frozen=True)
class Spec:
    path: str
    filters: dict[str, str]
    columns: list[Column]
    per: str = ""
    """Pivot: one column per value of this field, holding the last column's value; the
    other columns name the row."""


def docs(root: Path = ROOT) -> list[Path]:
    """The Markdown files whose figures are kept: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def parse_spec(text: str) -> Spec:
    """`path field=value ... | col[:fmt][ as label], ...` as a Spec."""
    where, sep, show = text.partition("|")
    tokens = shlex.split(where)
    if not sep or not tokens or not show.strip():
        raise SpecError(f"expected 'PATH [field=value ...] | columns', got {text!r}")
    show, _, pivot = show.partition("|")
    per = pivot.strip().removeprefix("per ").strip()
    if pivot.strip() and (not pivot.strip().startswith("per ") or " " in per):
        raise SpecError(f"expected '| per FIELD' after the columns, got {pivot.strip()!r}")
    filters = {}
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq or not key:
            raise SpecError(f"filter {token!r} is not field=value")
        filters[key] = value
    columns = []
    for part in re.split(r",\s+", show.strip()):
        name, _, label = part.strip().partition(" as ")
        field, _, fmt = name.strip().partition(":")
        if not field:
            raise SpecError(f"empty column in {text!r}")
        columns.append(Column(field, fmt, label.strip() or field))
    if per and len(columns) < 2:
        raise SpecError(f"a pivot needs a row column and a value column: {text!r}")
    return Spec(tokens[0], filters, columns, per.strip())


def records(spec: Spec, root: Path = ROOT) -> list[dict[str, Any]]:
    """The records of the spec's results file that pass its filters, in file order."""
    path = root / spec.path
    if not spec.path.startswith(RESULTS + "/") or path.suffix != ".json":
        raise SpecError(f"{spec.path}: a block quotes a JSON file under {RESULTS}/")
    if not path.is_file():
        raise SpecError(f"{spec.path}: no such results file")
    rows = json.loads(path.read_text())
    if not isinstance(rows, list):
        raise SpecError(f"{spec.path}: not a list of flat records")
    for key in spec.filters:
        if not any(key in r for r in rows):
            raise SpecError(f"{spec.path}: no record has the field {key!r}")
    return [r for r in rows if all(_text(r.get(k)) == v for k, v in spec.filters.items())]


def cell(value: Any, fmt: str) -> str:
    """One value as the doc shows it: empty when missing, `fmt` or four significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if fmt:
        try:
            return format(value, fmt)
        except (TypeError, ValueError):
            raise SpecError(f"format {fmt!r} does not apply to {value!r}") from None
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def render_table(spec: Spec, root: Path = ROOT) -> str:
    rows = records(spec, root)
    if not rows:
        raise SpecError(f"{spec.path}: no record matches {spec.filters}")
    _check_fields(spec, rows)
    if spec.per:
        return _pivot(spec, rows)
    lines = ["| " + " | ".join(c.label for c in spec.columns) + " |"]
    lines.append("|" + "---|" * len(spec.columns))
    for r in rows:
        lines.append("| " + " | ".join(cell(r.get(c.field), c.fmt) for c in spec.columns) + " |")
    return "\n".join(lines) + "\n"


def _pivot(spec: Spec, rows: list[dict[str, Any]]) -> str:
    *keys, value = spec.columns
    wide = list(dict.fromkeys(_text(r.get(spec.per)) for r in rows))
    table: dict[tuple[str, ...], dict[str, str]] = {}
    for r in rows:
        name = tuple(cell(r.get(c.field), c.fmt) for c in keys)
        table.setdefault(name, {})[_text(r.get(spec.per))] = cell(r.get(value.field), value.fmt)
    lines = ["| " + " | ".join([*(c.label for c in keys), *wide]) + " |"]
    lines.append("|" + "---|" * (len(keys) + len(wide)))
    for name, cells in table.items():
        lines.append("| " + " | ".join([*name, *(cells.get(w, "") for w in wide)]) + " |")
    return "\n".join(lines) + "\n"


def render_value(spec: Spec, root: Path = ROOT) -> str:
    rows = records(spec, root)
    if len(rows) != 1:
        raise SpecError(f"{spec.path}: {len(rows)} records match {spec.filters}, not one")
    _check_fields(spec, rows)
    return " ".join(cell(rows[0].get(c.field), c.fmt) for c in spec.columns)


def render(text: str, doc: str = "", root: Path = ROOT) -> str:
    """`text` with every marked block's content rendered from its results file."""

    def table(m: re.Match) -> str:
        spec = _spec(m, text, doc)
        try:
            body = render_table(spec, root)
        except SpecError as e:
            raise SpecError(f"{doc}:{_line(text, m.start())}: {e}") from None
        return f"<!-- results: {m.group('spec')} -->\n{body}<!-- /results -->"

    def inline(m: re.Match) -> str:
        spec = _spec(m, text, doc)
        try:
            value = render_value(spec, root)
        except SpecError as e:
            raise SpecError(f"{doc}:{_line(text, m.start())}: {e}") from None
        return f"<!-- result: {m.group('spec')} -->{value}<!-- /result -->"

    parts = re.split(r"(?ms)(^```.*?^```)", text)  # examples in code blocks stay as written
    return "".join(
        p if p.startswith("```") else INLINE.sub(inline, TABLE.sub(table, p)) for p in parts
    )


def stale(root: Path = ROOT) -> list[str]:
    """Docs whose marked blocks differ from what their results files render, with the
    first differing line."""
    problems = []
    for path in docs(root):
        text = path.read_text()
        name = str(path.relative_to(root))
        fresh = render(text, name, root)
        if fresh != text:
            old, new = text.splitlines(), fresh.splitlines()
            i = next(
                (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), len(old)
            )
            got = old[i] if i < len(old) else ""
            want = new[i] if i < len(new) else ""
            problems.append(
                f"{name}:{i + 1}: block differs from its results file: {got!r} should be {want!r}"
            )
    return problems


def stray_figures(root: Path = ROOT) -> list[str]:
    """Decimal figures in sections that cite a results file, outside code and marked
    blocks, that are not a value of those results (see the module docstring)."""
    problems = []
    for path in docs(root):
        name = str(path.relative_to(root))
        raw = path.read_text()
        lines = _blank(raw).splitlines()
        raw_lines = raw.splitlines()
        starts = [i for i, row in enumerate(lines) if re.match(r"#{1,6} ", row)]
        for begin, end in zip([0, *starts], [*starts, len(lines)], strict=True):
            cited = "\n".join(raw_lines[begin:end])
            names = sorted({n for n in CITE.findall(cited) if _results(root, n).is_file()})
            if not names:
                continue
            values = [v for n in names for v in _values(_read(_results(root, n)))]
            files = ", ".join(f"{n}.json" for n in names)
            problems += [
                f"{name}:{begin + i + 1}: {fig} is not in {files}"
                for i, fig in _figures("\n".join(lines[begin:end]))
                if not _found(fig, values)
            ]
    return problems


# ================================================================================ helpers
def _spec(m: re.Match, text: str, doc: str) -> Spec:
    try:
        return parse_spec(m.group("spec"))
    except SpecError as e:
        raise SpecError(f"{doc}:{_line(text, m.start())}: {e}") from None


def _check_fields(spec: Spec, rows: list[dict[str, Any]]) -> None:
    fields = [c.field for c in spec.columns] + ([spec.per] if spec.per else [])
    missing = [f for f in fields if not any(f in r for r in rows)]
    if missing:
        raise SpecError(f"{spec.path}: no matching record has {', '.join(missing)}")


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool | None) else str(value)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _results(root: Path, name: str) -> Path:
    return root / RESULTS / f"{name}.json"


def _blank(text: str) -> str:
    """`text` with what is not a figure from the results blanked (line numbers kept): code
    blocks, code spans, link targets, marked blocks, and in a paragraph with a `quotes`
    note the figures that note lists."""

    def keep_lines(m: re.Match) -> str:
        return "\n" * m.group(0).count("\n")

    text = re.sub(r"(?ms)^```.*?^```", keep_lines, text)
    text = TABLE.sub(keep_lines, text)
    text = INLINE.sub("", text)
    text = "".join(_unquoted(p) for p in re.split(r"(\n[ \t]*\n)", text))
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.sub(r"\]\([^)\n]*\)", "]", text)


def _unquoted(paragraph: str) -> str:
    """The paragraph without its `quotes` notes and without the figures they list."""
    listed = {f for m in QUOTES.finditer(paragraph) for f in FIGURE.findall(m.group("what"))}
    paragraph = QUOTES.sub("", paragraph)
    return FIGURE.sub(lambda m: "" if m.group(1) in listed else m.group(0), paragraph)


def _figures(section: str) -> list[tuple[int, str]]:
    rows = enumerate(section.splitlines())
    return [(i, f.group(1)) for i, row in rows for f in FIGURE.finditer(row)]


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def _values(obj: Any) -> list[float]:
    """Every number of a results file (numbers written inside its strings included) and,
    per record, each count divided by another (a share such as positives / n_test)."""
    if isinstance(obj, dict):
        counts = [v for v in obj.values() if isinstance(v, int) and not isinstance(v, bool)]
        shares = [a / b for a in counts for b in counts if b and a < b]
        return [v for x in obj.values() for v in _values(x)] + shares
    if isinstance(obj, list):
        return [v for x in obj for v in _values(x)]
    if isinstance(obj, bool):
        return []
    if isinstance(obj, int | float):
        return [float(obj)] if math.isfinite(obj) else []
    if isinstance(obj, str):
        return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", obj)]
    return []


def _found(figure: str, values: list[float]) -> bool:
    """Whether `figure` is a value rounded to its decimals (or that value x100 as a
    percentage, /1000 in thousands, without its sign)."""
    digits = len(figure.split(".")[1])
    x = float(figure.replace(",", ""))
    for v in values:
        for w in (abs(v), abs(v) * 100, abs(v) / 1000):
            if abs(w - x) <= 0.5 * 10**-digits * (1 + 1e-9):  # rounded half up or down
                return True
    return False


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename, so a reader never sees half a doc."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="report, rewrite nothing")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = stale() + stray_figures()
            print("\n".join(problems) or "every quoted figure matches its results file")
            return 1 if problems else 0
        for path in docs():
            text = path.read_text()
            fresh = render(text, str(path.relative_to(ROOT)))
            if fresh != text:
                write_atomic(path, fresh)
                print(f"rewrote {path.relative_to(ROOT)}")
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
