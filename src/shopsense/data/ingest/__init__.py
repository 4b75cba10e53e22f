"""Reading a shop's files into frames that match the schema, with a precise list of faults.

A shop owner who exports orders from a till or a web shop gets files with typos, stray
headers and odd encodings. Every fault found here names the file, the line as an editor
shows it, the column and the reason, so the file can be fixed instead of guessed at. Nothing
is loaded from here: the store decides what to do with the good and the bad rows.

Formats: CSV, TSV, JSON lines and Parquet; the text formats may be gzip-compressed.

One module per job: `formats` (which reader, decoding bytes), `delimited` and `jsonl` (rows
of text with their line numbers), `text` and `parse` (typing a column), `validate`
(a frame against the schema), `files` (one file end to end), `problems` (faults and the
error that rejects a file) and `checked` (the result).
"""

from __future__ import annotations

from shopsense.data.ingest.checked import Checked, frame_dtype
from shopsense.data.ingest.files import check_file, read_table_file
from shopsense.data.ingest.formats import FORMATS, detect_format
from shopsense.data.ingest.problems import MAX_PROBLEMS, MESSAGE_PROBLEMS, IngestError, Problem
from shopsense.data.ingest.validate import check_frame, validate_frame

__all__ = [
    "FORMATS",
    "MAX_PROBLEMS",
    "MESSAGE_PROBLEMS",
    "Checked",
    "IngestError",
    "Problem",
    "check_file",
    "check_frame",
    "detect_format",
    "frame_dtype",
    "read_table_file",
    "validate_frame",
]
