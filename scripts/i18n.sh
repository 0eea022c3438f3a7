#!/usr/bin/env bash
# Translation catalogs. The msgids are Chinese (the default locale, zh_Hans_CN); English has a catalog.
#
#   scripts/i18n.sh extract   # sources -> translations/messages.pot -> update translations/*/LC_MESSAGES/messages.po
#   scripts/i18n.sh compile   # .po -> .mo (the .mo files are gitignored; the Makefile compiles them at install)
#
# After `extract`, translate the new empty msgstr entries in translations/en/LC_MESSAGES/messages.po;
# tests/test_i18n.py fails while any string is untranslated.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -x .venv/bin/pybabel ]]; then
    PYBABEL=${PYBABEL:-.venv/bin/pybabel}
    PYTHON=${PYTHON:-.venv/bin/python}
else
    PYBABEL=${PYBABEL:-pybabel}
    PYTHON=${PYTHON:-python3}
fi

POT=translations/messages.pot

extract() {
    # Run on "." so that the patterns in babel.cfg (app/**.py, templates/**.html, ...) match;
    # hidden directories (.venv, .git) are skipped.
    "$PYBABEL" -q extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 \
        --ignore-dirs='.* ._ __pycache__ node_modules' \
        --project='示范点项目管理' --copyright-holder='晋江市民政局' \
        -o "$POT" .
    "$PYBABEL" -q update -d translations -i "$POT" --no-fuzzy-matching
    "$PYTHON" - <<'PY'
import glob

from babel.messages.pofile import read_po

for path in sorted(glob.glob("translations/*/LC_MESSAGES/messages.po")):
    with open(path, "rb") as f:
        catalog = read_po(f)
    todo = [m.id for m in catalog if m.id and (not all(m.string if isinstance(m.string, tuple) else [m.string]))]
    print(f"{path}: {len(catalog)} messages, {len(todo)} to translate")
    for msgid in todo:
        print(f"    {msgid}")
PY
}

compile() {
    "$PYBABEL" compile -d translations --statistics
}

case "${1:-}" in
    extract) extract ;;
    compile) compile ;;
    *)
        echo "usage: $0 {extract|compile}" >&2
        exit 2
        ;;
esac
