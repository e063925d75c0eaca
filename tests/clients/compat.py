"""Check g of the client harness: docs/COMPATIBILITY.md's table of SDK calls cannot drift.

The table (between the ``<!-- sdk-calls -->`` markers) lists every public call of the three
clients the harness drives, each marked ``works`` or ``not supported``. This module finds the
calls the installed clients really have:

* Python ``infisicalsdk``: the public methods of every resource object reachable from an
  ``InfisicalSDKClient`` (``secrets``, ``folders``, ``auth.universal_auth``, ...);
* Node ``@infisical/sdk``: ``node/calls.mjs`` walks an ``InfisicalSDK`` instance's resource
  accessors (``secrets()``, ``kms().keys()``, ...);
* the ``infisical`` crate: its source as cargo fetched it, read for the ``pub async fn`` of
  ``Client`` (``login``) and of each resource client that ``Client`` hands out
  (``secrets()``, ``kms()``). Rust cannot be listed at run time, so the source is read.

and compares: a call missing from the table, a row naming a call that no longer exists, a
status other than the two, and a ``works`` row that no check of this run exercised (or an
exercised call not marked ``works``) each fail the check. The harness records a call as
exercised when a check made it and it answered as expected (``Harness.used``); the checked-by
column must name the checks that did.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Dict, Iterable, List, Set, Tuple

BEGIN = "<!-- sdk-calls -->"
END = "<!-- /sdk-calls -->"
CLIENTS = ("Python", "Node", "Rust")
STATUSES = ("works", "not supported")

Row = Tuple[str, str]  # (client, call)
# `pub fn secrets(&self) -> SecretsClient<'_>` in the crate's src/client/mod.rs
ACCESSOR = r"pub fn (\w+)\(&self\) -> (\w+)<'_>"


class TableError(Exception):
    pass


def python_calls() -> Set[str]:
    """Public methods of the resource objects of an ``InfisicalSDKClient``."""
    from infisical_sdk import InfisicalSDKClient  # only the harness venv has it

    client = InfisicalSDKClient(host="http://127.0.0.1:9", cache_ttl=None)
    calls: Set[str] = set()
    seen: Set[int] = set()

    def walk(obj, prefix: str) -> None:
        for name in sorted(vars(obj)):
            value = getattr(obj, name)
            if name.startswith("_") or not type(value).__module__.startswith("infisical_sdk.resources"):
                continue
            if id(value) in seen:
                continue
            seen.add(id(value))
            for method in sorted(dir(type(value))):
                if not method.startswith("_") and inspect.isfunction(getattr(type(value), method)):
                    calls.add(f"{prefix}{name}.{method}")
            walk(value, f"{prefix}{name}.")

    try:
        walk(client, "")
    finally:
        client.close()
    return calls


def node_calls(run_node) -> Set[str]:
    """``run_node(script)`` runs a script of tests/clients/node and returns (code, output)."""
    code, out = run_node("calls.mjs")
    if code != 0:
        raise TableError(f"node/calls.mjs exited with {code}")
    lines = [line for line in out.splitlines() if line.startswith("[")]
    if not lines:
        raise TableError("node/calls.mjs printed no list")
    return set(json.loads(lines[-1]))


def rust_calls(src: Path) -> Set[str]:
    """The crate's calls, read from its source: ``Client``'s async methods and those of the
    resource clients its accessors answer."""
    client_rs = (src / "src" / "client" / "mod.rs").read_text()
    calls = {m for m in re.findall(r"pub async fn (\w+)\(\s*&(?:mut )?self", client_rs)}
    accessors = re.findall(ACCESSOR, client_rs)
    if not accessors:
        raise TableError(f"no resource accessor found in {src}/src/client/mod.rs")
    sources = {p: p.read_text() for p in (src / "src" / "resources").rglob("*.rs")}
    for accessor, type_name in accessors:
        impl = re.compile(r"impl<'a> " + re.escape(type_name) + r"<'a> \{")
        found = [text for text in sources.values() if impl.search(text)]
        if len(found) != 1:
            raise TableError(f"`impl {type_name}` found {len(found)} times in {src}/src/resources")
        body = found[0][impl.search(found[0]).end():]
        for name in re.findall(r"pub async fn (\w+)\(", body):
            calls.add(f"{accessor}().{name}")
    return calls


def parse_table(doc: str) -> Dict[Row, Tuple[str, str]]:
    """(client, call) -> (status, checked-by) from the table between the markers."""
    if doc.count(BEGIN) != 1 or doc.count(END) != 1:
        raise TableError(f"docs/COMPATIBILITY.md must hold {BEGIN} and {END} once each")
    body = doc.split(BEGIN, 1)[1].split(END, 1)[0]
    rows: Dict[Row, Tuple[str, str]] = {}
    problems: List[str] = []
    for line in body.splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|- "):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[:2] == ["client", "call"]:
            continue
        if len(cells) != 4:
            problems.append(f"not 4 cells: {line}")
            continue
        client, call, status, checked = cells
        call = call.strip("`")
        if client not in CLIENTS:
            problems.append(f"unknown client {client!r}: {line}")
        if status not in STATUSES:
            problems.append(f"status must be one of {STATUSES}: {line}")
        if (client, call) in rows:
            problems.append(f"listed twice: {client} {call}")
        rows[(client, call)] = (status, checked)
    if problems:
        raise TableError("\n".join(problems))
    return rows


def compare(table: Dict[Row, Tuple[str, str]], actual: Dict[str, Set[str]],
            exercised: Dict[Row, Set[str]]) -> List[str]:
    """What is wrong with the table, given the installed clients' calls and what this run
    exercised ((client, call) -> the ids of the checks that made the call)."""
    problems = []
    for client in CLIENTS:
        listed = {call for (c, call) in table if c == client}
        for call in sorted(actual[client] - listed):
            problems.append(f"{client} `{call}` is missing from the table")
        for call in sorted(listed - actual[client]):
            problems.append(f"{client} `{call}` is in the table but not in the installed client")
    for (client, call), (status, checked) in sorted(table.items()):
        by = exercised.get((client, call), set())
        if status == "works":
            if not by:
                problems.append(f"{client} `{call}` is marked works, but no check of this run made it")
            elif checked != ", ".join(sorted(by)):
                problems.append(f"{client} `{call}`: checked by `{checked}`, but this run's calls "
                                f"came from {', '.join(sorted(by))}")
        else:
            if by:
                problems.append(f"{client} `{call}` is marked {status}, but check(s) "
                                f"{', '.join(sorted(by))} made it: mark it works")
            if checked not in ("", "-", "—"):
                problems.append(f"{client} `{call}` is {status} but names checks `{checked}`")
    for (client, call) in sorted(set(exercised) - set(table)):
        problems.append(f"{client} `{call}` was exercised but is not in the table")
    return problems


def summary(table: Dict[Row, Tuple[str, str]]) -> str:
    parts = []
    for client in CLIENTS:
        rows = [s for (c, _), (s, _) in table.items() if c == client]
        parts.append(f"{client} {rows.count('works')}/{len(rows)} work")
    return ", ".join(parts)


def render(actual: Dict[str, Set[str]], exercised: Dict[Row, Set[str]]) -> Iterable[str]:
    """A table for the current clients (printed when the check fails, to paste and review)."""
    yield "| client | call | rotad | checked by |"
    yield "|---|---|---|---|"
    for client in CLIENTS:
        for call in sorted(actual[client]):
            by = exercised.get((client, call), set())
            yield f"| {client} | `{call}` | {'works' if by else 'not supported'} | {', '.join(sorted(by)) or '—'} |"


def rust_test_calls(src: Path, test: str) -> Set[str]:
    """The crate's calls that its own test ``test`` (run by check c) makes, read from
    src/tests.rs: ``login`` when the test logs in through ``setup_client``, and each
    ``.secrets().<call>(`` / ``.kms().<call>(`` in the test's body."""
    text = (src / "src" / "tests.rs").read_text()
    start = text.find(f"async fn {test}(")
    if start < 0:
        raise TableError(f"no `async fn {test}` in {src}/src/tests.rs")
    end = text.find("async fn ", start + 1)
    body = text[start:end if end > 0 else len(text)]
    accessors = {a for a, _ in re.findall(ACCESSOR, (src / "src" / "client" / "mod.rs").read_text())}
    calls = {f"{accessor}().{name}" for accessor, name in re.findall(r"\.(\w+)\(\)\s*\.(\w+)\(", body)
             if accessor in accessors}
    if "setup_client()" in body and re.search(r"client\s*\.login\(", text):
        calls.add("login")
    return calls
