"""Regenerate the bundled UCI Online Retail sample, byte for byte.

    .venv/bin/python scripts/make_sample.py [--source PATH] [--out PATH]

Reads `online_retail.csv.gz` from the shared data folder (settings' `data_root`), keeps every
row of the customers whose integer CustomerID is divisible by SAMPLE_DIVISOR (4) - so no guest
rows - and writes them with the original columns and text untouched (every field is read and
written as a string), gzip level 9 with no file name and mtime 0 (like `gzip -9 -n`), so the
output is reproducible. See src/shopsense/data/sample/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
from pathlib import Path

import pandas as pd

from shopsense.config import Settings
from shopsense.data.sources import SAMPLE_DIVISOR, SAMPLE_PATH


def make_sample(source: Path, out: Path, divisor: int = SAMPLE_DIVISOR) -> pd.DataFrame:
    """Write the sample of `source` to `out`; returns the rows written."""
    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    ids = pd.to_numeric(raw["CustomerID"].replace("", None)).astype("Int64")
    subset = raw[(ids % divisor == 0).fillna(False).to_numpy(dtype=bool)]
    text = io.StringIO()
    subset.to_csv(text, index=False, lineterminator="\n")
    data = gzip.compress(text.getvalue().encode("utf-8"), compresslevel=9, mtime=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return subset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=Settings().data_root / "uci-online-retail" / "online_retail.csv.gz",
    )
    parser.add_argument("--out", type=Path, default=SAMPLE_PATH)
    args = parser.parse_args()
    subset = make_sample(args.source, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(
        f"{args.out}: {len(subset):,} rows, {subset['CustomerID'].nunique():,} customers, "
        f"{subset['InvoiceNo'].nunique():,} invoices, {args.out.stat().st_size:,} bytes, "
        f"sha256 {digest}"
    )


if __name__ == "__main__":
    main()
