"""The built site in headless Chromium: math, search, figures, navigation, and no external requests.

Runs against Debian's chromium (``apt-get install chromium``); skipped with that hint if absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def page_urls() -> list[str]:
    urls = []
    for md in sorted(DOCS.rglob("*.md")):
        if "assets" in md.parts:
            continue
        rel = md.relative_to(DOCS).with_suffix("").as_posix()
        urls.append("" if rel == "index" else rel.removesuffix("/index") + "/")
    return urls


PAGES = page_urls()


def wait_for_math(page) -> int:
    """Wait until every arithmatex element holds KaTeX output; return how many there are."""
    page.wait_for_function(
        "[...document.querySelectorAll('.arithmatex')].every(e => e.querySelector('.katex'))",
        timeout=15_000,
    )
    assert page.locator(".katex-error").count() == 0, page.locator(".katex-error").all_inner_texts()
    return page.locator(".arithmatex .katex").count()


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_without_errors_or_external_requests(page, site_url, path):
    page.goto(site_url + path, wait_until="load")
    wait_for_math(page)
    page.wait_for_load_state("networkidle")
    assert page.log.external_requests == []
    assert page.log.console_errors == []
    assert page.log.failed_requests == []
    assert page.log.requests, "the request log recorded nothing: the route hook is not working"


@pytest.mark.parametrize("path", ["why-calculus/"])
def test_chapter_math_is_typeset(page, site_url, path):
    page.goto(site_url + path, wait_until="load")
    assert wait_for_math(page) >= 10


def test_search_finds_a_chapter_by_a_word_in_it(page, site_url):
    page.goto(site_url, wait_until="networkidle")
    page.locator("input.md-search__input").click()
    page.keyboard.type("sigmoid", delay=20)  # Material listens to key events; fill() is not enough
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=10_000)
    text = page.locator(".md-search-result").inner_text().lower()
    assert "sigmoid" in text
    assert "one neuron" in text
    assert page.log.console_errors == []


def test_instant_navigation_rerenders_math(page, site_url):
    page.goto(site_url, wait_until="load")
    page.locator("article a[href$='why-calculus/']").first.click()
    page.wait_for_url("**/why-calculus/")
    assert wait_for_math(page) >= 10
    assert page.log.console_errors == []


def test_figures_are_visible(page, site_url):
    page.goto(site_url + "why-calculus/", wait_until="networkidle")
    figures = page.locator(".cb-figure svg")
    assert figures.count() >= 1
    for i in range(figures.count()):
        figures.nth(i).scroll_into_view_if_needed()
        box = figures.nth(i).bounding_box()
        assert figures.nth(i).is_visible() and box["width"] > 200 and box["height"] > 100


def test_dark_mode_toggle(page, site_url):
    page.goto(site_url, wait_until="load")
    before = page.locator("body").get_attribute("data-md-color-scheme")
    page.locator("label.md-header__button[for^='__palette']:visible").first.click()
    after = page.locator("body").get_attribute("data-md-color-scheme")
    assert {before, after} == {"default", "slate"}
