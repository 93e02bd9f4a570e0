"""How pytest runs the book's code (pytest-markdown-docs 0.9.2, pinned: this uses its runner API).

The rules, in the order a reader meets them:

1. Every python fence in ``docs/**/*.md`` and ``README.md`` is a test, including fences inside
   admonitions and collapsible ``???`` blocks (the parser below understands them).
   ``tests/test_book_collection.py`` counts the fences in the raw text and fails if pytest saw
   fewer.
2. Blocks share state the way a reader running them in order would: all plain python blocks of a
   page run in one namespace, and all ``exec="on"`` (markdown-exec) blocks with the same
   ``session="..."`` run in one namespace, exactly as markdown-exec runs them when the site is
   built. Running one block alone (``pytest -k``) first replays the blocks above it, silently.
3. A plain block followed directly by a ``text title="Output"`` fence must print exactly that
   text. Output shown by markdown-exec is produced at build time, so it cannot drift.
4. Every block's stdout is captured (0.9.2 would otherwise print it to the terminal).
5. Docstring examples in ``calcbook/`` run as the upstream plugin runs them, with stdout captured.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import pathlib
import re

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.admon import admon_plugin
from pytest_markdown_docs._runners import DefaultRunner, register_runner

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # as the site build
    os.environ.setdefault(_var, "1")  # (before anything imports NumPy: see tools/mkdocs_hooks.py)

PYTHON_LANGS = ("python", "py", "python3")
_FALSE = {"", "no", "off", "false", "0"}


def markdown_parser() -> MarkdownIt:
    """CommonMark plus admonitions (``!!!``, ``???``, ``???+``), so nested fences are collected."""
    return MarkdownIt("commonmark").use(admon_plugin)


def pytest_markdown_docs_markdown_it() -> MarkdownIt:
    return markdown_parser()


def pytest_configure(config):
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "calcbook"


def fence_language(info: str) -> str:
    info = info.strip()
    if info.startswith("{"):
        classes = [w for w in info.strip("{}").split() if w.startswith(".")]
        return classes[0][1:] if classes else ""
    return info.split()[0] if info else ""


def _option(info: str, name: str) -> str | None:
    found = re.search(rf'\b{name}="([^"]*)"', info)
    return found.group(1) if found else None


def is_tested(info: str) -> bool:
    return fence_language(info) in PYTHON_LANGS and "notest" not in info.strip("{}").split()


@functools.cache
def _page(path: str) -> list[dict]:
    """The tested python fences of a page, in order, with namespace key and expected output."""
    fences = [
        t
        for t in markdown_parser().parse(pathlib.Path(path).read_text("utf8"))
        if t.type == "fence"
    ]
    blocks = []
    for i, tok in enumerate(fences):
        if not is_tested(tok.info):
            continue
        executes = (_option(tok.info, "exec") or "").lower() not in _FALSE
        session = _option(tok.info, "session") if executes else None
        key = ("exec", session) if executes else ("page", None)
        if executes and session is None:
            key = ("exec-alone", tok.map[0])  # markdown-exec runs a block without session alone
        nxt = fences[i + 1] if i + 1 < len(fences) else None
        expected = None
        if nxt is not None and fence_language(nxt.info) == "text" and "output" in nxt.info.lower():
            expected = nxt.content
        blocks.append(
            {"line": tok.map[0] + 1, "key": key, "source": tok.content, "expected": expected}
        )
    return blocks


_namespaces: dict[tuple, dict] = {}  # (path, key) -> globals
_progress: dict[tuple, int] = {}  # (path, key) -> index of the last block run in that namespace


def _execute(source: str, line: int, path: str, namespace: dict) -> str:
    padded = "\n" * line + source
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(padded, path, "exec", dont_inherit=True), namespace)
    return buffer.getvalue()


@register_runner(default=True)
class BookRunner(DefaultRunner):
    def runtest(self, test, args, **kwargs):
        path = str(test.source_path)
        if test.source_path.suffix != ".md":
            with contextlib.redirect_stdout(io.StringIO()):
                return super().runtest(test, args, **kwargs)
        blocks = _page(path)
        index = next(i for i, b in enumerate(blocks) if b["line"] == test.start_line)
        block = blocks[index]
        slot = (path, block["key"])
        same = [i for i, b in enumerate(blocks) if b["key"] == block["key"]]
        done = _progress.get(slot, -1)
        if done >= index or slot not in _namespaces:  # fresh start, or a block run again
            _namespaces[slot] = dict(args)
            done = -1
        namespace = _namespaces[slot]
        for i in same:  # replay what a reader would have run above this block
            if done < i < index:
                _execute(blocks[i]["source"], blocks[i]["line"], path, namespace)
                _progress[slot] = i
        _progress[slot] = index  # a failing block still counts as run, like a reader's cell
        printed = _execute(block["source"], block["line"], path, namespace)
        expected = block["expected"]
        if expected is not None and printed.rstrip() != expected.rstrip():
            pytest.fail(
                "printed output differs from the Output block below it\n"
                f"--- expected\n{expected}--- printed\n{printed}",
                pytrace=False,
            )
