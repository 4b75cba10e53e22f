"""Which reader a file needs (from its name or a given format), its bytes as UTF-8 text
(each line holding a byte that is not UTF-8 reported), and a .txt file's delimiter."""

from __future__ import annotations

import re
from pathlib import Path

from shopsense.data.ingest.problems import MAX_PROBLEMS, Problem

FORMATS = ("csv", "tsv", "jsonl", "parquet")
_FORMAT_ALIASES = {
    "csv": "csv",
    "txt": "txt",
    "tsv": "tsv",
    "tab": "tsv",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "parquet": "parquet",
    "pq": "parquet",
}
BOM = b"\xef\xbb\xbf"


def detect_format(path: Path, format: str | None = None) -> str:
    """The reader for `path`: from `format` if given, else from its suffix (".gz" ignored)."""
    if format is not None:
        key = format.lower().lstrip(".")
        if key not in _FORMAT_ALIASES:
            raise ValueError(f"unknown format {format!r}; formats are: {', '.join(FORMATS)}")
        return _FORMAT_ALIASES[key]
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    key = suffixes[-1].lstrip(".") if suffixes else ""
    if key not in _FORMAT_ALIASES:
        raise ValueError(
            f"cannot tell the format from the name {path.name!r}; use a .csv, .tsv, .jsonl or "
            f".parquet name (optionally .gz) or pass the format"
        )
    return _FORMAT_ALIASES[key]


def decode(raw: bytes, source: str) -> tuple[str, list[Problem], int]:
    """Decode UTF-8; on failure report each line holding a byte that is not UTF-8."""
    try:
        return raw.decode("utf-8"), [], 0
    except UnicodeDecodeError:
        pass
    text = raw.decode("utf-8", errors="surrogateescape")
    problems: list[Problem] = []
    bad_lines = 0
    line, pos, last_line = 1, 0, 0
    for match in re.finditer("[\udc80-\udcff]", text):
        line += text.count("\n", pos, match.start())
        pos = match.start()
        if line == last_line:
            continue
        last_line = line
        bad_lines += 1
        if len(problems) < MAX_PROBLEMS:
            byte = ord(match.group()) - 0xDC00
            reason = f"not valid UTF-8 (byte 0x{byte:02X}); save the file as UTF-8"
            problems.append(Problem(source, line, None, reason))
    return text, problems, bad_lines


def sniff(text: str) -> str:
    """Delimiter of a .txt file: the most frequent of tab, comma, semicolon, bar in line 1."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in ("\t", ",", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","
