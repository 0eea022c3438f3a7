"""``make bench`` (issue 9): build a benchmark database, serve it with gunicorn on loopback and measure.

    python -m bench.run --database sqlite --workers 2 [--scale city] [--duration 10] [--connections 16]
    python -m bench.run --database postgresql --workers 4
    python -m bench.run --database sqlite --reuse /path/to/filled.db --scale province
    python -m bench.run --database postgresql --reuse postgresql+psycopg://postgres@127.0.0.1:PORT/bench --scale \
        province

One run: a fresh database (a SQLite file, or a throwaway PostgreSQL 15 cluster started like the tests' one) filled by
``flask bench-data``; the SQL statements each key page and export runs, counted in-process; gunicorn with the floor
pages on (``BENCH_FLOOR``); for every key page and for its floor (a bare page, and a plain page listing the same
number of rows), wrk at 16 connections for ``--duration`` seconds in each of ``--rounds`` passes, p50/p95/p99 and
requests per second of the median pass; each xlsx export timed alone (median of ``--export-repeats``); the peak
resident memory of every worker. The result is one JSON file in docs/performance/ (``<database>-<scale>.json``);
``python -m bench.report`` turns the files there into docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "performance"
VENV_BIN = Path(sys.executable).parent
PASSWORD = "Demo@2024"

# wrk prints one JSON line at the end: latency percentiles in microseconds, requests, errors of every kind.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '\\nRESULT {"p50": %d, "p95": %d, "p99": %d, "max": %d, "requests": %d, "duration_us": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.status,
    errors.timeout))
end
"""


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


# --- the machine ------------------------------------------------------------------------------------------------


def _version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"


def cpu_probe_ms() -> float:
    """The best of three timings of a fixed piece of pure Python: a virtual machine's speed moves between runs (by
    up to a quarter within one session), and this puts a number on it next to the latencies."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for number in range(3_000_000):
            total += number % 7
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def describe_machine(database_url: str) -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kb = 0
    try:
        memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    except (OSError, AttributeError):
        pass
    import sqlite3

    import sqlalchemy as sa

    database_version = f"SQLite {sqlite3.sqlite_version}"
    if database_url.startswith("postgresql"):
        engine = sa.create_engine(database_url)
        with engine.connect() as connection:
            database_version = connection.scalar(sa.text("SHOW server_version")).split()[0]
            database_version = f"PostgreSQL {database_version}"
        engine.dispose()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "database": database_version,
        "gunicorn": _version([str(VENV_BIN / "gunicorn"), "--version"]),
        "wrk": _version(["wrk", "--version"]),
    }


# --- the database -----------------------------------------------------------------------------------------------


def flask(env: dict, *args: str) -> str:
    result = subprocess.run([str(VENV_BIN / "flask"), *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def count_queries(database_url: str, folder: Path, pages) -> dict[str, dict]:
    """SQL statements and status per page, through the app in this process: of a request with nothing remembered
    (the first view after any change: ``queries``) and of the next (``queries_remembered``)."""
    import sqlalchemy as sa

    from app import create_app
    from app.extensions import db
    from app.statements import REMEMBERED

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "UPLOAD_FOLDER": str(folder / "uploads"),
                      "WTF_CSRF_ENABLED": False})
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if not re.match(r"\s*(SAVEPOINT|RELEASE|ROLLBACK|BEGIN)", statement, re.I):
            statements.append(statement)

    clients = {}
    counts = {}
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for page in pages:
            client = clients.get(page.user)
            if client is None:
                client = clients[page.user] = app.test_client()
                response = client.post("/login", data={"username": page.user, "password": PASSWORD})
                if response.status_code != 302:
                    raise SystemExit(f"cannot log in as {page.user}: {response.status_code}")
            client.get(page.url)
            for remembered in REMEMBERED:
                remembered.clear()
            statements.clear()
            response = client.get(page.url)
            first = len(statements)
            statements.clear()
            client.get(page.url)
            counts[page.name] = {"queries": first, "queries_remembered": len(statements),
                                 "status": response.status_code}
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return counts


def load_pages(database_url: str, folder: Path):
    from app import create_app
    from app.extensions import db
    from bench.pages import exports, key_pages

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "UPLOAD_FOLDER": str(folder / "uploads")})
    with app.app_context():
        result = key_pages(app.config["PAGE_SIZE"]), exports()
        db.session.remove()
        db.engine.dispose()
    return result


# --- the server -------------------------------------------------------------------------------------------------


def settle_postgresql(database_url: str) -> None:
    """Fresh statistics and a visibility map, as autovacuum keeps them on a database in service.

    Right after the generation, autovacuum's own ANALYZE of the new tables holds back the horizon of a VACUUM run
    beside it, which then leaves the newest pages not all-visible: the audit search's capped count read the heap
    (4 ms instead of 0.7 on PostgreSQL) in some runs and not others. So wait for autovacuum to finish, VACUUM, ANALYZE,
    and VACUUM again until the tables are all-visible."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database,
                         autocommit=True) as connection:
        def autovacuum_busy() -> bool:
            return connection.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
                                      " AND datname = current_database()").fetchone()[0] > 0

        deadline = time.monotonic() + 300
        while autovacuum_busy() and time.monotonic() < deadline:
            time.sleep(1)
        connection.execute("VACUUM")
        connection.execute("ANALYZE")
        for _ in range(5):
            visible, pages = connection.execute(
                "SELECT sum(relallvisible), sum(relpages) FROM pg_class JOIN pg_namespace ON pg_namespace.oid ="
                " relnamespace WHERE nspname = 'public' AND relkind = 'r'").fetchone()
            if visible >= pages * 0.99:
                return
            time.sleep(2)
            connection.execute("VACUUM")
        log(f"the tables stay {visible} of {pages} pages all-visible")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, env: dict, workers: int, port: int, folder: Path):
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(folder / "gunicorn.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
             "--no-control-socket", "--timeout", "120", "wsgi:app"],
            env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=5) as response:
                    if response.status == 200 and len(self.worker_pids()) == workers:
                        return
            except OSError:  # refused or timed out while the workers start
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"gunicorn did not start: see {folder / 'gunicorn.log'}")

    def worker_pids(self) -> list[int]:
        pids = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            if re.search(rf"^PPid:\s+{self.process.pid}$", text, re.M):
                pids.append(int(status.parent.name))
        return sorted(pids)

    def peak_memory_mib(self) -> list[float]:
        """VmHWM (peak resident set) of each worker."""
        peaks = []
        for pid in self.worker_pids():
            match = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
            if match:
                peaks.append(round(int(match.group(1)) / 1024, 1))
        return peaks

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


class Session:
    """A logged-in browser: the session cookie, for urllib and for wrk."""

    def __init__(self, base: str, username: str):
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        page = self.opener.open(base + "/login").read().decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": PASSWORD}).encode()
        self.opener.open(base + "/login", data=data).read()
        if not any(cookie.name == "sfd_session" for cookie in self.jar):
            raise SystemExit(f"cannot log in as {username}")

    @property
    def cookie(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)

    def get(self, path: str) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        try:
            with self.opener.open(self.base + path, timeout=300) as response:
                body = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            body, status = error.read(), error.code
        return status, body, time.perf_counter() - started


def middle(results: list[dict]) -> dict:
    """The result with the median p95 (of an odd number of rounds; the lower middle of an even one)."""
    return sorted(results, key=lambda result: result["p95_ms"])[(len(results) - 1) // 2]


def wrk(url: str, cookie: str | None, connections: int, duration: int, script: Path) -> dict:
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--timeout", "30s", "-s", str(script)]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    raw = json.loads(output.split("RESULT", 1)[1])
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[key] for key in ("connect", "read", "write", "status", "timeout"))
    return {"p50_ms": raw["p50"] / 1000, "p95_ms": raw["p95"] / 1000, "p99_ms": raw["p99"] / 1000,
            "max_ms": raw["max"] / 1000, "requests": raw["requests"], "rps": round(raw["requests"] / seconds, 1),
            "errors": errors}


# --- the run ----------------------------------------------------------------------------------------------------


def run(args) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="sfd-bench-"))
    postgres = None
    try:
        if args.reuse and "://" in args.reuse:
            database_url = args.reuse  # a PostgreSQL database already filled (bench/README: province scale)
        elif args.database == "postgresql":
            sys.path.insert(0, str(ROOT))
            from tests.pgserver import PostgresServer

            postgres = PostgresServer()
            postgres.start()
            database_url = postgres.create_database("bench")
        elif args.reuse:
            database_url = f"sqlite:///{Path(args.reuse).resolve()}"
        else:
            database_url = f"sqlite:///{folder / 'bench.db'}"
        env = {**os.environ, "DATABASE_URL": database_url, "UPLOAD_FOLDER": str(folder / "uploads"),
               "INSTANCE_PATH": str(folder / "instance"), "FLASK_APP": "wsgi.py", "BENCH_FLOOR": "1",
               "SECRET_KEY": "bench-" + os.urandom(8).hex()}
        result: dict = {"database": args.database, "scale": args.scale, "workers": args.workers,
                        "connections": args.connections, "duration_s": args.duration,
                        "when": datetime.now(UTC).isoformat(timespec="seconds")}
        flask(env, "db", "upgrade")
        if args.reuse:
            log(f"reusing {args.reuse}")
            result["generate_s"] = None
        else:
            log(f"bench-data --scale {args.scale} on {args.database}")
            output = flask(env, "bench-data", "--scale", args.scale, "--seed", str(args.seed))
            result["generate_s"] = float(re.search(r"done in ([\d.]+) s", output).group(1))
            log(output.strip().splitlines()[-1])
        if args.database == "postgresql":
            settle_postgresql(database_url)
        result["machine"] = describe_machine(database_url)
        result["cpu_probe_ms"] = {"start": cpu_probe_ms()}
        pages, exports = load_pages(database_url, folder)
        log("counting queries")
        queries = count_queries(database_url, folder, pages + exports)

        server = Server(env, args.workers, args.port or free_port(), folder)
        try:
            sessions = {user: Session(server.base, user) for user in {page.user for page in pages + exports}}
            script = folder / "report.lua"
            script.write_text(WRK_SCRIPT)

            def measure(path: str, user: str | None) -> dict:
                session = sessions.get(user) if user else None
                for _ in range(3):  # warm: templates compiled, caches filled in both workers
                    status = (session.get(path)[0] if session
                              else urllib.request.urlopen(server.base + path).status)
                    if status != 200:
                        raise SystemExit(f"{path} answered {status}")
                return wrk(server.base + path, session.cookie if session else None, args.connections,
                           args.duration, script)

            # The pages are measured in rounds, each a pass over the bare page, the floor lists and the key pages:
            # this machine's speed moves by a quarter or more within minutes, and one slow 10 s window decided a
            # page's number. Each page and floor is reported by its round with the median p95 (all rounds' p95s
            # are kept), and its ratio to the floor is the median of the ratios within a round.
            rounds: list[dict] = []
            for number in range(1, args.rounds + 1):
                measured_round: dict = {"floors": {}, "pages": {}}
                log(f"round {number} of {args.rounds}: floor: bare page")
                measured_round["bare"] = measure("/_floor/bare", None)
                for page in pages:
                    if page.rows not in measured_round["floors"]:
                        log(f"floor: list of {page.rows} rows")
                        measured_round["floors"][page.rows] = measure(f"/_floor/list?rows={page.rows}", page.user)
                    log(f"page: {page.name}")
                    measured_round["pages"][page.name] = measure(page.url, page.user)
                rounds.append(measured_round)
            result["rounds"] = args.rounds
            floors = {rows: [each["floors"][rows] for each in rounds] for rows in rounds[0]["floors"]}
            result["pages"] = []
            for page in pages:
                measured = [each["pages"][page.name] for each in rounds]
                floor = middle(floors[page.rows])
                ratios = [each["pages"][page.name]["p95_ms"] / each["floors"][page.rows]["p95_ms"] for each in rounds]
                result["pages"].append({
                    **asdict(page), **middle(measured), "p95_rounds_ms": [each["p95_ms"] for each in measured],
                    "queries": queries[page.name]["queries"],
                    "queries_remembered": queries[page.name]["queries_remembered"],
                    "floor_list_p95_ms": floor["p95_ms"], "floor_list_p50_ms": floor["p50_ms"],
                    "ratio_p95": round(statistics.median(ratios), 2),
                })
            result["floor"] = {
                "bare": middle([each["bare"] for each in rounds]),
                "lists": {str(rows): {**middle(values), "p95_rounds_ms": [value["p95_ms"] for value in values]}
                          for rows, values in sorted(floors.items())},
            }

            result["exports"] = []
            for export in exports:
                log(f"export: {export.name}")
                session = sessions[export.user]
                times, status, size = [], 0, 0
                for _ in range(args.export_repeats):
                    status, body, seconds = session.get(export.url)
                    times.append(seconds)
                    size = len(body)
                    if status != 200:
                        break
                result["exports"].append({
                    "name": export.name, "url": export.url, "user": export.user, "status": status, "bytes": size,
                    "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
                    "queries": queries[export.name]["queries"],
                })
            result["peak_memory_mib"] = server.peak_memory_mib()
            result["cpu_probe_ms"]["end"] = cpu_probe_ms()
        finally:
            server.stop()
    except BaseException:
        log(f"failed: its files stay in {folder}")
        raise
    else:
        shutil.rmtree(folder, ignore_errors=True)
        return result
    finally:
        if postgres is not None:
            postgres.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--scale", default="city")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per page and round")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the pages (the median round is reported)")
    parser.add_argument("--export-repeats", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--reuse", help="a SQLite file, or a PostgreSQL URL, already filled by bench-data (province "
                        "scale takes long)")
    parser.add_argument("--output", help="the JSON file (default docs/performance/<database>-<scale>.json)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: run `make bench-deps` (Debian's wrk package)")
    result = run(args)
    output = Path(args.output) if args.output else RESULTS / f"{args.database}-{args.scale}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    log(f"wrote {output}")
    for page in result["pages"]:
        log(f"  {page['name']:<22} p50 {page['p50_ms']:7.1f} ms  p95 {page['p95_ms']:7.1f} ms  "
            f"{page['rps']:7.1f}/s  ×{page['ratio_p95']} of floor  {page['queries']} queries")


if __name__ == "__main__":
    main()
