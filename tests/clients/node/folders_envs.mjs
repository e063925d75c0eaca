// Drives the unmodified Infisical Node SDK's environments and folders calls
// against a running rotad. Started by tests/clients/run.py with:
//   ROTAD_URL, ROTAD_ADMIN_TOKEN, ROTAD_CLIENT_ID, ROTAD_CLIENT_SECRET,
//   ROTAD_PROJECT_ID, ROTAD_ENVIRONMENT, ROTAD_SUFFIX
// environments().create runs as the bootstrap admin (environments are for
// project admins), and so does projects().create; folders().create and
// listFolders({recursive}) run as the machine identity (a project member)
// after a universal-auth login. Prints one line per step and exits non-zero on
// any mismatch; `node: call ok <call>` names each SDK call that answered as
// expected (the harness's compatibility table check counts them).
import { InfisicalSDK } from "@infisical/sdk";

function env(name) {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`missing environment variable ${name}`);
  }
  return value;
}

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

function ok(call) {
  console.log(`node: call ok ${call}`);
}

async function main() {
  const siteUrl = env("ROTAD_URL");
  const projectId = env("ROTAD_PROJECT_ID");
  const environment = env("ROTAD_ENVIRONMENT");
  const suffix = env("ROTAD_SUFFIX");

  const admin = new InfisicalSDK({ siteUrl });
  admin.auth().accessToken(env("ROTAD_ADMIN_TOKEN"));
  check(admin.auth().getAccessToken() === env("ROTAD_ADMIN_TOKEN"), "auth().getAccessToken: not the token set");
  ok("auth().getAccessToken");
  const slug = `node-env-${suffix}`;
  const created = await admin.environments().create({ projectId, name: `Node ${suffix}`, slug });
  check(created?.slug === slug, `environments().create: slug is ${created?.slug}`);
  check(typeof created.id === "string" && created.id.length > 0, "environments().create: no id");
  check(created.name === `Node ${suffix}`, `environments().create: name is ${created.name}`);
  console.log(`node: environments().create ok (${slug}, position ${created.position})`);
  ok("auth().accessToken");
  ok("environments().create");

  const project = await admin.projects().create({ projectName: `node-${suffix}`, type: "secret-manager" });
  check(typeof project?.id === "string" && project.id.length > 0, `projects().create: ${JSON.stringify(project)}`);
  check(project.name === `node-${suffix}`, `projects().create: name is ${project.name}`);
  ok("projects().create");

  const client = new InfisicalSDK({ siteUrl });
  await client.auth().universalAuth.login({
    clientId: env("ROTAD_CLIENT_ID"),
    clientSecret: env("ROTAD_CLIENT_SECRET"),
  });
  ok("auth().universalAuth.login");
  const top = `node-${suffix}`;
  const made = await client.folders().create({ projectId, environment, name: top, path: "/", description: "from node" });
  check(made?.name === top, `folders().create: name is ${made?.name}`);
  const inner = await client.folders().create({ projectId, environment, name: "inner", path: `/${top}` });
  check(inner?.name === "inner", `folders().create (nested): name is ${inner?.name}`);
  ok("folders().create");

  const flat = await client.folders().listFolders({ projectId, environment, path: "/" });
  check(Array.isArray(flat), `listFolders: not an array: ${JSON.stringify(flat)}`);
  check(flat.some((f) => f.name === top), `listFolders: ${top} missing`);
  check(!flat.some((f) => f.id === inner.id), "listFolders without recursive shows a nested folder");
  const deep = await client.folders().listFolders({ projectId, environment, path: "/", recursive: true });
  check(deep.some((f) => f.id === inner.id), `listFolders({recursive: true}): the nested folder is missing`);
  check(deep.some((f) => f.id === made.id), `listFolders({recursive: true}): ${top} is missing`);
  console.log(`node: folders().create and listFolders (recursive: ${deep.length} folder(s)) ok`);
  ok("folders().listFolders");
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`node: FAILED: ${err?.stack ?? err}`);
    process.exit(1);
  },
);
