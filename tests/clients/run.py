#!/usr/bin/env python3
"""Client conformance harness: unmodified upstream Infisical clients against a real rotad.

Usage (from the repository root, with the harness venv's Python so that
``infisicalsdk`` and ``schemathesis`` import; ``.ci/run`` sets that venv up):

    .venv/bin/python tests/clients/run.py --backend sqlite   --rotad target/debug/rotad
    .venv/bin/python tests/clients/run.py --backend postgres --rotad target/debug/rotad

What it does, each numbered item being its own PASS/FAIL check:

  0. starts ``rotad serve`` on a free loopback port with a fresh database (a
     SQLite file in a temp dir, or a fresh PostgreSQL database that is dropped
     afterwards) and a random encryption key, waits for ``GET /api/status``;
  1. bootstraps over plain HTTP (admin, project, machine identity with
     universal auth, project membership), as docs/ARCHITECTURE.md describes;
  a. Python ``infisicalsdk`` 1.0.18: login, create (with comment), get, list,
     update (value read back), delete, get-after-delete raises;
  a2. Python ``infisicalsdk`` folders: create (with description), get by id,
     update (rename, description), list (recursive), delete, get-after-delete 404;
  b. Node ``@infisical/sdk`` 5.0.2 (tests/clients/node/check.mjs): login,
     listSecrets finds a secret created here beforehand, getSecret matches;
  b2. Node environments().create (as the admin) and folders().create /
     listFolders({recursive}) (tests/clients/node/folders_envs.mjs);
  c. the Rust crate ``infisical`` 0.0.4's own ignored test
     ``tests::test_secrets_resource``, unmodified, built from the crate source
     that cargo fetched;
  d. plaintext scan of the stored data (SQLite files, or ``pg_dump``) after
     stopping the server: no secret value, client secret or access token, raw
     or trivially encoded (base64 / hex); also the server's own log;
  e. schemathesis 4.32.5 against ``/api/docs/json`` on a fresh server;
  f. webhooks: a small Python HTTP receiver verifies ``x-infisical-signature``
     exactly as upstream documents it (HMAC-SHA256 of the raw body under the
     webhook's key, ``t=`` the body's timestamp) while rotad delivers the test
     event and a ``secrets.modified``; a receiver holding another key rejects;
  g. the table of SDK calls in docs/COMPATIBILITY.md matches the installed
     clients (compat.py): every call listed, none that is gone, and every call
     marked ``works`` made by a check of this run (a, a2, b, b2, c), as the
     table's checked-by column says;
  h. database credentials rotations at the real PostgreSQL (5432) and MariaDB (3306), read
     with the Python and Node SDKs and through ``rotad run`` (sql_check.py); check d then
     scans for the generated passwords.

Exits non-zero on any failure; the last line is ``N passed, M failed``.
"""

from __future__ import annotations

import argparse
import base64
import glob
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set, Tuple

import compat
import sql_check

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NODE_DIR = HERE / "node"
RUST_CRATE = "infisical"
RUST_CRATE_VERSION = "0.0.4"
RUST_TEST = "tests::test_secrets_resource"
ENVIRONMENT = "dev"  # the Rust crate's test hard-codes `dev` and `/`
SECRET_PATH = "/"

# Values written by the Rust crate's own test (src/tests.rs); they must not be
# stored in plaintext either, even though the test deletes the secret again.
RUST_TEST_VALUES = ("RUST_SDK_VALUE", "UPDATED_RUST_SDK_VALUE")


# --------------------------------------------------------------------------- #
# small helpers
# --------------------------------------------------------------------------- #


class CheckFailed(Exception):
    """A check's assertion failed; the message says what was expected."""


def log(msg: str) -> None:
    print(msg, flush=True)


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        data = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(data[-lines:])


def short(text: str, limit: int = 600) -> str:
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class HttpResult:
    def __init__(self, method: str, url: str, status: int, body: bytes, headers: Dict[str, str]):
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        self.headers = headers

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise CheckFailed(f"{self.describe()}: body is not JSON ({e})") from None

    def describe(self) -> str:
        path = urllib.parse.urlsplit(self.url)
        target = path.path + (("?" + path.query) if path.query else "")
        return f"{self.method} {target} -> {self.status} {short(self.body.decode('utf-8', 'replace'))}"


def http(method: str, url: str, body=None, token: Optional[str] = None, timeout: float = 30) -> HttpResult:
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpResult(method, url, resp.status, resp.read(), dict(resp.headers))
    except urllib.error.HTTPError as e:
        return HttpResult(method, url, e.code, e.read(), dict(e.headers or {}))


def dig(obj, *keys):
    """obj[k1][k2]...; None when any step is missing."""
    for k in keys:
        if not isinstance(obj, dict) or k not in obj:
            return None
        obj = obj[k]
    return obj


def api_ok(res: HttpResult, *keys) -> object:
    """Asserts a 2xx answer and returns the value at keys (which must be present)."""
    expect(200 <= res.status < 300, f"expected 2xx: {res.describe()}")
    value = dig(res.json(), *keys)
    expect(value is not None, f"expected `{'.'.join(keys)}` in the answer: {res.describe()}")
    return value


def run_cmd(cmd: List[str], *, env=None, cwd=None, timeout: float, label: str) -> Tuple[int, str]:
    """Runs cmd, streaming its output indented; returns (exit code, output)."""
    shown = ["Authorization: Bearer [redacted]" if a.startswith("Authorization:") else a for a in cmd]
    log(f"  $ {' '.join(shown)}" + (f"   (in {cwd})" if cwd else ""))
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    out: List[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    timed_out = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        events = sel.select(timeout=min(remaining, 1.0))
        if events:
            chunk = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else proc.stdout.read(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace")
                out.append(text)
                print(f"    {label}| {text}", flush=True)
        elif proc.poll() is not None and not events:
            # process gone and nothing left to read
            rest = proc.stdout.read()
            if rest:
                buf += rest
            break
    if buf:
        text = buf.decode("utf-8", "replace")
        out.append(text)
        print(f"    {label}| {text}", flush=True)
    sel.close()
    if timed_out:
        proc.kill()
        proc.wait()
        out.append(f"(killed after {timeout:.0f}s)")
        log(f"    {label}| (timed out after {timeout:.0f}s, killed)")
        return 124, "\n".join(out)
    return proc.wait(), "\n".join(out)


# --------------------------------------------------------------------------- #
# storage backends
# --------------------------------------------------------------------------- #


class Store:
    """One fresh database for one server."""

    def __init__(self, url: str, dump: Callable[[], Dict[str, bytes]], drop: Callable[[], None]):
        self.url = url
        self.dump = dump  # artifact name -> bytes, read after the server stopped
        self.drop = drop


def sqlite_store(workdir: Path, name: str) -> Store:
    data = workdir / name
    data.mkdir(parents=True, exist_ok=True)
    db = data / "rotad.db"

    def dump() -> Dict[str, bytes]:
        out = {}
        for p in sorted(data.rglob("*")):
            if p.is_file():
                out[str(p.relative_to(workdir))] = p.read_bytes()
        expect(any(k.endswith("rotad.db") for k in out), f"no SQLite database file under {data}")
        return out

    return Store(f"sqlite://{db}", dump, lambda: None)


def psql(admin_url: str, sql: str) -> None:
    res = subprocess.run(
        ["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if res.returncode != 0:
        raise CheckFailed(f"psql failed ({sql}): {res.stderr.strip()}")


def postgres_store(admin_url: str) -> Store:
    parts = urllib.parse.urlsplit(admin_url)
    expect(parts.hostname in ("127.0.0.1", "localhost", "::1"), f"refusing non-loopback PostgreSQL: {admin_url}")
    dbname = "rotad_clients_" + secrets.token_hex(6)
    psql(admin_url, f'CREATE DATABASE "{dbname}"')
    url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))

    def dump() -> Dict[str, bytes]:
        res = subprocess.run(["pg_dump", "--no-owner", url], capture_output=True, timeout=120)
        expect(res.returncode == 0, f"pg_dump failed: {res.stderr.decode(errors='replace').strip()}")
        expect(b"CREATE TABLE" in res.stdout, "pg_dump output has no table: did rotad write to this database?")
        return {f"pg_dump {dbname}": res.stdout}

    def drop() -> None:
        try:
            psql(admin_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        except Exception as e:  # noqa: BLE001 - cleanup must not hide results
            log(f"  warning: could not drop database {dbname}: {e}")

    return Store(url, dump, drop)


# --------------------------------------------------------------------------- #
# the server process
# --------------------------------------------------------------------------- #


class Server:
    def __init__(self, binary: Path, store: Store, logfile: Path, extra_env: Optional[Dict[str, str]] = None):
        self.extra_env = extra_env or {}
        self.binary = binary
        self.store = store
        self.logfile = logfile
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = base64.b64encode(secrets.token_bytes(32)).decode()
        self.proc: Optional[subprocess.Popen] = None
        self.exit_code: Optional[int] = None

    def start(self, ready_timeout: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROTAD_")}
        env.update(
            ROTAD_LISTEN=f"127.0.0.1:{self.port}",
            ROTAD_DATABASE_URL=self.store.url,
            ROTAD_ENCRYPTION_KEY=self.key,
        )
        env.update(self.extra_env)
        env.setdefault("RUST_LOG", "info")
        env.setdefault("NO_COLOR", "1")
        log(f"  starting {self.binary} serve on {self.url} ({self.store.url.split('://')[0]})")
        fh = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve"], env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        fh.close()
        deadline = time.monotonic() + ready_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CheckFailed(
                    f"rotad exited with {self.proc.returncode} before answering; log:\n{tail(self.logfile)}"
                )
            try:
                res = http("GET", self.url + "/api/status", timeout=2)
                last = res.describe()
                if res.status == 200:
                    body = res.json()
                    expect(body.get("message") == "Ok", f"GET /api/status: expected {{\"message\":\"Ok\"}}: {last}")
                    log(f"  rotad is up (pid {self.proc.pid})")
                    return
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError) as e:
                last = str(e)
            time.sleep(0.2)
        raise CheckFailed(f"rotad did not answer GET /api/status in {ready_timeout:.0f}s (last: {last}); log:\n{tail(self.logfile)}")

    def stop(self) -> Optional[int]:
        if self.proc is None:
            return self.exit_code
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"  rotad (pid {self.proc.pid}) ignored SIGTERM for 20s; killing it")
                self.proc.kill()
                self.proc.wait()
        self.exit_code = self.proc.returncode
        self.proc = None
        return self.exit_code


class WebhookReceiver:
    """A loopback HTTP receiver that verifies each request the way upstream's docs say:
    ``x-infisical-signature: t=<timestamp>;<signature>``, the signature being the hex
    HMAC-SHA256 of the raw body under the webhook's secret key, ``t`` the body's timestamp."""

    def __init__(self) -> None:
        self.key = "receiver-" + secrets.token_hex(8)
        self.seen: List[Dict[str, object]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                t, _, signature = (self.headers.get("x-infisical-signature") or "").removeprefix("t=").partition(";")
                expected = hmac.new(receiver.key.encode(), raw, hashlib.sha256).hexdigest()
                body = json.loads(raw or b"{}")
                verified = hmac.compare_digest(expected, signature) and str(body.get("timestamp")) == t
                receiver.seen.append({"path": self.path, "event": body.get("event"), "verified": verified,
                                      "project": body.get("project") or {}})
                self.send_response(200 if verified else 401)
                self.end_headers()

            def log_message(self, *args) -> None:  # keep the harness output readable
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------- #
# the harness
# --------------------------------------------------------------------------- #


class Harness:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.rotad = Path(args.rotad).resolve()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"rotad-clients-{args.backend}-"))
        self.results: List[Tuple[str, bool, str]] = []
        self.stores: List[Store] = []
        self.servers: List[Server] = []
        # filled in by the bootstrap
        self.server: Optional[Server] = None
        self.ctx: Dict[str, str] = {}
        # label -> plaintext that must never be stored
        self.sensitive: Dict[str, str] = {}
        self.rust_prebuild: Optional[Tuple[bool, str, Optional[Path]]] = None
        # (client, call) -> ids of the passed checks that made the call (check g)
        self.exercised: Dict[Tuple[str, str], Set[str]] = {}
        self.calls_made: List[Tuple[str, str]] = []

    # ---- bookkeeping ------------------------------------------------------ #

    def check(self, name: str, fn: Callable[[], Optional[str]], *, needs: Tuple[str, ...] = ()) -> bool:
        log(f"\n--- check: {name} ---")
        missing = [n for n in needs if not self.passed(n)]
        if missing:
            detail = f"not run: depends on {', '.join(missing)}"
            ok = False
        else:
            t0 = time.monotonic()
            self.calls_made = []
            try:
                detail = fn() or ""
                ok = True
                for call in self.calls_made:
                    self.exercised.setdefault(call, set()).add(name.split()[0])
            except CheckFailed as e:
                detail, ok = str(e), False
            except Exception as e:  # noqa: BLE001 - an SDK raising is a failed check
                detail = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
                ok = False
            detail = (detail + f" [{time.monotonic() - t0:.1f}s]").strip()
        self.results.append((name, ok, detail))
        first, _, rest = detail.partition("\n")
        log(f"{'PASS' if ok else 'FAIL'} {name}: {first}")
        if rest:
            log(textwrap.indent(rest, "     "))
        return ok

    def used(self, client: str, call: str) -> None:
        """A client's call answered as the running check expected (counted if the check passes)."""
        self.calls_made.append((client, call))

    def passed(self, name: str) -> bool:
        return any(n == name and ok for n, ok, _ in self.results)

    def new_store(self, name: str) -> Store:
        if self.args.backend == "sqlite":
            store = sqlite_store(self.workdir, name)
        else:
            store = postgres_store(self.args.pg_url)
        self.stores.append(store)
        return store

    def new_server(self, name: str, extra_env: Optional[Dict[str, str]] = None) -> Server:
        server = Server(self.rotad, self.new_store(name), self.workdir / f"{name}.log", extra_env)
        self.servers.append(server)
        return server

    def secret(self, label: str, value: str) -> str:
        self.sensitive[label] = value
        return value

    # ---- 0 / 1: server and bootstrap -------------------------------------- #

    def start_server(self) -> str:
        expect(self.rotad.is_file() and os.access(self.rotad, os.X_OK), f"no rotad binary at {self.rotad}")
        # Internal addresses allowed: check a3 rotates a token at the dbt Cloud emulator on loopback.
        self.server = self.new_server("main", {"ROTAD_ALLOW_INTERNAL_IP_CONNECTIONS": "true"})
        self.server.start()
        return f"{self.server.url} answers GET /api/status with {{\"message\":\"Ok\"}}"

    def bootstrap(self, server: Server) -> Dict[str, str]:
        u = server.url
        password = "pw-" + secrets.token_urlsafe(18)
        res = http("POST", u + "/api/v1/admin/bootstrap",
                   {"email": "admin@example.com", "password": password, "organization": "ci"})
        org_id = api_ok(res, "organization", "id")
        admin = api_ok(res, "identity", "credentials", "token")
        ctx = {"org": str(org_id), "admin_token": str(admin), "password": password}

        res = http("POST", u + "/api/v2/workspace", {"projectName": "clients"}, token=admin)
        ctx["project"] = str(api_ok(res, "project", "id"))
        envs = dig(res.json(), "project", "environments") or []
        slugs = sorted(e.get("slug") for e in envs if isinstance(e, dict))
        expect(ENVIRONMENT in slugs, f"project has no `{ENVIRONMENT}` environment (got {slugs}): {res.describe()}")

        res = http("POST", u + "/api/v1/identities",
                   {"name": "sdk", "organizationId": ctx["org"], "role": "no-access"}, token=admin)
        ctx["identity"] = str(api_ok(res, "identity", "id"))

        res = http("POST", u + f"/api/v1/auth/universal-auth/identities/{ctx['identity']}", {}, token=admin)
        ctx["client_id"] = str(api_ok(res, "identityUniversalAuth", "clientId"))

        res = http("POST", u + f"/api/v1/auth/universal-auth/identities/{ctx['identity']}/client-secrets",
                   {}, token=admin)
        ctx["client_secret"] = str(api_ok(res, "clientSecret"))

        res = http("POST", u + f"/api/v1/projects/{ctx['project']}/memberships/identities/{ctx['identity']}",
                   {"roles": [{"role": "member", "isTemporary": False}]}, token=admin)
        expect(200 <= res.status < 300, f"expected 2xx: {res.describe()}")
        return ctx

    def do_bootstrap(self) -> str:
        assert self.server is not None
        self.ctx = self.bootstrap(self.server)
        self.secret("bootstrap admin token", self.ctx["admin_token"])
        self.secret("universal-auth client secret", self.ctx["client_secret"])
        self.secret("bootstrap admin password", self.ctx["password"])
        return (f"org {self.ctx['org']}, project {self.ctx['project']}, identity {self.ctx['identity']} "
                f"(client id {self.ctx['client_id']}) is a project member")

    # ---- a3: a reference to a rotated token, read with the Python SDK ------- #

    def start_emulator(self) -> Tuple[subprocess.Popen, str]:
        binary = self.rotad.parent / "dbt-cloud-emulator"
        expect(binary.is_file(), f"no dbt Cloud emulator at {binary}")
        port = free_port()
        fh = open(self.workdir / "emulator.log", "ab")
        proc = subprocess.Popen([str(binary), "--listen", f"127.0.0.1:{port}", "--latency-ms", "0"],
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        fh.close()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if http("GET", url + "/_emulator/info", timeout=2).status == 200:
                    return proc, url
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
                pass
            time.sleep(0.1)
        proc.kill()
        raise CheckFailed("the dbt Cloud emulator did not answer in 30 s")

    def python_rotated_reference(self) -> str:
        assert self.server is not None
        u, admin, project = self.server.url, self.ctx["admin_token"], self.ctx["project"]
        emulator, emu_url = self.start_emulator()
        client = self.python_client()
        try:
            info = http("GET", emu_url + "/_emulator/info").json()
            res = http("POST", u + "/api/v1/app-connections/dbt", {
                "name": "clients-dbt", "method": "api-token",
                "credentials": {"instanceUrl": emu_url, "accountId": str(info["account_id"]),
                                "apiToken": info["admin_token"]}}, token=admin)
            connection = api_ok(res, "appConnection", "id")
            res = http("POST", u + "/api/v2/secret-rotations/dbt-service-token", {
                "name": "clients-rotation", "projectId": project, "connectionId": connection,
                "environment": ENVIRONMENT, "secretPath": SECRET_PATH, "isAutoRotationEnabled": False,
                "rotationInterval": 30, "rotateAtUtc": {"hours": 0, "minutes": 0},
                "parameters": {"tokenName": "clients-token",
                               "permissionGrants": [{"permissionSet": "job_runner", "projectId": 1}]},
                "secretsMapping": {"serviceToken": "CLIENTS_DBT_TOKEN"}}, token=admin)
            rotation = api_ok(res, "secretRotation", "id")
            where = dict(environment_slug=ENVIRONMENT, secret_path=SECRET_PATH, project_id=project)
            client.secrets.create_secret_by_name(
                secret_name="CLIENTS_DBT_HEADER", secret_value="Bearer ${CLIENTS_DBT_TOKEN}", **where)

            def read() -> Tuple[str, str]:
                token = client.secrets.get_secret_by_name(
                    secret_name="CLIENTS_DBT_TOKEN", expand_secret_references=True, **where).secretValue
                header = client.secrets.get_secret_by_name(
                    secret_name="CLIENTS_DBT_HEADER", expand_secret_references=True, **where).secretValue
                self.secret(f"dbt token {len(self.sensitive)}", token)
                return token, header

            before, header = read()
            expect(bool(before), "the rotated secret is empty")
            expect(header == f"Bearer {before}", "before the rotation the reference does not expand to the live token")
            res = http("POST", u + f"/api/v2/secret-rotations/dbt-service-token/{rotation}/rotate-secrets",
                       {}, token=admin)
            expect(res.status == 200, f"rotate-secrets: {res.describe()}")
            after, header = read()
            expect(after != before, "the rotation did not change the published token")
            expect(header == f"Bearer {after}", "after the rotation the reference does not expand to the new token")
            return "get_secret_by_name(expand_secret_references=True) follows the rotated token across a rotation"
        finally:
            client.close()
            emulator.kill()
            emulator.wait()

    # ---- a: Python SDK ---------------------------------------------------- #

    def python_client(self):
        from infisical_sdk import InfisicalSDKClient  # imported here: only the venv has it

        assert self.server is not None
        client = InfisicalSDKClient(host=self.server.url, cache_ttl=None)
        login = client.auth.universal_auth.login(client_id=self.ctx["client_id"],
                                                  client_secret=self.ctx["client_secret"])
        expect(isinstance(login.accessToken, str) and login.accessToken, "login gave no accessToken")
        expect(str(login.tokenType).lower() == "bearer", f"tokenType is {login.tokenType!r}, expected Bearer")
        expect(login.expiresIn > 0 and login.accessTokenMaxTTL > 0,
               f"expiresIn={login.expiresIn}, accessTokenMaxTTL={login.accessTokenMaxTTL}: expected positive TTLs")
        self.secret(f"python login access token #{len([k for k in self.sensitive if 'login' in k]) + 1}",
                    login.accessToken)
        self.used("Python", "auth.universal_auth.login")
        return client

    def python_sdk(self) -> str:
        from infisical_sdk.infisical_requests import InfisicalError

        project = self.ctx["project"]
        client = self.python_client()
        try:
            name = "PY_SDK_" + secrets.token_hex(4).upper()
            value = self.secret("python secret value", "py-value-" + secrets.token_urlsafe(24))
            new_value = self.secret("python secret value (updated)", "py-updated-" + secrets.token_urlsafe(24))
            comment = "created by the infisicalsdk conformance check"
            where = dict(environment_slug=ENVIRONMENT, secret_path=SECRET_PATH, project_id=project)

            created = client.secrets.create_secret_by_name(
                secret_name=name, secret_value=value, secret_comment=comment, **where)
            expect(created.secretKey == name, f"create: secretKey {created.secretKey!r}")
            expect(created.secretValue == value, "create: secretValue differs from what was sent")
            expect(created.secretComment == comment, f"create: secretComment {created.secretComment!r}")
            expect(created.type == "shared", f"create: type {created.type!r}, expected 'shared'")
            expect(created.workspace == project, f"create: workspace {created.workspace!r}, expected {project}")
            expect(created.environment == ENVIRONMENT, f"create: environment {created.environment!r}")
            self.used("Python", "secrets.create_secret_by_name")

            got = client.secrets.get_secret_by_name(secret_name=name, **where)
            expect(got.secretValue == value, "get: secretValue differs from the created one")
            expect(got.secretComment == comment, f"get: secretComment {got.secretComment!r}")
            self.used("Python", "secrets.get_secret_by_name")

            listed = client.secrets.list_secrets(**where)
            keys = [s.secretKey for s in listed.secrets]
            expect(name in keys, f"list: {name} not among {keys}")
            expect([s.secretValue for s in listed.secrets if s.secretKey == name] == [value],
                   "list: the listed value differs")
            self.used("Python", "secrets.list_secrets")

            # The same identity's access token handed to a fresh client.
            from infisical_sdk import InfisicalSDKClient

            assert self.server is not None
            by_token = InfisicalSDKClient(host=self.server.url, cache_ttl=None)
            try:
                by_token.auth.token_auth.login(token=client.get_token())
                again = by_token.secrets.get_secret_by_name(secret_name=name, **where)
                expect(again.secretValue == value, "token_auth.login: a read with the token gave another value")
                self.used("Python", "auth.token_auth.login")
            finally:
                by_token.close()

            updated = client.secrets.update_secret_by_name(current_secret_name=name, secret_value=new_value, **where)
            expect(updated.secretValue == new_value, "update: the answer does not carry the new value")
            got2 = client.secrets.get_secret_by_name(secret_name=name, **where)
            expect(got2.secretValue == new_value, "update: get after update returns the old value")
            expect(got2.version > got.version, f"update: version went {got.version} -> {got2.version}")
            self.used("Python", "secrets.update_secret_by_name")

            deleted = client.secrets.delete_secret_by_name(secret_name=name, **where)
            expect(deleted.secretKey == name, f"delete: secretKey {deleted.secretKey!r}")

            try:
                client.secrets.get_secret_by_name(secret_name=name, **where)
            except InfisicalError as e:
                status = getattr(e, "status_code", None)
                expect(status == 404, f"get after delete raised, but with status {status} (expected 404): {e}")
            else:
                raise CheckFailed("get after delete returned the secret instead of raising")
            self.used("Python", "secrets.delete_secret_by_name")
            return f"login (universal auth, token auth), create, get, list, update (v{got.version}->v{got2.version}), delete, 404 after delete"
        finally:
            client.close()

    def python_folders(self) -> str:
        from infisical_sdk.infisical_requests import InfisicalError

        project = self.ctx["project"]
        client = self.python_client()
        try:
            top = "py-" + secrets.token_hex(4)
            where = dict(environment_slug=ENVIRONMENT, project_id=project)
            made = client.folders.create_folder(name=top, path="/", description="made by python", **where)
            expect(made.name == top and made.path == f"/{top}", f"create: {made.name!r} at {made.path!r}")
            expect(made.description == "made by python", f"create: description {made.description!r}")
            inner = client.folders.create_folder(name="inner", path=f"/{top}", **where)
            self.used("Python", "folders.create_folder")

            got = client.folders.get_folder_by_id(id=inner.id)
            expect(got.path == f"/{top}/inner", f"get_folder_by_id: path {got.path!r}")
            expect(got.projectId == project, f"get_folder_by_id: projectId {got.projectId!r}")
            expect(got.environment.envSlug == ENVIRONMENT, f"get_folder_by_id: envSlug {got.environment.envSlug!r}")
            expect(got.parentId == made.id, f"get_folder_by_id: parentId {got.parentId!r}, expected {made.id}")
            self.used("Python", "folders.get_folder_by_id")

            renamed = client.folders.update_folder(folder_id=made.id, name=top + "-2", path="/",
                                                   description="renamed by python", **where)
            expect(renamed.path == f"/{top}-2", f"update_folder: path {renamed.path!r}")
            expect(renamed.description == "renamed by python", f"update_folder: description {renamed.description!r}")
            moved = client.folders.get_folder_by_id(id=inner.id)
            expect(moved.path == f"/{top}-2/inner", f"after rename the nested folder is at {moved.path!r}")
            self.used("Python", "folders.update_folder")

            flat = client.folders.list_folders(path="/", **where)
            expect(inner.id not in [f.id for f in flat.folders], "list_folders: the nested folder shows without recursive")
            deep = client.folders.list_folders(path="/", recursive=True, **where)
            ids = [f.id for f in deep.folders]
            expect(inner.id in ids and made.id in ids, f"list_folders(recursive=True): got {ids}")
            self.used("Python", "folders.list_folders")

            deleted = client.folders.delete_folder(folder_id_or_name=made.id, path="/", **where)
            expect(deleted.id == made.id, f"delete_folder: id {deleted.id!r}")
            try:
                client.folders.get_folder_by_id(id=inner.id)
            except InfisicalError as e:
                status = getattr(e, "status_code", None)
                expect(status == 404, f"get after delete raised, but with status {status} (expected 404): {e}")
            else:
                raise CheckFailed("get_folder_by_id after delete returned the folder instead of raising")
            self.used("Python", "folders.delete_folder")
            return (f"create, get_folder_by_id, update_folder, list_folders (recursive: {len(ids)} folder(s)), "
                    "delete_folder, 404 after delete")
        finally:
            client.close()

    # ---- b: Node SDK ------------------------------------------------------ #

    def node_sdk(self) -> str:
        assert self.server is not None
        node = shutil.which("node")
        expect(node is not None, "node is not on PATH")
        if not (NODE_DIR / "node_modules" / "@infisical" / "sdk" / "package.json").exists():
            npm = shutil.which("npm")
            expect(npm is not None, "npm is not on PATH and tests/clients/node/node_modules is missing")
            code, out = run_cmd([npm, "install", "--no-audit", "--no-fund"], cwd=NODE_DIR, timeout=600, label="npm")
            expect(code == 0, f"npm install failed with {code}")
        installed = json.loads((NODE_DIR / "node_modules" / "@infisical" / "sdk" / "package.json").read_text())
        wanted = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["@infisical/sdk"]
        expect(installed["version"] == wanted, f"@infisical/sdk {installed['version']} installed, {wanted} pinned")

        # The secret the Node SDK must find, created here with the Python SDK.
        client = self.python_client()
        try:
            name = "NODE_SDK_" + secrets.token_hex(4).upper()
            value = self.secret("node secret value", "node-value-" + secrets.token_urlsafe(24))
            client.secrets.create_secret_by_name(secret_name=name, secret_value=value, environment_slug=ENVIRONMENT,
                                                 secret_path=SECRET_PATH, project_id=self.ctx["project"])
        finally:
            client.close()

        env = dict(os.environ)
        env.update(
            ROTAD_URL=self.server.url,
            ROTAD_CLIENT_ID=self.ctx["client_id"],
            ROTAD_CLIENT_SECRET=self.ctx["client_secret"],
            ROTAD_PROJECT_ID=self.ctx["project"],
            ROTAD_ENVIRONMENT=ENVIRONMENT,
            ROTAD_SECRET_NAME=name,
            ROTAD_SECRET_VALUE=value,
        )
        code, out = run_cmd([node, str(NODE_DIR / "check.mjs")], env=env, cwd=NODE_DIR, timeout=180, label="node")
        expect(code == 0, f"check.mjs exited with {code}: {short(out.strip().splitlines()[-1] if out.strip() else '')}")
        self.node_calls(out)
        return (f"@infisical/sdk {installed['version']}: login, listSecrets, getSecret, createSecret, updateSecret, "
                "listSecretsWithImports, deleteSecret, renew")

    def node_calls(self, out: str) -> None:
        for line in out.splitlines():
            if line.startswith("node: call ok "):
                self.used("Node", line.removeprefix("node: call ok ").strip())

    def node_folders_envs(self) -> str:
        assert self.server is not None
        node = shutil.which("node")
        expect(node is not None, "node is not on PATH")
        expect((NODE_DIR / "node_modules" / "@infisical" / "sdk" / "package.json").exists(),
               "tests/clients/node/node_modules is missing (check b installs it)")
        env = dict(os.environ)
        env.update(
            ROTAD_URL=self.server.url,
            ROTAD_ADMIN_TOKEN=self.ctx["admin_token"],
            ROTAD_CLIENT_ID=self.ctx["client_id"],
            ROTAD_CLIENT_SECRET=self.ctx["client_secret"],
            ROTAD_PROJECT_ID=self.ctx["project"],
            ROTAD_ENVIRONMENT=ENVIRONMENT,
            ROTAD_SUFFIX=secrets.token_hex(3),
        )
        code, out = run_cmd([node, str(NODE_DIR / "folders_envs.mjs")], env=env, cwd=NODE_DIR, timeout=180,
                            label="node")
        expect(code == 0,
               f"folders_envs.mjs exited with {code}: {short(out.strip().splitlines()[-1] if out.strip() else '')}")
        self.node_calls(out)
        return "environments().create, projects().create, folders().create, listFolders (flat and recursive)"

    # ---- c: Rust crate's own test ----------------------------------------- #

    def rust_crate_source(self) -> Path:
        cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
        pattern = str(cargo_home / "registry" / "src" / "*" / f"{RUST_CRATE}-{RUST_CRATE_VERSION}")
        found = sorted(glob.glob(pattern))
        if not found:
            proj = self.workdir / "fetch-infisical"
            (proj / "src").mkdir(parents=True, exist_ok=True)
            (proj / "src" / "lib.rs").write_text("")
            (proj / "Cargo.toml").write_text(textwrap.dedent(f"""\
                [package]
                name = "fetch-infisical"
                version = "0.0.0"
                edition = "2021"
                publish = false

                [dependencies]
                {RUST_CRATE} = "={RUST_CRATE_VERSION}"

                [workspace]
                """))
            code, _ = run_cmd(["cargo", "fetch"], cwd=proj, timeout=900, label="cargo fetch")
            expect(code == 0, f"cargo fetch of {RUST_CRATE} {RUST_CRATE_VERSION} failed ({code})")
            found = sorted(glob.glob(pattern))
        expect(bool(found), f"crate source not found at {pattern} after cargo fetch")
        src = Path(found[-1])
        expect((src / "src" / "tests.rs").is_file(), f"{src} has no src/tests.rs")
        expect("async fn test_secrets_resource" in (src / "src" / "tests.rs").read_text(),
               f"{src}/src/tests.rs has no test_secrets_resource")
        return src

    def rust_test_calls(self, copy: Path) -> Set[str]:
        return compat.rust_test_calls(copy, RUST_TEST.rsplit("::", 1)[-1])

    def rust_env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env["CARGO_TARGET_DIR"] = str(Path(self.args.rust_target_dir).resolve())
        env.pop("RUSTFLAGS", None)
        return env

    def rust_prebuild_step(self) -> None:
        """Builds the crate's test binary before any server runs (cached under target/clients-rust)."""
        log("\n--- prebuild: the infisical crate's tests (no server needed) ---")
        try:
            src = self.rust_crate_source()
            copy = self.workdir / f"{RUST_CRATE}-{RUST_CRATE_VERSION}"
            shutil.copytree(src, copy)
            log(f"  copied {src} -> {copy}")
            code, out = run_cmd(["cargo", "test", "--lib", "--no-run"], env=self.rust_env(), cwd=copy,
                                timeout=self.args.rust_build_timeout, label="cargo")
            self.rust_prebuild = (code == 0, f"cargo test --no-run exited with {code}", copy)
        except Exception as e:  # noqa: BLE001
            self.rust_prebuild = (False, f"{type(e).__name__}: {e}", None)
        log(f"  prebuild: {'ok' if self.rust_prebuild[0] else 'FAILED: ' + self.rust_prebuild[1]}")

    def rust_crate_test(self) -> str:
        assert self.server is not None and self.rust_prebuild is not None
        ok, why, copy = self.rust_prebuild
        expect(ok and copy is not None, f"building the crate's tests failed: {why}")
        env = self.rust_env()
        env.update(
            INFISICAL_CLIENT_ID=self.ctx["client_id"],
            INFISICAL_CLIENT_SECRET=self.ctx["client_secret"],
            INFISICAL_BASE_URL=self.server.url,
            INFISICAL_SECRETS_PROJECT_ID=self.ctx["project"],
        )
        cmd = ["cargo", "test", "--lib", "--", "--ignored", "--exact", RUST_TEST, "--nocapture", "--test-threads=1"]
        code, out = run_cmd(cmd, env=env, cwd=copy, timeout=self.args.rust_build_timeout, label="rust")
        expect(code == 0, f"`{' '.join(cmd)}` exited with {code}")
        expect("test result: ok. 1 passed" in out, "the test run did not report `1 passed`")
        for call in self.rust_test_calls(copy):
            self.used("Rust", call)
        return f"{RUST_CRATE} {RUST_CRATE_VERSION} {RUST_TEST} passed, unmodified"

    # ---- g: the table of SDK calls ---------------------------------------- #

    def calls_table(self) -> str:
        node = shutil.which("node")
        expect(node is not None, "node is not on PATH")

        def run_node(script: str) -> Tuple[int, str]:
            return run_cmd([node, str(NODE_DIR / script)], cwd=NODE_DIR, timeout=60, label="node")

        actual = {
            "Python": compat.python_calls(),
            "Node": compat.node_calls(run_node),
            "Rust": compat.rust_calls(self.rust_crate_source()),
        }
        doc = REPO / "docs" / "COMPATIBILITY.md"
        try:
            table = compat.parse_table(doc.read_text())
            problems = compat.compare(table, actual, self.exercised)
        except compat.TableError as e:
            problems, table = [str(e)], {}
        if problems:
            log("  a table for the installed clients and this run's calls:")
            for line in compat.render(actual, self.exercised):
                log("    " + line)
            raise CheckFailed(f"{doc.relative_to(REPO)} is out of date:\n" + "\n".join(problems))
        return f"{len(table)} calls listed, as the installed clients have them: {compat.summary(table)}"

    # ---- d: plaintext scan ------------------------------------------------ #

    @staticmethod
    def encodings(value: str) -> List[Tuple[str, bytes]]:
        raw = value.encode("utf-8")
        out = [("raw", raw), ("hex", raw.hex().encode()), ("HEX", raw.hex().upper().encode())]
        # base64 at each of the three alignments a value can take inside a larger
        # encoded blob: drop the characters that mix in neighbouring bytes.
        for shift in range(3):
            for name, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
                full = enc(b"\0" * shift + raw).rstrip(b"=")
                start = 4 if shift else 0
                body = full[start:len(full) - 3]
                if len(body) >= 12:
                    out.append((f"{name}@{shift}", body))
        return out

    def find_leaks(self, artifacts: Dict[str, bytes], labels: Optional[List[str]] = None) -> List[str]:
        leaks = []
        for label, value in self.sensitive.items():
            if labels is not None and label not in labels:
                continue
            needles = self.encodings(value)
            parts = value.split(".")
            if len(parts) == 3 and len(parts[2]) >= 16:  # a JWT: its signature alone is enough to rebuild it
                needles.append(("JWT signature", parts[2].encode()))
            for art, data in artifacts.items():
                for enc, needle in needles:
                    if needle in data:
                        leaks.append(f"{label} found {enc} in {art}")
                        break
        return leaks

    def plaintext_scan(self) -> str:
        assert self.server is not None
        expect(len(self.sensitive) >= 3, f"too little was written to scan for: {sorted(self.sensitive)}")
        code = self.server.stop()
        log(f"  rotad stopped (exit code {code}{'' if code == 0 else '; docs/ARCHITECTURE.md: SIGTERM exits 0'})")
        if self.passed("c rust-crate test_secrets_resource"):
            for v in RUST_TEST_VALUES:
                self.sensitive[f"rust test value {v}"] = v
        artifacts = self.server.store.dump()
        total = sum(len(b) for b in artifacts.values())
        leaks = self.find_leaks(artifacts)
        expect(not leaks, "plaintext found at rest:\n" + "\n".join(leaks))
        return (f"{len(self.sensitive)} sensitive strings x {len(self.encodings('x' * 24)) + 1} encodings: none in "
                f"{', '.join(sorted(artifacts))} ({total} bytes)")

    def log_scan(self) -> str:
        assert self.server is not None
        data = {self.server.logfile.name: self.server.logfile.read_bytes() if self.server.logfile.exists() else b""}
        leaks = self.find_leaks(data)
        expect(not leaks, "docs/SECURITY.md: no secret value reaches a log line, but:\n" + "\n".join(leaks))
        return f"no sensitive string in the server log ({len(data[self.server.logfile.name])} bytes)"

    # ---- e: schemathesis -------------------------------------------------- #

    def schemathesis(self) -> str:
        server = self.new_server("fuzz")
        server.start()
        try:
            ctx = self.bootstrap(server)
            res = http("GET", server.url + "/api/docs/json")
            expect(res.status == 200, f"OpenAPI document: {res.describe()}")
            doc = res.json()
            expect(isinstance(doc, dict) and str(doc.get("openapi", "")).startswith("3"),
                   "GET /api/docs/json is not an OpenAPI 3 document")
            n_ops = sum(len([m for m in ops if m in ("get", "post", "put", "patch", "delete")])
                        for ops in (doc.get("paths") or {}).values() if isinstance(ops, dict))
            log(f"  OpenAPI {doc.get('openapi')}: {len(doc.get('paths') or {})} paths, {n_ops} operations")
            st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
            expect(st is not None, "schemathesis (`st`) not found next to this Python or on PATH")
            report = self.workdir / "schemathesis"
            cmd = [
                st, "run", f"{server.url}/api/docs/json",
                "--url", server.url,  # loopback only, whatever `servers` the document names
                "--header", f"Authorization: Bearer {ctx['admin_token']}",
                "--checks", ",".join([
                    "not_a_server_error",
                    "response_schema_conformance",
                    "status_code_conformance",
                    "content_type_conformance",
                ]),
                "--max-examples", str(self.args.fuzz_max_examples),
                "--max-time", str(self.args.fuzz_max_time),
                "--request-timeout", "10",
                "--workers", "2",
                "--seed", str(self.args.fuzz_seed),
                "--generation-database", "none",
                "--report", "junit",
                "--report-dir", str(report),
                "--output-sanitize", "true",
                "--no-color",
                # Excluded: POST /api/v1/auth/token/revoke revokes access tokens, and the fuzz
                # run's only credential is the admin token it sends with every request; a revoked
                # token would turn the rest of the run into 401s. Nothing else is excluded.
                "--exclude-path", "/api/v1/auth/token/revoke",
            ]
            code, out = run_cmd(cmd, cwd=self.workdir, timeout=self.args.fuzz_max_time + 300, label="st")
            if code != 0:
                kinds: Dict[str, int] = {}
                for line in out.splitlines():
                    line = line.strip()
                    if line.startswith("- ST"):
                        kinds[line[2:]] = kinds.get(line[2:], 0) + 1
                found = ", ".join(f"{n}x {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
                raise CheckFailed(f"schemathesis exited with {code}: {found or 'no failure listed'} "
                                  f"(see the `st|` lines above; JUnit report in {report})")
            last = [l for l in out.splitlines() if l.strip()]
            return f"{n_ops} operations fuzzed, seed {self.args.fuzz_seed}: {last[-1].strip() if last else ''}"
        finally:
            code = server.stop()
            if code not in (0, None):
                log(f"  fuzz server exited with {code}; log tail:\n{textwrap.indent(tail(server.logfile), '    ')}")

    # ---- f: webhooks verified as upstream documents ----------------------- #

    def webhooks(self) -> str:
        # The receiver is on loopback over http://, which rotad refuses unless told otherwise.
        server = self.new_server("webhooks", {"ROTAD_ALLOW_INTERNAL_IP_CONNECTIONS": "true"})
        server.start()
        receiver = WebhookReceiver()
        try:
            ctx = self.bootstrap(server)
            admin, project = ctx["admin_token"], ctx["project"]
            hooks = {}
            for path, key in (("/right", receiver.key), ("/wrong", "a-key-the-receiver-does-not-hold")):
                res = http("POST", server.url + "/api/v1/webhooks",
                           {"workspaceId": project, "environment": ENVIRONMENT, "secretPath": "/",
                            "webhookUrl": receiver.url + path, "webhookSecretKey": key}, token=admin)
                hooks[path] = str(api_ok(res, "webhook", "id"))
            for path, want in (("/right", "success"), ("/wrong", "failed")):
                res = http("POST", server.url + f"/api/v1/webhooks/{hooks[path]}/test", {}, token=admin)
                status = api_ok(res, "webhook", "lastStatus")
                expect(status == want, f"test event to {path}: lastStatus {status!r}, expected {want!r}")
            res = http("POST", server.url + "/api/v3/secrets/raw/WEBHOOK_CHECK",
                       {"workspaceId": project, "environment": ENVIRONMENT, "secretValue": "v"}, token=admin)
            expect(res.status == 200, f"create secret: {res.describe()}")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                events = [r["event"] for r in receiver.seen if r["path"] == "/right" and r["verified"]]
                if "secrets.modified" in events:
                    break
                time.sleep(0.2)
            right = [r for r in receiver.seen if r["path"] == "/right"]
            wrong = [r for r in receiver.seen if r["path"] == "/wrong"]
            expect([r["event"] for r in right] == ["test", "secrets.modified"],
                   f"deliveries to the right key: {right}")
            expect(all(r["verified"] for r in right), f"a delivery failed verification: {right}")
            expect(wrong and not any(r["verified"] for r in wrong), f"the wrong key verified: {wrong}")
            modified = [r for r in right if r["event"] == "secrets.modified"][0]
            expect(modified["project"].get("workspaceId") == project, f"payload project: {modified['project']}")
            return (f"{len(right)} deliveries verified with the webhook's key "
                    f"({', '.join(r['event'] for r in right)}); {len(wrong)} rejected with another key")
        finally:
            receiver.close()
            server.stop()

    # ---- driver ----------------------------------------------------------- #

    def run(self) -> int:
        log(f"rotad client conformance: backend={self.args.backend} rotad={self.rotad} workdir={self.workdir}")
        only = set(self.args.only.split(",")) if self.args.only else None

        def want(letter: str) -> bool:
            return only is None or letter in only

        try:
            if want("c"):
                self.rust_prebuild_step()
            self.check("0 server starts", self.start_server)
            self.check("1 bootstrap over HTTP", self.do_bootstrap, needs=("0 server starts",))
            boot = ("1 bootstrap over HTTP",)
            if want("a"):
                self.check("a python infisicalsdk 1.0.18", self.python_sdk, needs=boot)
                self.check("a2 python infisicalsdk folders", self.python_folders, needs=boot)
                self.check("a3 python reference to a rotated token", self.python_rotated_reference, needs=boot)
            if want("b"):
                self.check("b node @infisical/sdk 5.0.2", self.node_sdk, needs=boot)
                self.check("b2 node environments and folders", self.node_folders_envs,
                           needs=("b node @infisical/sdk 5.0.2",))
            if want("c"):
                self.check("c rust-crate test_secrets_resource", self.rust_crate_test, needs=boot)
            if want("h"):
                self.check("h database credentials rotations", lambda: sql_check.sql_rotations(self, sys.modules[__name__]),
                           needs=boot)
            if want("g"):
                self.check("g SDK calls table in docs/COMPATIBILITY.md", self.calls_table)
            if want("d"):
                self.check("d plaintext scan of stored data", self.plaintext_scan, needs=boot)
                self.check("d plaintext scan of the server log", self.log_scan, needs=boot)
            if want("f"):
                self.check("f webhooks verified as upstream documents", self.webhooks)
            if self.server is not None:
                self.server.stop()
            if want("e"):
                self.check("e schemathesis 4.32.5", self.schemathesis)
        finally:
            for server in self.servers:
                server.stop()
            for store in self.stores:
                store.drop()

        failed = [r for r in self.results if not r[1]]
        log(f"\n=== client conformance summary ({self.args.backend}) ===")
        for name, ok, detail in self.results:
            log(f"{'PASS' if ok else 'FAIL'} {name}: {detail.splitlines()[0] if detail else ''}")
        if failed and self.server is not None:
            log(f"server log of the main run: {self.server.logfile}")
            log(textwrap.indent(tail(self.server.logfile, 30), "  | "))
        if not failed and not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            log(f"work dir kept: {self.workdir}")
        log(f"{len(self.results) - len(failed)} passed, {len(failed)} failed")
        return 1 if failed else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    p.add_argument("--rotad", default=str(REPO / "target" / "debug" / "rotad"), help="the rotad binary")
    p.add_argument("--pg-url", default=os.environ.get("ROTAD_CLIENTS_PG_URL",
                                                       "postgres://postgres@127.0.0.1:5432/postgres"),
                   help="admin URL used to create and drop the per-run database")
    p.add_argument("--rust-target-dir", default=str(REPO / "target" / "clients-rust"))
    p.add_argument("--rust-build-timeout", type=float, default=1500)
    p.add_argument("--fuzz-max-examples", type=int, default=10)
    p.add_argument("--fuzz-max-time", type=int, default=120, help="schemathesis --max-time, seconds")
    p.add_argument("--fuzz-seed", type=int, default=int(os.environ.get("ROTAD_FUZZ_SEED", "1")))
    p.add_argument("--only", help="comma-separated subset of checks a,b,c,d,e,f,g,h (0 and 1 always run; "
                                  "g needs a, b, c and h in the same run)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir even when everything passed")
    args = p.parse_args()
    return Harness(args).run()


if __name__ == "__main__":
    sys.exit(main())
