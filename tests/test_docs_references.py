"""Every "theory.md §<id>" reference in the repository names a section of docs/theory.md.

docs/theory.md numbers its foundation sections with headings "## §<id>. Title" (§1 … §5, §4b);
docstrings, tests and documents cite them as "docs/theory.md §<id>" (also in lists such as
"§3, §4b" and ranges such as "§2–§5"). A reference to a missing heading fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "theory.md"
SKIP_DIRS = {".git", ".venv", "node_modules", "build", "dist", "__pycache__", ".pytest_cache",
             ".ruff_cache", ".hypothesis"}

#: "theory.md " followed by one or more §ids joined by commas, "and", "/" or dashes.
_REFERENCE = re.compile(
    r"theory\.md,?\s+(§[0-9]+[a-z]?(?:\s*(?:,|and|/|–|—|-)\s*§[0-9]+[a-z]?)*)"
)
_ID = re.compile(r"§([0-9]+[a-z]?)")
_HEADING = re.compile(r"^## §([0-9]+[a-z]?)\. \S", re.MULTILINE)


def _sources() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        if path.suffix not in (".py", ".md") or not path.is_file():
            continue
        if SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
            continue
        files.append(path)
    return sorted(files)


def cited_ids(text: str) -> set[str]:
    """Section ids cited as "theory.md §<id>" in ``text``."""
    return {i for match in _REFERENCE.finditer(text) for i in _ID.findall(match.group(1))}


def heading_ids(text: str) -> set[str]:
    """Section ids with a "## §<id>. Title" heading in ``text``."""
    return set(_HEADING.findall(text))


def test_reference_parser() -> None:
    text = "see docs/theory.md §3, §4b and theory.md §2–§5; docs/theory.md §n is a placeholder"
    assert cited_ids(text) == {"3", "4b", "2", "5"}
    assert heading_ids("## §1. A\n## §4b. B\n### §9. not a section\n## §7 no dot\n") == {"1", "4b"}


def test_every_theory_reference_has_a_heading() -> None:
    headings = heading_ids(PAGE.read_text(encoding="utf-8"))
    assert {"1", "2", "3", "4", "4b", "5"} <= headings
    dangling = []
    n_refs = 0
    for path in _sources():
        text = path.read_text(encoding="utf-8", errors="replace")
        ids = cited_ids(text)
        n_refs += len(ids)
        dangling += [f"{path.relative_to(ROOT)}: §{i}" for i in sorted(ids - headings)]
    assert n_refs > 0, "no theory.md references found: the scan is broken"
    assert not dangling, "references to sections missing from docs/theory.md:\n" + "\n".join(dangling)


def test_every_heading_has_an_anchor() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for i in heading_ids(text):
        assert f'<a id="s{i}"></a>\n## §{i}. ' in text, f"§{i} has no anchor s{i}"
