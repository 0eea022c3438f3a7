#!/usr/bin/env bash
# Installs, from Debian's packages and only when missing, what the test suite drives for real:
# a PostgreSQL 15 server (initdb/pg_ctl), chromium for Playwright, and a CJK font for screenshots.
# With --bench: PostgreSQL and the load generator wrk, for `make bench`.
set -euo pipefail

packages=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  packages+=(postgresql-15)
fi
if ! command -v runuser >/dev/null 2>&1; then
  packages+=(util-linux)
fi
if [ "${1:-}" = "--bench" ]; then
  if ! command -v wrk >/dev/null 2>&1; then
    packages+=(wrk)
  fi
else
  if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
    packages+=(chromium)
  fi
  if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    packages+=(fonts-wqy-microhei)
  fi
fi

if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi

echo "installing test dependencies: ${packages[*]}"
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "need root (or sudo) to install: ${packages[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" fontconfig >/dev/null
