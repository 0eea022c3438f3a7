"""What a screen reader needs of a refused form, checked on the page's HTML.

A control in error (class ``is-invalid``) must say so (``aria-invalid="true"``) and name, in ``aria-describedby``,
elements the page has; every message shown at a field (``invalid-feedback``) must lie in an element some control
names, or nobody hears it with the control it is about.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Elements without an end tag: they hold no text and close nothing.
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    ancestors_ids: tuple[str, ...]
    text: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[_Element] = []
        self.by_id: dict[str, _Element] = {}
        self._open: list[_Element] = []

    def handle_starttag(self, tag, attrs):
        element = _Element(tag, {name: value or "" for name, value in attrs},
                           tuple(e.attrs["id"] for e in self._open if "id" in e.attrs))
        self.elements.append(element)
        if "id" in element.attrs:
            self.by_id.setdefault(element.attrs["id"], element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self._open.pop()

    def handle_endtag(self, tag):
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def handle_data(self, data):
        for element in self._open:
            element.text.append(data)


def _key(element: _Element) -> str:
    return element.attrs.get("id") or element.attrs.get("name", "")


def error_descriptions(page: str) -> dict[str, str]:
    """Each control in error, by its id, with the text of the elements its aria-describedby names (joined by a
    space). Fails if such a control lacks aria-invalid or names an element the page lacks, or if a field's message is
    in no element a control names."""
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    described: dict[str, str] = {}
    named: set[str] = set()
    for element in parsed.elements:
        if "is-invalid" not in element.classes:
            continue
        key = _key(element)
        assert element.attrs.get("aria-invalid") == "true", f"{key} is in error without aria-invalid"
        ids = element.attrs.get("aria-describedby", "").split()
        assert ids, f"{key} is in error and names no message (aria-describedby)"
        missing = [name for name in ids if name not in parsed.by_id]
        assert not missing, f"{key} names {missing}, which the page lacks"
        named.update(ids)
        described[key] = " ".join("".join(parsed.by_id[name].text).strip() for name in ids)
    for element in parsed.elements:
        if "invalid-feedback" in element.classes:
            around = {*element.ancestors_ids, element.attrs.get("id")}
            assert named.intersection(around), \
                f"the message {''.join(element.text).strip()!r} is named by no control"
    return described


_ID = re.compile(r'\sid="([^"]*)"')


def check_error_markup(page: str) -> None:
    """error_descriptions' checks, for a page that shows field errors (a quick look first: most pages show none); and
    on every page, that no id is used twice (a label, aria-describedby or a link to #id would find the wrong one)."""
    repeated = [name for name, times in Counter(_ID.findall(page)).items() if times > 1]
    assert not repeated, f"ids used more than once on the page: {repeated}"
    if "is-invalid" in page or "invalid-feedback" in page:
        error_descriptions(page)
