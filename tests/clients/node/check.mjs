// Drives the unmodified Infisical Node SDK (@infisical/sdk, pinned in
// package.json) against a running rotad. Started by tests/clients/run.py with:
//   ROTAD_URL, ROTAD_CLIENT_ID, ROTAD_CLIENT_SECRET, ROTAD_PROJECT_ID,
//   ROTAD_ENVIRONMENT, ROTAD_SECRET_NAME, ROTAD_SECRET_VALUE
// The secret named ROTAD_SECRET_NAME was created beforehand by the Python
// driver; this script logs in, finds it with listSecrets and reads it with
// getSecret. It prints one line per step and exits non-zero on any mismatch.
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

  // No secretPath on purpose: the SDK then omits it and the server must
  // default to "/".
  const listed = await client.secrets().listSecrets({ projectId, environment });
  check(Array.isArray(listed?.secrets), `listSecrets: no secrets array in ${JSON.stringify(listed)}`);
  const found = listed.secrets.find((s) => s.secretKey === secretName);
  check(found !== undefined, `listSecrets: ${secretName} not among ${listed.secrets.map((s) => s.secretKey).join(",")}`);
  check(found.secretValue === secretValue, "listSecrets: value of the listed secret differs");
  console.log(`node: listSecrets ok (${listed.secrets.length} secret(s))`);

  const secret = await client.secrets().getSecret({ projectId, environment, secretName, secretPath: "/" });
  check(secret?.secretKey === secretName, `getSecret: secretKey is ${secret?.secretKey}`);
  check(secret.secretValue === secretValue, "getSecret: value differs");
  console.log("node: getSecret ok");
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`node: FAILED: ${err?.stack ?? err}`);
    process.exit(1);
  },
);
