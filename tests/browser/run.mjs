#!/usr/bin/env node
// Browser tests of rotad's web dashboard: Debian's Chromium, driven by playwright-core, against
// a real `rotad serve` and `dbt-cloud-emulator` that this runner starts for every test, each
// with a fresh database (a SQLite file in a temporary folder, or a fresh PostgreSQL database
// that is dropped afterwards).
//
//   node tests/browser/run.mjs --backend sqlite|postgres [--rotad PATH] [--emulator PATH]
//        [--pg-url URL] [--screenshots DIR] [--chromium /usr/bin/chromium]
//
// Each test prints PASS or FAIL; the last line is `N passed, M failed` (.ci/run counts it).

import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const TARGET = process.env.CARGO_TARGET_DIR || join(REPO, "target");

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const BACKEND = option("backend", "sqlite");
const ROTAD = option("rotad", join(TARGET, "debug", "rotad"));
const EMULATOR = option("emulator", join(TARGET, "debug", "dbt-cloud-emulator"));
const PG_URL = option("pg-url", "postgres://postgres@127.0.0.1:5432/postgres");
const SCREENSHOTS = option("screenshots", "");
const CHROMIUM = option("chromium", "/usr/bin/chromium");
const ADMIN_DBT_TOKEN = "dbtc_" + randomBytes(16).toString("hex");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function waitFor(url, what) {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`${what} did not come up at ${url}`);
}

/// One world: an emulator, a rotad on a fresh database, an admin, a project and a connection.
class World {
  async start() {
    this.dir = mkdtempSync(join(tmpdir(), "rotad-browser-"));
    const emuPort = await freePort();
    this.emuUrl = `http://127.0.0.1:${emuPort}`;
    this.emulator = spawn(EMULATOR, ["--listen", `127.0.0.1:${emuPort}`, "--account-id", "12345",
      "--admin-token", ADMIN_DBT_TOKEN], { stdio: "ignore" });
    await waitFor(`${this.emuUrl}/_emulator/info`, "the dbt emulator");
    let dbUrl;
    if (BACKEND === "postgres") {
      this.pgName = "rotad_browser_" + randomBytes(6).toString("hex");
      execFileSync("psql", [PG_URL, "-qc", `CREATE DATABASE ${this.pgName}`]);
      dbUrl = PG_URL.replace(/\/[^/]*$/, `/${this.pgName}`);
    } else {
      dbUrl = `sqlite://${this.dir}/rotad.db`;
    }
    const port = await freePort();
    this.base = `http://127.0.0.1:${port}`;
    this.rotad = spawn(ROTAD, ["serve"], {
      stdio: ["ignore", "ignore", "ignore"],
      env: { ...process.env, ROTAD_LISTEN: `127.0.0.1:${port}`, ROTAD_DATABASE_URL: dbUrl,
        ROTAD_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
        ROTAD_ALLOW_INTERNAL_IP_CONNECTIONS: "true", ROTAD_ROTATION_MAX_ATTEMPTS: "1",
        ROTAD_SCHEDULER_POLL_INTERVAL: "1s", RUST_LOG: "warn" },
    });
    await waitFor(`${this.base}/api/status`, "rotad");
    const boot = await this.api("POST", "/api/v1/admin/bootstrap", { organization: "acme" }, null);
    this.token = boot.identity.credentials.token;
    this.org = boot.organization.id;
    this.project = (await this.api("POST", "/api/v2/workspace", { projectName: "analytics" })).project.id;
    this.connection = (await this.api("POST", "/api/v1/app-connections/dbt", {
      name: "dbt-emulator", method: "api-token",
      credentials: { instanceUrl: this.emuUrl, accountId: "12345", apiToken: ADMIN_DBT_TOKEN },
    })).appConnection.id;
    // A project's own connection: project members may use it (org connections need org rights).
    await this.api("POST", "/api/v1/app-connections/dbt", {
      name: "dbt-analytics", method: "api-token", projectId: this.project,
      credentials: { instanceUrl: this.emuUrl, accountId: "12345", apiToken: ADMIN_DBT_TOKEN },
    });
    return this;
  }

  async api(method, path, body, token = this.token) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(this.base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const err = new Error(`${method} ${path}: ${res.status} ${text}`);
      err.status = res.status;
      err.body = json;
      throw err;
    }
    return json;
  }

  /// An identity with universal auth and `role` in the project: {clientId, clientSecret}.
  async member(role) {
    const name = `${role}-${randomBytes(3).toString("hex")}`;
    const id = (await this.api("POST", "/api/v1/identities", { name, organizationId: this.org, role: "no-access" })).identity.id;
    const clientId = (await this.api("POST", `/api/v1/auth/universal-auth/identities/${id}`, {})).identityUniversalAuth.clientId;
    const clientSecret = (await this.api("POST", `/api/v1/auth/universal-auth/identities/${id}/client-secrets`, {})).clientSecret;
    await this.api("POST", `/api/v1/projects/${this.project}/memberships/identities/${id}`,
      { roles: [{ role, isTemporary: false }] });
    return { clientId, clientSecret };
  }

  async rotation(name, secret, extra = {}) {
    return (await this.api("POST", "/api/v2/secret-rotations/dbt-service-token", {
      name, projectId: this.project, connectionId: this.connection, environment: "prod", secretPath: "/",
      rotationInterval: 30, rotateAtUtc: { hours: 3, minutes: 0 },
      parameters: { tokenName: name, permissionGrants: [{ permissionSet: "job_admin" }] },
      secretsMapping: { serviceToken: secret }, ...extra,
    })).secretRotation;
  }

  async fault(fault) {
    const r = await fetch(`${this.emuUrl}/_emulator/faults`, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(fault) });
    if (!r.ok) throw new Error(`fault: ${r.status}`);
  }

  async stop() {
    for (const p of [this.rotad, this.emulator]) {
      if (p && p.exitCode === null) {
        p.kill("SIGTERM");
        await new Promise((r) => { p.once("exit", r); setTimeout(r, 10000); });
      }
    }
    if (this.pgName) {
      try { execFileSync("psql", [PG_URL, "-qc", `DROP DATABASE IF EXISTS ${this.pgName} WITH (FORCE)`]); } catch {}
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

async function signIn(page, world, creds) {
  await page.goto(world.base + "/");
  assert(page.url().endsWith("/sign-in"), `not sent to sign in: ${page.url()}`);
  await page.getByLabel("Client ID").fill(creds.clientId);
  await page.getByLabel("Client secret").fill(creds.clientSecret);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(world.base + "/");
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test("sign in with a client id and secret", async ({ page, world }) => {
  const admin = await world.member("admin");
  await signIn(page, world, admin);
  await page.getByRole("heading", { name: "analytics" }).waitFor();
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "rotad_session");
  assert(session && session.httpOnly && session.sameSite === "Strict", `cookie: ${JSON.stringify(session)}`);
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  assert(!stored.includes(session.value), "the session id is readable by scripts");
});

test("the overview lists a rotation with status success and its next rotation", async ({ page, world }) => {
  const r = await world.rotation("analytics-ci", "DBT_SERVICE_TOKEN");
  await signIn(page, world, await world.member("admin"));
  const row = page.locator(`tr[data-rotation="${r.id}"]`);
  await row.waitFor();
  const text = await row.innerText();
  assert(text.includes("analytics-ci") && text.includes("DBT_SERVICE_TOKEN"), text);
  assert(text.includes("Success"), `status: ${text}`);
  const next = row.locator("td").nth(4).locator("time");
  const iso = await next.getAttribute("datetime");
  assert(Date.parse(iso) === Date.parse(r.nextRotationAt), `next rotation ${iso} != ${r.nextRotationAt}`);
  const title = await next.getAttribute("title");
  assert(title.endsWith("UTC"), `UTC on hover: ${title}`);
  assert((await next.innerText()).startsWith("in "), `relative: ${await next.innerText()}`);
  assert((await page.locator('[data-count="total"]').innerText()) === "1", "total count");
  if (SCREENSHOTS) {
    await world.rotation("nightly-loads", "NIGHTLY_DBT_TOKEN", { rotationInterval: 1 });
    await world.rotation("ad-hoc-exports", "EXPORTS_DBT_TOKEN", { isAutoRotationEnabled: false });
    const failing = await world.rotation("reverse-etl", "REVERSE_ETL_TOKEN");
    await world.fault({ operation: "token_create", kind: { type: "status", code: 503 }, times: 5 });
    await world.api("POST", `/api/v2/secret-rotations/dbt-service-token/${failing.id}/rotate-secrets`).catch(() => {});
    await fetch(`${world.emuUrl}/_emulator/faults`, { method: "DELETE" });
    await world.api("POST", `/api/v2/secret-rotations/dbt-service-token/${r.id}/rotate-secrets`);
    await page.reload();
    await page.locator("tr.row-failed").waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, "dashboard-overview.png"), fullPage: true });
    await page.goto(`${world.base}/rotations/${r.id}`);
    await page.screenshot({ path: join(SCREENSHOTS, "dashboard-rotation.png"), fullPage: true });
  }
});

test("a failing rotation shows as failed with its message and sorts first", async ({ page, world }) => {
  await world.rotation("aaa-healthy", "HEALTHY_TOKEN");
  const bad = await world.rotation("zzz-broken", "BROKEN_TOKEN");
  await world.fault({ operation: "token_create", kind: { type: "status", code: 500 }, times: 3 });
  let message = "";
  try {
    await world.api("POST", `/api/v2/secret-rotations/dbt-service-token/${bad.id}/rotate-secrets`);
  } catch (e) {
    message = e.body && e.body.message;
  }
  assert(message, "the rotation did not fail");
  await signIn(page, world, await world.member("admin"));
  const first = page.locator("table.rotations tbody tr").first();
  assert((await first.getAttribute("data-rotation")) === bad.id, "the failing rotation is not first");
  const text = await first.innerText();
  assert(text.includes("Failed"), `status in words: ${text}`);
  assert(text.includes(message.slice(0, 40)), `message ${message} not in ${text}`);
  assert((await page.locator('[data-count="failing"]').innerText()) === "1", "failing count");
});

test("rotate now changes last rotated and the slot shown active", async ({ page, world }) => {
  const r = await world.rotation("rotate-me", "ROTATE_ME_TOKEN");
  await signIn(page, world, await world.member("admin"));
  await page.goto(`${world.base}/rotations/${r.id}`);
  const before = await page.locator("[data-last-rotated]").getAttribute("data-last-rotated");
  assert((await page.locator("[data-active-slot]").innerText()) === "1", "slot 1 active first");
  await page.waitForTimeout(20);
  await page.getByRole("button", { name: "Rotate now" }).click();
  await page.waitForURL(/done=rotated/);
  await page.getByText("Rotated: a new credential is published.").waitFor();
  const after = await page.locator("[data-last-rotated]").getAttribute("data-last-rotated");
  assert(Number(after) > Number(before), `last rotated ${before} -> ${after}`);
  assert((await page.locator("[data-active-slot]").innerText()) === "2", "slot 2 active after");
  const active = await page.locator("tr.slot-active th").innerText();
  assert(active === "2", `active slot row ${active}`);
});

test("the overview refreshes a rotation's status without a reload", async ({ page, world }) => {
  const r = await world.rotation("live-one", "LIVE_TOKEN");
  await signIn(page, world, await world.member("admin"));
  const cell = page.locator(`tr[data-rotation="${r.id}"] td`).nth(3);
  const before = await cell.innerText();
  await page.evaluate(() => { window.__notReloaded = true; });
  await world.api("POST", `/api/v2/secret-rotations/dbt-service-token/${r.id}/rotate-secrets`);
  const deadline = Date.now() + 15000;
  while ((await page.locator(`tr[data-rotation="${r.id}"] td`).nth(3).innerText()) === before) {
    assert(Date.now() < deadline, "the last-rotated cell did not refresh");
    await page.waitForTimeout(250);
  }
  assert(await page.evaluate(() => window.__notReloaded === true), "the page was reloaded");
});

test("a viewer sees no rotate button and a forged rotate is 403", async ({ page, world }) => {
  const r = await world.rotation("viewed", "VIEWED_TOKEN");
  await signIn(page, world, await world.member("viewer"));
  await page.goto(`${world.base}/rotations/${r.id}`);
  await page.getByRole("heading", { name: "Rotation viewed" }).waitFor();
  assert((await page.getByRole("button", { name: "Rotate now" }).count()) === 0, "rotate button shown");
  const csrf = await page.locator('input[name="csrf"]').first().inputValue();
  const res = await page.request.post(`${world.base}/rotations/${r.id}/rotate`, {
    form: { csrf }, headers: { Origin: world.base }, maxRedirects: 0,
  });
  assert(res.status() === 403, `forged rotate answered ${res.status()}`);
  const now = await world.api("GET", `/api/v2/secret-rotations/dbt-service-token/${r.id}`);
  assert(now.secretRotation.lastRotatedAt === r.lastRotatedAt, "the viewer rotated");
});

test("a form post without the CSRF token is refused", async ({ page, world }) => {
  const r = await world.rotation("guarded", "GUARDED_TOKEN");
  await signIn(page, world, await world.member("admin"));
  await page.goto(`${world.base}/rotations/${r.id}`);
  const form = page.locator(`form[action="/rotations/${r.id}/rotate"]`);
  await form.locator('input[name="csrf"]').evaluate((el) => el.remove());
  const [response] = await Promise.all([
    page.waitForResponse((res) => res.url().endsWith("/rotate")),
    form.getByRole("button", { name: "Rotate now" }).click(),
  ]);
  assert(response.status() === 403, `answered ${response.status()}`);
  await page.getByText("Invalid or missing CSRF token").waitFor();
  const now = await world.api("GET", `/api/v2/secret-rotations/dbt-service-token/${r.id}`);
  assert(now.secretRotation.lastRotatedAt === r.lastRotatedAt, "it rotated");
});

test("sign-out ends the session", async ({ page, world, browser }) => {
  await signIn(page, world, await world.member("admin"));
  const old = (await page.context().cookies()).find((c) => c.name === "rotad_session");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(world.base + "/sign-in");
  const other = await browser.newContext();
  await other.addCookies([old]);
  const p2 = await other.newPage();
  await p2.goto(world.base + "/");
  assert(p2.url().endsWith("/sign-in"), `the old cookie still works: ${p2.url()}`);
  await other.close();
});

test("a create-rotation form with an invalid name shows the API's message", async ({ page, world }) => {
  await signIn(page, world, await world.member("admin"));
  await page.getByRole("link", { name: "New rotation" }).click();
  await page.getByLabel("Rotation name").fill("Not A Slug");
  await page.getByLabel("dbt token name").fill("made-in-browser");
  await page.getByLabel("Secret name (receives the token)").fill("BROWSER_TOKEN");
  await page.getByRole("button", { name: "Create rotation" }).click();
  const error = page.locator("#f-name-err");
  await error.waitFor();
  const text = await error.innerText();
  assert(text.includes("name field can only contain lowercase letters, numbers, and hyphens"), text);
  assert((await page.getByLabel("Rotation name").getAttribute("aria-invalid")) === "true", "field not marked");
  await page.getByLabel("Rotation name").fill("made-in-browser");
  await page.getByRole("button", { name: "Create rotation" }).click();
  try {
    await page.waitForURL(/done=created/);
  } catch (e) {
    throw new Error(`not created: ${await page.locator("main").innerText()}`);
  }
});

async function main() {
  if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ["--no-sandbox", "--disable-background-networking"] });
  let passed = 0, failed = 0;
  const only = option("only", "");
  for (const t of tests) {
    if (only && !t.name.includes(only)) continue;
    const started = Date.now();
    let world;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: "Europe/Berlin" });
    context.setDefaultTimeout(15000);
    const page = await context.newPage();
    try {
      world = await new World().start();
      await t.fn({ page, world, browser });
      passed++;
      console.log(`PASS ${t.name} (${Date.now() - started} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${t.name}: ${e && e.stack ? e.stack : e}`);
    } finally {
      await context.close().catch(() => {});
      if (world) await world.stop().catch(() => {});
    }
  }
  await browser.close();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.log(`FAIL runner: ${e && e.stack ? e.stack : e}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
});
