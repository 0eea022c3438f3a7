"""The translation catalogs are complete and well-formed.

The msgids are Chinese; every other locale needs a catalog in translations/. A string added to the code or the
templates without a translation fails here with the list of missing msgids: run ``scripts/i18n.sh extract`` and
translate the new empty entries. No app and no database are needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
# The same keywords as scripts/i18n.sh passes to pybabel extract (-k _l -k lazy_gettext -k lazy_pgettext:1c,2).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_pgettext": ((1, "c"), 2)}
# %(name)s, %(n)d, %(x).2f ... and a literal %%.
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?([diouxXeEfFgGcrsa%])")

CATALOG_PATHS = sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))


@pytest.fixture(autouse=True)
def _transaction():
    """Replaces the conftest fixture of the same name: these tests need no app and no database."""
    yield


def _read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def _strings(value) -> list[str]:
    return list(value) if isinstance(value, tuple | list) else [value]


def _placeholders(text: str) -> list[tuple[str | None, str]]:
    return sorted((name, conversion) for name, conversion in PLACEHOLDER.findall(text) if conversion != "%")


@pytest.fixture(scope="module")
def extracted() -> dict[tuple[str, str | None], str]:
    """msgid (and context) -> first source location, extracted from the sources now as babel.cfg says."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, filename="babel.cfg")
    found: dict[tuple[str, str | None], str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((msgid, context), f"{filename}:{lineno}")
    return found


def test_english_catalog_exists():
    assert TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po" in CATALOG_PATHS


@pytest.mark.parametrize("path", CATALOG_PATHS, ids=lambda p: p.parts[-3])
def test_every_entry_is_translated(path):
    catalog = _read(path)
    assert not catalog.fuzzy, f"{path}: the header is marked fuzzy"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        msgid = _strings(message.id)[0]
        strings = _strings(message.string)
        if message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        if not all(s and s.strip() for s in strings):
            problems.append(f"untranslated: {msgid!r}")
            continue
        expected = _placeholders(msgid)
        for translated in strings:
            if _placeholders(translated) != expected:
                problems.append(f"placeholders differ: {msgid!r} -> {translated!r}")
            elif message.python_format:
                try:
                    translated % {name: 1 for name, _conversion in expected}
                except (KeyError, TypeError, ValueError) as error:
                    problems.append(f"does not format ({error}): {msgid!r} -> {translated!r}")
    if problems:
        pytest.fail(f"{path.relative_to(ROOT)}:\n" + "\n".join(problems), pytrace=False)


@pytest.mark.parametrize("path", CATALOG_PATHS, ids=lambda p: p.parts[-3])
def test_catalog_has_every_string_in_the_sources(path, extracted):
    catalog = _read(path)
    missing = [
        f"{where}: {msgid}" for (msgid, context), where in extracted.items() if catalog.get(msgid, context) is None
    ]
    if missing:
        pytest.fail(
            f"{len(missing)} string(s) not in {path.relative_to(ROOT)}; run scripts/i18n.sh extract, then translate:\n"
            + "\n".join(missing),
            pytrace=False,
        )


def test_no_translated_string_is_inside_an_f_string():
    """pybabel's extraction (on Python 3.11) misses a _() inside an f-string, so its text never reaches the catalogue
    and stays Chinese in every language: translate before, and put the result in the f-string."""
    import ast

    found = []
    for path in sorted([*ROOT.glob("app/**/*.py"), *ROOT.glob("forms/*.py"), *ROOT.glob("reports/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                found += [f"{path.relative_to(ROOT)}:{call.lineno}" for call in ast.walk(node)
                          if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                          and call.func.id in KEYWORDS]
    assert not found, found
