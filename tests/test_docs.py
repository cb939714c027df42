"""The README and the pages under docs/: short README, links that resolve, a site that builds strictly and loads
nothing from other hosts, generated tables that match the result files."""
from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200
# [text](target) and ![alt](target), the target up to a space or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """A heading's anchor as MkDocs (Python-Markdown's toc) and the forge make it, for plain headings."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # a `# comment` in a code block is no heading
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)}


def _relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]  # http:, https:, mailto: are not files


def _broken_links(page: Path) -> list[str]:
    broken = []
    for target in _relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.is_file():
            broken.append(f"{target}: no file {file}")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    return broken


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; the rest belongs in docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert _relative_links(page) or page.name != "README.md"  # the README links to the docs
    assert _broken_links(page) == []


def test_a_broken_link_is_caught(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# There\n\n## A heading: with punctuation\n")
    page.write_text("[ok](there.md#a-heading-with-punctuation) [gone](missing.md) [bad](there.md#nowhere)\n")
    assert [b.split(":")[0] for b in _broken_links(page)] == ["missing.md", "there.md#nowhere"]


class _ExternalAssets(HTMLParser):
    """Scripts, stylesheets, fonts and images a page would load from another host."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        url = attrs.get("src") if tag in ("script", "img", "iframe") else attrs.get("href") if tag == "link" else None
        if url and re.match(r"(https?:)?//", url):
            self.found.append(f"<{tag}> {url}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_the_site_builds_strictly_with_every_page(site):
    built = {p.parent.name for p in site.glob("*/index.html")}
    assert built >= {p.stem for p in PAGES if p.parent.name == "docs" and p.stem != "index"}
    assert (site / "index.html").is_file()


def test_the_site_loads_nothing_from_other_hosts(site):
    external = []
    for html in site.rglob("*.html"):
        parser = _ExternalAssets()
        parser.feed(html.read_text())
        external += [f"{html.relative_to(site)}: {found}" for found in parser.found]
    for css in site.rglob("*.css"):
        imports = r"@import\s+url\((?:['\"])?(?:https?:)?//[^)]*"
        external += [f"{css.relative_to(site)}: {m}" for m in re.findall(imports, css.read_text())]
    assert external == []


def test_an_external_script_is_caught():
    parser = _ExternalAssets()
    parser.feed('<script src="https://cdn.example/x.js"></script><link href="css/base.css" rel="stylesheet">'
                '<a href="https://example.org">a link is no asset</a>')
    assert parser.found == ["<script> https://cdn.example/x.js"]


def test_the_generated_tables_match_the_result_files():
    proc = subprocess.run([sys.executable, "-m", "bench.report", "--check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr


def _layout_block() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text()
    return text.split("## Layout", 1)[1].split("```", 2)[1]


@pytest.mark.parametrize("package", ["meshfer", "meshfer/training"])
def test_the_layout_names_every_module(package):
    """docs/architecture.md's layout is where a newcomer looks for a module: a module added or renamed without it
    fails here."""
    name_columns = [re.split(r"\s{3,}", line.strip())[0] for line in _layout_block().splitlines()]
    words = set(re.findall(r"[\w/]+", " ".join(name_columns)))
    modules = {p.stem for p in (ROOT / package).glob("*.py")} - {"__init__"}
    assert sorted(modules - words) == []
