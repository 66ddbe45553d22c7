"""Check every internal link and anchor of the built HTML site; exit 1 naming the broken ones.

    python docs/check_links.py docs/_build/html

Run by ``.ci/run`` after the HTML build. External links (http, https, mailto) are not
followed: the build machine has no network.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key):
                self.ids.add(values[key])  # type: ignore[arg-type]
        target = values.get("href") if tag == "a" else values.get("src") if tag == "img" else None
        if target:
            self.links.append(target)


def broken_links(site: Path) -> list[str]:
    """``page -> target`` for every internal link whose file or anchor does not exist."""
    pages: dict[Path, _Page] = {}
    for path in site.rglob("*.html"):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
        pages[path.resolve()] = page
    broken = []
    for path, page in pages.items():
        for link in page.links:
            if link.startswith(("http://", "https://", "mailto:", "javascript:", "data:")):
                continue
            target, anchor = urldefrag(link)
            file = (path.parent / unquote(target)).resolve() if target else path
            if not file.exists():
                broken.append(f"{path.relative_to(site.resolve())} -> {link} (no such file)")
            elif anchor and file.suffix == ".html" and anchor not in pages[file].ids:
                broken.append(f"{path.relative_to(site.resolve())} -> {link} (no such anchor)")
    return sorted(set(broken))


def main(argv: list[str]) -> int:
    site = Path(argv[0] if argv else "docs/_build/html")
    if not site.is_dir():
        print(f"check_links: {site} is not a built site", file=sys.stderr)
        return 2
    broken = broken_links(site)
    for line in broken:
        print(f"broken link: {line}", file=sys.stderr)
    print(f"check_links: {len(broken)} broken internal links in {site}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
