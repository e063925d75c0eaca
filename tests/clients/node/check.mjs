// Drives the unmodified Infisical Node SDK (@infisical/sdk, pinned in
// package.json) against a running rotad. Started by tests/clients/run.py with:
//   ROTAD_URL, ROTAD_CLIENT_ID, ROTAD_CLIENT_SECRET, ROTAD_PROJECT_ID,
//   ROTAD_ENVIRONMENT, ROTAD_SECRET_NAME, ROTAD_SECRET_VALUE
// The secret named ROTAD_SECRET_NAME was created beforehand by the Python
// driver; this script logs in, finds it with listSecrets and reads it with
// getSecret, then creates, updates, lists (with imports) and deletes a secret
// of its own, and renews its token. It prints one line per step and exits
// non-zero on any mismatch; `node: call ok <call>` names each SDK call that
// answered as expected (the harness's compatibility table check counts them).
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
  const secretName = env("ROTAD_SECRET_NAME");
  const secretValue = env("ROTAD_SECRET_VALUE");

  const client = new InfisicalSDK({ siteUrl });
  await client.auth().universalAuth.login({
    clientId: env("ROTAD_CLIENT_ID"),
    clientSecret: env("ROTAD_CLIENT_SECRET"),
  });
  console.log("node: universal-auth login ok");
  ok("auth().universalAuth.login");

  // No secretPath on purpose: the SDK then omits it and the server must
  // default to "/".
  const listed = await client.secrets().listSecrets({ projectId, environment });
  check(Array.isArray(listed?.secrets), `listSecrets: no secrets array in ${JSON.stringify(listed)}`);
  const found = listed.secrets.find((s) => s.secretKey === secretName);
  check(found !== undefined, `listSecrets: ${secretName} not among ${listed.secrets.map((s) => s.secretKey).join(",")}`);
  check(found.secretValue === secretValue, "listSecrets: value of the listed secret differs");
  console.log(`node: listSecrets ok (${listed.secrets.length} secret(s))`);
  ok("secrets().listSecrets");

  const secret = await client.secrets().getSecret({ projectId, environment, secretName, secretPath: "/" });
  check(secret?.secretKey === secretName, `getSecret: secretKey is ${secret?.secretKey}`);
  check(secret.secretValue === secretValue, "getSecret: value differs");
  console.log("node: getSecret ok");
  ok("secrets().getSecret");

  const own = `${secretName}_OWN`;
  const where = { projectId, environment, secretPath: "/" };
  const created = await client.secrets().createSecret(own, { ...where, secretValue: "first", secretComment: "node" });
  check(created?.secret?.secretKey === own, `createSecret: ${JSON.stringify(created?.secret?.secretKey)}`);
  check(created.secret.secretValue === "first", "createSecret: value differs");
  ok("secrets().createSecret");

  const updated = await client.secrets().updateSecret(own, { ...where, secretValue: "second" });
  check(updated?.secret?.secretValue === "second", "updateSecret: the answer does not carry the new value");
  const reread = await client.secrets().getSecret({ ...where, secretName: own });
  check(reread.secretValue === "second", "updateSecret: getSecret after it returns the old value");
  ok("secrets().updateSecret");

  const withImports = await client.secrets().listSecretsWithImports(where);
  check(Array.isArray(withImports), `listSecretsWithImports: not an array: ${JSON.stringify(withImports)}`);
  check(withImports.some((s) => s.secretKey === own && s.secretValue === "second"),
    `listSecretsWithImports: ${own} missing`);
  ok("secrets().listSecretsWithImports");

  const deleted = await client.secrets().deleteSecret(own, where);
  check(deleted?.secret?.secretKey === own, `deleteSecret: ${JSON.stringify(deleted?.secret?.secretKey)}`);
  let gone = false;
  try {
    await client.secrets().getSecret({ ...where, secretName: own });
  } catch {
    gone = true;
  }
  check(gone, "deleteSecret: getSecret after it still finds the secret");
  ok("secrets().deleteSecret");

  // Renewal extends the token; the SDK keeps using what the server answers.
  for (const [method, renew] of [
    ["universalAuth", () => client.auth().universalAuth.renew()],
    ["awsIamAuth", () => client.auth().awsIamAuth.renew()],
  ]) {
    await renew();
    const after = await client.secrets().getSecret({ projectId, environment, secretName, secretPath: "/" });
    check(after.secretValue === secretValue, `${method}.renew: a read with the renewed token failed`);
    ok(`auth().${method}.renew`);
  }
  console.log("node: createSecret, updateSecret, listSecretsWithImports, deleteSecret, renew ok");
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`node: FAILED: ${err?.stack ?? err}`);
    process.exit(1);
  },
);
