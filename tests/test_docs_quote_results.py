"""The docs quote benchmark figures from the results files, never typed by hand.

The first two tests read the real README.md and docs/*.md; the others show on a small
repository of their own that the check catches a stale block and a stray figure.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("render_results", ROOT / "scripts/render_results.py")
render_results = importlib.util.module_from_spec(_spec)
sys.modules["render_results"] = render_results
_spec.loader.exec_module(render_results)


def test_every_marked_block_is_what_its_results_file_renders():
    assert render_results.stale() == [], "run: .venv/bin/python scripts/render_results.py"


def test_every_figure_near_a_results_file_is_one_of_its_values():
    assert render_results.stray_figures() == []


def test_the_headline_docs_quote_through_blocks():
    for doc in ("README.md", "docs/images.md", "docs/recommend.md", "docs/reviews.md"):
        assert "<!-- result" in (ROOT / doc).read_text(), doc


RECORDS = [
    {"task": "classify", "model": "cnn", "accuracy": 0.93531, "n": 57000, "positives": 656},
    {"task": "classify", "model": "logreg", "accuracy": 0.8403, "n": 20000, "positives": 5180},
    {"task": "search", "model": "cnn", "precision_at_10": 0.9075},
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "benchmarks/results").mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "benchmarks/results/images.json").write_text(json.dumps(RECORDS))
    (tmp_path / "README.md").write_text("# shop\n")
    return tmp_path


TABLE = (
    "<!-- results: benchmarks/results/images.json task=classify | model, accuracy:.3f as acc, n"
    " -->\n"
)


def test_a_table_block_renders_the_matching_records_in_file_order(repo: Path):
    text = render_results.render(TABLE + "<!-- /results -->\n", "doc.md", repo)
    assert text.splitlines()[1:5] == [
        "| model | acc | n |",
        "|---|---|---|",
        "| cnn | 0.935 | 57,000 |",
        "| logreg | 0.840 | 20,000 |",
    ]


def test_an_edited_figure_in_a_block_is_stale(repo: Path):
    doc = repo / "docs/images.md"
    doc.write_text(render_results.render(TABLE + "<!-- /results -->\n", "d", repo))
    assert render_results.stale(repo) == []
    doc.write_text(doc.read_text().replace("0.935", "0.940"))
    [problem] = render_results.stale(repo)
    assert problem.startswith("docs/images.md:4:") and "0.940" in problem


def test_an_inline_value_must_match_one_record(repo: Path):
    spec = "benchmarks/results/images.json task=search | precision_at_10:.1%"
    text = f"precision <!-- result: {spec} -->old<!-- /result --> at 10"
    assert render_results.render(text, "d", repo) == text.replace("old", "90.8%")
    with pytest.raises(render_results.SpecError, match=r"d:1: .*2 records match"):
        render_results.render(text.replace("task=search", "task=classify"), "d", repo)


def test_a_block_naming_a_missing_field_or_file_says_where(repo: Path):
    with pytest.raises(render_results.SpecError, match=r"d:2: .*no matching record has f1"):
        render_results.render("x\n" + TABLE.replace(", n", ", f1") + "<!-- /results -->", "d", repo)
    with pytest.raises(render_results.SpecError, match="no such results file"):
        render_results.render(TABLE.replace("images", "nope") + "<!-- /results -->\n", "d", repo)


def test_a_figure_in_a_citing_section_must_be_a_value_of_the_results(repo: Path):
    doc = repo / "docs/images.md"
    doc.write_text(
        "# Images\n\nFrom `benchmarks/results/images.json`: accuracy 0.9353 (93.5%), "
        "precision 0.908, 25.9% positives, logreg 0.84.\n\nThe CNN reached 0.9391.\n"
        "\n```\nnot checked: 0.1234\n```\n\n# Other\n\nUnrelated 0.777.\n"
    )
    assert render_results.stray_figures(repo) == ["docs/images.md:5: 0.9391 is not in images.json"]


def test_a_quotes_note_exempts_only_the_figures_it_lists(repo: Path):
    doc = repo / "docs/images.md"
    body = "Run with `benchmarks/images.py`. Published: 0.9391, ours 0.9353, earlier 0.9111."
    doc.write_text(f"# Images\n\n{body}\n<!-- quotes: published 0.9391 -->\n")
    assert render_results.stray_figures(repo) == ["docs/images.md:3: 0.9111 is not in images.json"]
