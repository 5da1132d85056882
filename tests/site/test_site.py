"""The built book, checked as a reader would see it.

Runs after the book is built (`make site-check`, part of `make test`), on the
HTML folder named by `$BOOK_HTML` (default: the quick build,
`_build/quick/_build/html`):

- every internal link and image reference resolves, fragments included;
- headless Chromium (Debian's `chromium`) renders the home page and one
  chapter: screenshots are saved to `$BOOK_SCREENSHOTS` (default
  `_build/screenshots`), and the rendered DOM has the title, the navigation,
  figures whose image files load, glued numbers, and folded solutions.

Without Chromium the browser checks are skipped with a message; without a
built book every check is skipped.
"""

import html.parser
import os
import pathlib
import re
import shutil
import subprocess
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HTML = pathlib.Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "quick" / "_build" / "html"))
SHOTS = pathlib.Path(os.environ.get("BOOK_SCREENSHOTS", ROOT / "_build" / "screenshots"))
CHAPTER = "notebooks/14_model_selection.html"
TITLE = "Why deep networks generalize"

pytestmark = pytest.mark.skipif(not (HTML / "index.html").exists(),
                                reason=f"no built book at {HTML}; run `make book-quick` first")


class _Refs(html.parser.HTMLParser):
    """Collects ids, and href/src references, of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key):
                self.refs.append((tag, a[key]))


def _parse(path, cache={}):
    if path not in cache:
        p = _Refs()
        p.feed(path.read_text(errors="replace"))
        cache[path] = p
    return cache[path]


def _pages():
    return sorted(p for p in HTML.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


def test_every_internal_link_resolves():
    broken, checked = [], 0
    for page in _pages():
        for tag, ref in _parse(page).refs:
            url = urllib.parse.urlsplit(ref)
            if url.scheme or ref.startswith(("//", "mailto:", "javascript:")):
                continue                         # external: not checked offline
            target = page if not url.path else (page.parent / urllib.parse.unquote(url.path)).resolve()
            checked += 1
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(HTML)}: {ref} (no file)")
            elif url.fragment and target.suffix == ".html" and url.fragment not in _parse(target).ids:
                broken.append(f"{page.relative_to(HTML)}: {ref} (no id {url.fragment!r})")
    print(f"link check: {checked} internal references in {len(_pages())} pages, {len(broken)} broken")
    assert checked > 500, checked
    assert not broken, "\n".join(broken[:50])


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed (Debian: apt-get install chromium); browser checks skipped")


def _render(page, shot):
    """The DOM of `page` after its scripts ran, and a screenshot of it."""
    browser = _chromium()
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = (HTML / page).resolve().as_uri()
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--virtual-time-budget=5000", "--window-size=1280,1600"]
    subprocess.run(common + [f"--screenshot={SHOTS / shot}", url], check=True, capture_output=True, timeout=120)
    dom = subprocess.run(common + ["--dump-dom", url], check=True, capture_output=True, text=True, timeout=120)
    return dom.stdout


def _png_loads(path):
    import matplotlib.image

    image = matplotlib.image.imread(path)
    return image.ndim >= 2 and min(image.shape[:2]) > 10


def test_home_page_renders_with_title_and_navigation():
    dom = _render("index.html", "home.png")
    assert TITLE in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    nav = re.findall(r'<a class="reference internal" href="([^"]+)"', dom)
    chapters = {h for h in nav if "notebooks/" in h}     # index.html redirects to book/intro.html
    assert len(chapters) >= 14, sorted(chapters)
    assert (SHOTS / "home.png").stat().st_size > 10_000
    assert _png_loads(SHOTS / "home.png")


def test_chapter_renders_figures_glued_numbers_and_folded_solutions():
    dom = _render(CHAPTER, "chapter.png")
    assert "Model selection" in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    # Figures: every image of the page is a file that decodes.
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', dom)
    assert len(images) >= 3, images
    page_dir = (HTML / CHAPTER).parent
    for src in images:
        assert _png_loads(page_dir / urllib.parse.unquote(src)), src
    # Glued numbers: pasted into the text, none left as a raw role.
    pasted = re.findall(r'<span class="pasted-text">([^<]*)</span>', dom)
    assert sum(bool(re.search(r"\d", p)) for p in pasted) >= 10, pasted[:20]
    assert "{glue:" not in dom
    # Exercises: each solution is folded (sphinx-togglebutton hides it) until the reader opens it.
    solutions = re.findall(r'<div class="(solution [^"]*)"', dom)
    exercises = re.findall(r'<div class="(exercise [^"]*)"', dom)
    assert len(solutions) >= 3 and len(exercises) == len(solutions), (solutions, exercises)
    assert all("toggle-hidden" in s.split() for s in solutions), solutions
    assert _png_loads(SHOTS / "chapter.png")
