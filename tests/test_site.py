"""The built site: strict, warning-free, reproducible, with working links and no remote assets."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from conftest import build_site


def html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "assets" not in p.parts)


def test_strict_build_has_no_warnings(site_build):
    dest, proc = site_build
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert not re.search(r"^(WARNING|ERROR)\b", log, re.M), log
    assert (dest / "index.html").is_file()
    assert (dest / "search" / "search_index.json").is_file()


def test_no_unrendered_fences(built_site):
    """A fence that superfences cannot parse (say ```python continuation) silently becomes a <p>."""
    broken = re.compile(r"<p>(`{3,}|~{3,})|<p><code>\{?\.?(python|py|pycon|text)\b")
    offenders = [str(p) for p in html_pages(built_site) if broken.search(p.read_text("utf8"))]
    assert offenders == []


def test_markdown_exec_blocks_ran_cleanly(built_site):
    """A failing markdown-exec block would put its traceback in the page."""
    offenders = [
        str(p)
        for p in html_pages(built_site)
        if "Traceback (most recent call last)" in p.read_text("utf8")
    ]
    assert offenders == []


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "link" and attrs.get("rel") == "canonical":
            return  # names the page's public address; the browser does not fetch it
        for name in ("href", "src"):
            if attrs.get(name):
                self.links.append((tag, attrs[name]))


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text("utf8"))
    return parser


def test_every_local_link_and_anchor_resolves(built_site):
    """Our own checker on the rendered HTML (independent of the htmlproofer plugin)."""
    parsed = {p: _parse(p) for p in html_pages(built_site)}
    broken = []
    for page, links in parsed.items():
        for _tag, link in links.links:
            parts = urlsplit(link)
            if parts.scheme in ("data", "mailto", "javascript"):
                continue
            if parts.scheme or parts.netloc:
                continue  # external links are checked in test_no_remote_assets
            if not parts.path:
                target = page
            elif parts.path.startswith("/"):  # 404.html links from the site root
                target = built_site / unquote(parts.path).lstrip("/")
            else:
                target = (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(built_site)}: {link}")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(built_site)}: {link} (no such anchor)")
    assert broken == []


def test_no_remote_assets(built_site):
    """Scripts, styles, images and fonts all come from the site itself."""
    remote = []
    for page in html_pages(built_site):
        for tag, link in _parse(page).links:
            loads = tag in ("script", "link", "img", "iframe", "source")
            if loads and re.match(r"(https?:)?//", link):
                remote.append(f"{page.relative_to(built_site)}: <{tag}> {link}")
    for css in built_site.rglob("*.css"):
        for url in re.findall(r"url\(([^)]+)\)", css.read_text("utf8")):
            if re.match(r"['\"]?(https?:)?//", url):
                remote.append(f"{css.relative_to(built_site)}: {url}")
    assert remote == []


# Pages that print wall-clock timings measured while the site is built (by design: they show the
# cost of reverse and forward mode on the reader's own machine), so they differ between builds.
MEASURES_TIME = {Path("part2/backpropagation/index.html")}


def test_rebuild_is_byte_identical(built_site, tmp_path):
    """Figures are drawn at build time; with fixed salt and date two builds are identical."""
    proc = build_site(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = {p.relative_to(built_site): p.read_bytes() for p in html_pages(built_site)}
    second = {p.relative_to(tmp_path): p.read_bytes() for p in html_pages(tmp_path)}
    assert first.keys() == second.keys()
    assert MEASURES_TIME <= first.keys()
    assert [str(k) for k in first if first[k] != second[k] and k not in MEASURES_TIME] == []
