"""Every python fence of the book is collected by pytest, and fence info strings are valid."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = sorted(p for p in (ROOT / "docs").rglob("*.md") if "assets" not in p.parts)
BOOK.append(ROOT / "README.md")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<mark>`{3,}|~{3,})(?P<info>[^`\n]*)$", re.M)
PYTHON = re.compile(r"^\s*\{?\.?(python3?|py)(\s|\}|$)")


def raw_fences(path: Path) -> list[tuple[str, str]]:
    """(info, code) of the tested python fences, by a plain scan of the text (no parser)."""
    text = path.read_text("utf8")
    found, opened = [], None
    for m in FENCE.finditer(text):
        if opened is None:
            opened = m
        elif m["mark"].startswith(opened["mark"]) and not m["info"].strip():
            info = opened["info"].strip()
            if PYTHON.match(info) and "notest" not in info:
                indent = len(opened["indent"])
                body = text[opened.end() + 1 : m.start()].splitlines()
                found.append((info, "".join(line[indent:] + "\n" for line in body)))
            opened = None
    return found


def raw_python_fences(path: Path) -> list[str]:
    return [info for info, _ in raw_fences(path)]


def test_every_python_fence_is_collected():
    expected = {p.relative_to(ROOT).as_posix(): len(raw_python_fences(p)) for p in BOOK}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly"]
        + [p.relative_to(ROOT).as_posix() for p in BOOK],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    collected = Counter(
        line.split("::")[0] for line in proc.stdout.splitlines() if "::[CodeFence#" in line
    )
    assert sum(expected.values()) > 0
    assert {k: collected.get(k, 0) for k in expected} == expected


def test_pytest_sees_each_fence_whole():
    """The parser pytest uses must see every line of every fence (an admonition that it closes
    early, at two blank lines, would silently cut a solution's asserts off)."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.admon import admon_plugin

    md = MarkdownIt("commonmark").use(admon_plugin)  # the parser conftest.py gives the plugin
    for path in BOOK:
        parsed = [
            t.content
            for t in md.parse(path.read_text("utf8"))
            if t.type == "fence" and PYTHON.match(t.info) and "notest" not in t.info
        ]
        raw = [code for _, code in raw_fences(path)]
        assert len(parsed) == len(raw), path
        for got, want in zip(parsed, raw, strict=True):
            assert got == want, (
                f"{path.relative_to(ROOT)}: pytest would run\n{got}\ninstead of\n{want}"
            )


def test_fence_info_strings_are_valid_for_superfences():
    """A bare word after the language (```python continuation) breaks Material silently."""
    bad = []
    for path in BOOK:
        for m in FENCE.finditer(path.read_text("utf8")):
            info = m["info"].strip()
            words = info.split()[1:] if not info.startswith("{") else []
            loose = [w for w in words if "=" not in w]
            if loose:
                bad.append(f"{path.relative_to(ROOT)}: {info}")
    assert bad == []


def test_no_continuation_markers():
    """Blocks on a page already share state (see conftest.py); continuation would re-run them."""
    used = [str(p) for p in BOOK if "continuation" in "".join(raw_python_fences(p))]
    assert used == []
