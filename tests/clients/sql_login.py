"""The child `rotad run` starts in check h (sql_check.py): logs in with the database
credentials it finds in its environment, as an application would. Never prints a password.

MariaDB checks the password itself (`mariadb` with MYSQL_PWD). The PostgreSQL on 5432 trusts
local logins, so besides logging in with `psql` as the user, the password is proven against
the role's SCRAM-SHA-256 verifier (read as the superuser, ROTAD_PG_ADMIN_URL).
"""

import base64
import hashlib
import hmac
import os
import shutil
import subprocess
import sys


def fail(message: str) -> None:
    print(f"sql_login: FAILED: {message}", flush=True)
    sys.exit(1)


def run(cmd, env=None) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    if res.returncode != 0:
        fail(f"{cmd[0]} exited with {res.returncode}: {res.stderr.strip()[:300]}")
    return res.stdout.strip()


def scram_matches(verifier: str, password: str) -> bool:
    # SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
    try:
        method, rest = verifier.split("$", 1)
        params, keys = rest.split("$", 1)
        iterations, salt = params.split(":", 1)
        stored_key, server_key = keys.split(":", 1)
    except ValueError:
        return False
    if method != "SCRAM-SHA-256":
        return False
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return (hmac.compare_digest(base64.b64encode(hashlib.sha256(client_key).digest()).decode(), stored_key)
            and hmac.compare_digest(base64.b64encode(server).decode(), server_key))


def main() -> None:
    env = os.environ
    for name in ("CLIENTS_PG_USER", "CLIENTS_PG_PASSWORD", "CLIENTS_MYSQL_USER", "CLIENTS_MYSQL_PASSWORD"):
        if not env.get(name):
            fail(f"{name} is not in the environment `rotad run` gave")

    user = env["CLIENTS_MYSQL_USER"]
    child = dict(env, MYSQL_PWD=env["CLIENTS_MYSQL_PASSWORD"])
    client = shutil.which("mariadb") or "mysql"
    who = run([client, "-h", "127.0.0.1", "-P", "3306", "-u", user, "-N", "-e", "SELECT CURRENT_USER()"], child)
    if not who.startswith(user + "@"):
        fail(f"MariaDB says the login is {who!r}")
    print("sql_login: MariaDB login ok", flush=True)

    user = env["CLIENTS_PG_USER"]
    child = dict(env, PGPASSWORD=env["CLIENTS_PG_PASSWORD"])
    who = run(["psql", "-h", "127.0.0.1", "-p", "5432", "-U", user, "-d", "postgres", "-tAc", "SELECT current_user"],
              child)
    if who != user:
        fail(f"PostgreSQL says the login is {who!r}")
    verifier = run(["psql", env["ROTAD_PG_ADMIN_URL"], "-tAc",
                    f"SELECT rolpassword FROM pg_authid WHERE rolname = '{user}'"])
    if not scram_matches(verifier, env["CLIENTS_PG_PASSWORD"]):
        fail("the PostgreSQL password does not match the role's verifier")
    print("sql_login: PostgreSQL login ok (password matches the role's SCRAM verifier)", flush=True)


if __name__ == "__main__":
    main()
