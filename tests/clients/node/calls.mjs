// Lists every public call of the installed Node SDK (@infisical/sdk), one JSON array on
// stdout, for the compatibility table check of tests/clients/run.py (check g).
//
// The SDK's own functions on an `InfisicalSDK` instance are its resource accessors
// (`secrets()`, `kms()`, ...); each answers a client object whose functions are the calls.
// A plain object inside (`auth().universalAuth`) is a namespace, and so is a function taking
// no argument that answers a plain object at once (`kms().keys()`). Calls are named as a
// program writes them: `secrets().listSecrets`, `auth().universalAuth.login`,
// `kms().keys().create`. The site URL is a closed loopback port, so a call made while
// probing a zero-argument function reaches no server; its promise is settled and ignored.
import { InfisicalSDK } from "@infisical/sdk";

const sdk = new InfisicalSDK({ siteUrl: "http://127.0.0.1:9" });

function isPlainObject(value) {
  return value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype;
}

function functionsOf(obj) {
  const names = new Set();
  for (let p = obj; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (name === "constructor" || name.startsWith("_")) continue;
      const value = obj[name];
      // Bound functions are the SDK's own plumbing handed to a client (its authenticator).
      if (typeof value === "function" && !value.name.startsWith("bound ")) names.add(name);
    }
  }
  return [...names].sort();
}

function walk(obj, prefix, out) {
  for (const name of functionsOf(obj)) {
    const fn = obj[name];
    if (fn.length === 0) {
      let result;
      try {
        result = fn.call(obj);
      } catch {
        result = undefined;
      }
      if (result && typeof result.then === "function") {
        result.then(() => {}, () => {});
      } else if (isPlainObject(result)) {
        walk(result, `${prefix}${name}().`, out);
        continue;
      }
    }
    out.push(`${prefix}${name}`);
  }
  for (const name of Object.keys(obj).sort()) {
    if (isPlainObject(obj[name])) walk(obj[name], `${prefix}${name}.`, out);
  }
}

const calls = [];
for (const name of Object.keys(sdk).sort()) {
  const accessor = sdk[name];
  if (typeof accessor !== "function" || accessor.length !== 0) continue;
  const client = accessor.call(sdk);
  if (client && typeof client === "object" && client !== sdk) walk(client, `${name}().`, calls);
}
console.log(JSON.stringify(calls.sort()));
