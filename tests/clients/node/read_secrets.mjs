// Reads published secrets with the unmodified Infisical Node SDK and compares them with the
// values the harness expects (check h of tests/clients/run.py: the username and password a
// database credentials rotation published). Started with ROTAD_URL, ROTAD_CLIENT_ID,
// ROTAD_CLIENT_SECRET, ROTAD_PROJECT_ID, ROTAD_ENVIRONMENT and ROTAD_EXPECTED (a JSON object
// of secret name -> value). Never prints a value; exits non-zero on any mismatch.
import { InfisicalSDK } from "@infisical/sdk";

function env(name) {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`missing environment variable ${name}`);
  }
  return value;
}

async function main() {
  const projectId = env("ROTAD_PROJECT_ID");
  const environment = env("ROTAD_ENVIRONMENT");
  const expected = JSON.parse(env("ROTAD_EXPECTED"));
  const client = new InfisicalSDK({ siteUrl: env("ROTAD_URL") });
  await client.auth().universalAuth.login({
    clientId: env("ROTAD_CLIENT_ID"),
    clientSecret: env("ROTAD_CLIENT_SECRET"),
  });
  console.log("node: call ok auth().universalAuth.login");
  for (const [secretName, value] of Object.entries(expected)) {
    const secret = await client.secrets().getSecret({ projectId, environment, secretName, secretPath: "/" });
    if (secret?.secretKey !== secretName || secret.secretValue !== value) {
      throw new Error(`getSecret: ${secretName} is not the value the rotation published`);
    }
    console.log(`node: getSecret ${secretName} ok`);
  }
  console.log("node: call ok secrets().getSecret");
}

main().catch((e) => {
  console.error(`node: FAILED: ${e.message}`);
  process.exit(1);
});
