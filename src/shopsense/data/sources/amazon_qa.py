"""Amazon product Q&A, Appliances (McAuley & Yang, WWW 2016): 9,011 customer questions on
1,153 products, each with one community answer.

File: `<root>/amazon-qa-appliances/qa_Appliances.json.gz`: one Python dict literal per line
(single quotes, so not JSON) with asin, question, answer, questionType, answerType,
answerTime and unixTime. Research use only: never ship it.

Table: `questions`.
"""

from __future__ import annotations

import ast
import gzip
from pathlib import Path

import pandas as pd

from shopsense.data.sources import SourceData, conform, require_files, resolve_root

DATASET = "amazon-qa-appliances"
FILE = "qa_Appliances.json.gz"


def load_amazon_qa(root: Path | str | None = None) -> SourceData:
    """Map the Q&A pairs (language en). A line that cannot be read, or lacks asin or
    question, is left out and named in the notes; the rest still load."""
    (path,) = require_files(resolve_root(root) / DATASET, [FILE], DATASET)
    records: list[dict[str, object]] = []
    problems: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = ast.literal_eval(line)
            except (ValueError, SyntaxError) as e:
                problems.append(f"{path}, line {line_no}: not a record ({type(e).__name__})")
                continue
            if not isinstance(rec, dict):
                problems.append(f"{path}, line {line_no}: not a dict")
                continue
            for field in ("asin", "question"):
                if not str(rec.get(field) or "").strip():
                    problems.append(f"{path}, line {line_no}, field {field!r}: empty")
                    break
            else:
                rec["_line"] = line_no
                records.append(rec)
    raw = pd.DataFrame.from_records(records)
    seconds = pd.to_numeric(raw.get("unixTime"), errors="coerce")
    stamped = pd.to_datetime(seconds, unit="s")
    written = pd.to_datetime(raw.get("answerTime"), format="%b %d, %Y", errors="coerce")
    answer = raw["answer"].where(raw["answer"].notna(), None)
    frame = pd.DataFrame(
        {
            "question_id": "aqa-" + raw["_line"].astype(str),
            "item_id": raw["asin"].astype(str).str.strip(),
            "question": raw["question"].astype(str).str.strip(),
            "answer": answer,
            "time": stamped.fillna(written),
            "language": "en",
        }
    )
    questions = conform("questions", frame)
    notes = (
        f"questions: {len(questions):,} question-answer pairs on "
        f"{questions['item_id'].nunique():,} products",
        "question_id = aqa-<1-based line number>; time = when the answer was given "
        "(unixTime, else answerTime)",
        f"left out: {len(problems)} line(s)"
        + (f" ({'; '.join(problems[:3])})" if problems else ""),
        "licence: research use (UCSD), cite McAuley & Yang 2016 - do not redistribute",
    )
    return SourceData(name=DATASET, tables={"questions": questions}, notes=notes)
