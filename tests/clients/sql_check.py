"""Check h of the client harness: database credentials rotations against the real servers.

A ``postgres-credentials`` rotation on the PostgreSQL at 127.0.0.1:5432 and a
``mysql-credentials`` one on the MariaDB at 127.0.0.1:3306 (root, empty password), each over
two login users of its own (random suffix), created and rotated over plain HTTP. Then:

* the unmodified Python SDK (``get_secret_by_name``) and Node SDK (``getSecret``, through
  ``node/read_secrets.mjs``) read the published username and password, which must be the
  rotation's active slot;
* ``rotad run`` puts the folder's secrets in a child's environment; the child
  (``sql_login.py``) logs in with them: ``mariadb`` with the password; ``psql`` as the user
  (5432 trusts local logins, so the child also proves the password against the role's SCRAM
  verifier, read as the superuser);
* every password rotad generated is registered as sensitive, so check d's plaintext scan
  (the SQLite file or ``pg_dump``, and the server log) covers them.

The users are dropped afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
MARIADB = [shutil.which("mariadb") or "mysql", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "--batch", "-e"]


def mariadb(sql: str) -> None:
    res = subprocess.run(MARIADB + [sql], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError(f"mariadb failed ({sql}): {res.stderr.strip()}")


class SqlUsers:
    """An admin and two rotated users at one server; `kind` is `postgres` or `mysql`."""

    def __init__(self, kind: str, psql) -> None:
        s = secrets.token_hex(5)
        self.kind, self.psql = kind, psql
        self.admin, self.admin_password = f"rotad_h_adm_{s}", "Adm1n-" + secrets.token_urlsafe(18)
        self.user1, self.user2 = f"rotad_h_u1_{s}", f"rotad_h_u2_{s}"
        first, second = "X1-" + secrets.token_hex(12), "X2-" + secrets.token_hex(12)
        if kind == "postgres":
            self.psql(f"CREATE ROLE {self.admin} LOGIN CREATEROLE PASSWORD '{self.admin_password}'; "
                      f"CREATE ROLE {self.user1} LOGIN PASSWORD '{first}'; "
                      f"CREATE ROLE {self.user2} LOGIN PASSWORD '{second}'; "
                      f"GRANT {self.user1}, {self.user2} TO {self.admin} WITH ADMIN OPTION")
        else:
            mariadb(f"CREATE USER '{self.admin}'@'%' IDENTIFIED BY '{self.admin_password}'; "
                    f"GRANT CREATE USER ON *.* TO '{self.admin}'@'%'; "
                    f"CREATE USER '{self.user1}'@'%' IDENTIFIED BY '{first}'; "
                    f"CREATE USER '{self.user2}'@'%' IDENTIFIED BY '{second}'")

    def drop(self) -> None:
        if self.kind == "postgres":
            self.psql(f"DROP ROLE IF EXISTS {self.user1}, {self.user2}, {self.admin}")
        else:
            mariadb(f"DROP USER IF EXISTS '{self.user1}'@'%', '{self.user2}'@'%', '{self.admin}'@'%'")


def sql_rotations(h, r) -> str:
    """Check h; `h` is the running harness (run.py's `Harness`), `r` the run.py module."""
    ENVIRONMENT, SECRET_PATH, CheckFailed = r.ENVIRONMENT, r.SECRET_PATH, r.CheckFailed
    api_ok, expect, http, psql, run_cmd = r.api_ok, r.expect, r.http, r.psql, r.run_cmd

    assert h.server is not None
    u, admin, project = h.server.url, h.ctx["admin_token"], h.ctx["project"]
    pg_url = h.args.pg_url
    run_psql = lambda sql: psql(pg_url, sql)  # noqa: E731 - a one-line adapter
    users: List[SqlUsers] = []
    try:
        users = [SqlUsers("postgres", run_psql), SqlUsers("mysql", run_psql)]
        expected: Dict[str, str] = {}
        for x in users:
            h.secret(f"{x.kind} connection password", x.admin_password)
            port = 5432 if x.kind == "postgres" else 3306
            res = http("POST", u + f"/api/v1/app-connections/{x.kind}", {
                "name": f"clients-{x.kind}", "method": "username-and-password",
                "credentials": {"host": "127.0.0.1", "port": port,
                                "database": "postgres" if x.kind == "postgres" else "",
                                "username": x.admin, "password": x.admin_password,
                                "sslEnabled": False, "sslRejectUnauthorized": False}}, token=admin)
            connection = api_ok(res, "appConnection", "id")
            prefix = "CLIENTS_PG" if x.kind == "postgres" else "CLIENTS_MYSQL"
            kind = f"{x.kind}-credentials"
            res = http("POST", u + f"/api/v2/secret-rotations/{kind}", {
                "name": f"clients-{x.kind}-creds", "projectId": project, "connectionId": connection,
                "environment": ENVIRONMENT, "secretPath": SECRET_PATH, "isAutoRotationEnabled": False,
                "rotationInterval": 30, "parameters": {"username1": x.user1, "username2": x.user2},
                "secretsMapping": {"username": f"{prefix}_USER", "password": f"{prefix}_PASSWORD"}},
                token=admin)
            rotation = api_ok(res, "secretRotation", "id")
            res = http("POST", u + f"/api/v2/secret-rotations/{kind}/{rotation}/rotate-secrets", {}, token=admin)
            expect(res.status == 200, f"{kind} rotate-secrets: {res.describe()}")
            res = http("GET", u + f"/api/v2/secret-rotations/{kind}/{rotation}/generated-credentials",
                       token=admin)
            slots = api_ok(res, "generatedCredentials")
            active = api_ok(res, "activeIndex")
            for i, slot in enumerate(slots):
                h.secret(f"{x.kind} generated password {i}", slot["password"])
            expect(slots[active]["username"] == x.user2, f"{kind}: the rotation did not publish the second user")
            expected[f"{prefix}_USER"] = slots[active]["username"]
            expected[f"{prefix}_PASSWORD"] = slots[active]["password"]

        # The Python SDK reads what was published.
        client = h.python_client()
        try:
            where = dict(environment_slug=ENVIRONMENT, secret_path=SECRET_PATH, project_id=project)
            for name, value in expected.items():
                got = client.secrets.get_secret_by_name(secret_name=name, **where).secretValue
                expect(got == value, f"Python SDK: {name} is not the active slot's value")
            h.used("Python", "secrets.get_secret_by_name")
        finally:
            client.close()

        # The Node SDK too (the expected values reach the script in its environment only).
        node = shutil.which("node")
        expect(node is not None, "node is not on PATH")
        env = dict(os.environ)
        env.update(ROTAD_URL=u, ROTAD_CLIENT_ID=h.ctx["client_id"], ROTAD_CLIENT_SECRET=h.ctx["client_secret"],
                   ROTAD_PROJECT_ID=project, ROTAD_ENVIRONMENT=ENVIRONMENT, ROTAD_EXPECTED=json.dumps(expected))
        code, out = run_cmd([node, str(HERE / "node" / "read_secrets.mjs")], env=env, cwd=HERE / "node",
                            timeout=180, label="node")
        expect(code == 0, f"read_secrets.mjs exited with {code}")
        h.node_calls(out)

        # `rotad run`: a child logs in with the secrets from its environment.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROTAD_")}
        env.update(ROTAD_TOKEN=admin, ROTAD_PG_ADMIN_URL=pg_url)
        code, out = run_cmd([str(h.rotad), "run", "--addr", u, "--project", project, "--env", ENVIRONMENT,
                             "--", sys.executable, str(HERE / "sql_login.py")],
                            env=env, timeout=120, label="rotad run")
        expect(code == 0, f"the child of `rotad run` could not log in (exit {code})")
        for secret in expected.values():
            if secret in out:
                raise CheckFailed("a password reached the output of `rotad run`'s child")
        return (f"postgres-credentials and mysql-credentials rotated at the real servers; Python and Node SDKs "
                f"read {len(expected)} published values; `rotad run`'s child logged in to both")
    finally:
        for x in users:
            try:
                x.drop()
            except Exception as e:  # noqa: BLE001 - cleanup must not hide results
                print(f"  warning: could not drop the {x.kind} users: {e}", flush=True)
