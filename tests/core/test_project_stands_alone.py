"""The project stands alone: service semantics are cited from docs/semantics/ (in the
repository), never from notes outside it, and every cited page and section exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEMANTICS = ROOT / "docs" / "semantics"
# Built from parts so that this file does not cite them itself.
OUTSIDE_NOTES = ("WEAVE_" + "SEMANTICS", "ANNOFAB_" + "NOTES", "../" + "shared")
CITATION = re.compile(r"docs/semantics/([\w-]+\.md)(?:\s*\(\"([^\"]+)\"\))?")


def _project_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for folder in ("src", "tests", "benchmarks", "docs"):
        files += [
            p
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and p.suffix in {".py", ".md", ".txt", ".toml", ".yaml", ".cfg"}
        ]
    return files


def _headings(page: Path) -> set[str]:
    return {
        line.lstrip("#").strip()
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }


def test_no_file_cites_notes_that_are_not_in_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _project_files()
        for name in OUTSIDE_NOTES
        if name in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert offenders == []


def test_the_semantics_pages_exist_and_every_citation_names_a_real_page_and_section() -> None:
    assert (SEMANTICS / "weave.md").is_file()
    assert (SEMANTICS / "annofab.md").is_file()
    citations = 0
    for path in _project_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in CITATION.finditer(text.replace("\n", " ")):
            citations += 1
            page = SEMANTICS / match.group(1)
            assert page.is_file(), f"{path.relative_to(ROOT)} cites {match.group(0)}"
            section = match.group(2)
            if section is not None:
                assert section in _headings(page), f"{path.relative_to(ROOT)}: {section!r}"
    assert citations >= 5  # the code and tests do point to the pages
