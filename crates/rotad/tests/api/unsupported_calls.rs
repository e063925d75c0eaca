//! Every route that an SDK call marked "not supported" in docs/COMPATIBILITY.md's table reaches
//! answers 404 in the envelope, saying rotad does not implement it (and naming the feature).

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_envelope, TestApp};

/// (method, path, the feature named in the message, the SDK calls that send it).
const ROUTES: &[(&str, &str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/auth/aws-auth/login",
        "AWS auth",
        "py auth.aws_auth.login, node auth().awsIamAuth.login",
    ),
    (
        "POST",
        "/api/v1/auth/ldap-auth/login",
        "LDAP auth",
        "py auth.ldap_auth.login",
    ),
    (
        "POST",
        "/api/v1/auth/oidc-auth/login",
        "OIDC auth",
        "py auth.oidc_auth.login",
    ),
    (
        "POST",
        "/api/v1/dynamic-secrets",
        "dynamic secrets",
        "py dynamic_secrets.create, node dynamicSecrets().create",
    ),
    (
        "GET",
        "/api/v1/dynamic-secrets/pg?projectSlug=p&environmentSlug=dev&path=/",
        "dynamic secrets",
        "py dynamic_secrets.get_by_name",
    ),
    (
        "PATCH",
        "/api/v1/dynamic-secrets/pg",
        "dynamic secrets",
        "py dynamic_secrets.update",
    ),
    (
        "DELETE",
        "/api/v1/dynamic-secrets/pg",
        "dynamic secrets",
        "py dynamic_secrets.delete, node dynamicSecrets().delete",
    ),
    (
        "POST",
        "/api/v1/dynamic-secrets/leases",
        "dynamic secrets",
        "py dynamic_secrets.leases.create, node dynamicSecrets().leases.create",
    ),
    (
        "GET",
        "/api/v1/dynamic-secrets/leases/l1?projectSlug=p&environmentSlug=dev",
        "dynamic secrets",
        "py dynamic_secrets.leases.get",
    ),
    (
        "DELETE",
        "/api/v1/dynamic-secrets/leases/l1",
        "dynamic secrets",
        "py dynamic_secrets.leases.revoke, node dynamicSecrets().leases.delete",
    ),
    (
        "POST",
        "/api/v1/dynamic-secrets/leases/l1/renew",
        "dynamic secrets",
        "py dynamic_secrets.leases.renew, node dynamicSecrets().leases.renew",
    ),
    (
        "GET",
        "/api/v1/kms/keys?projectId=p&offset=0&limit=100",
        "KMS",
        "py kms.list_keys, rust kms().list",
    ),
    (
        "POST",
        "/api/v1/kms/keys",
        "KMS",
        "py kms.create_key, node kms().keys().create, rust kms().create",
    ),
    (
        "GET",
        "/api/v1/kms/keys/k1",
        "KMS",
        "py kms.get_key_by_id, rust kms().get",
    ),
    (
        "GET",
        "/api/v1/kms/keys/key-name/k?projectId=p",
        "KMS",
        "py kms.get_key_by_name, node kms().keys().getByName, rust kms().get_by_name",
    ),
    (
        "PATCH",
        "/api/v1/kms/keys/k1",
        "KMS",
        "py kms.update_key, rust kms().update",
    ),
    (
        "DELETE",
        "/api/v1/kms/keys/k1",
        "KMS",
        "py kms.delete_key, node kms().keys().delete, rust kms().delete",
    ),
    (
        "POST",
        "/api/v1/kms/keys/k1/encrypt",
        "KMS",
        "py kms.encrypt_data, node kms().encryption().encrypt, rust kms().encrypt",
    ),
    (
        "POST",
        "/api/v1/kms/keys/k1/decrypt",
        "KMS",
        "py kms.decrypt_data, node kms().encryption().decrypt, rust kms().decrypt",
    ),
    (
        "POST",
        "/api/v1/kms/keys/k1/sign",
        "KMS",
        "node kms().signing().sign, rust kms().sign",
    ),
    (
        "POST",
        "/api/v1/kms/keys/k1/verify",
        "KMS",
        "node kms().signing().verify, rust kms().verify",
    ),
    (
        "GET",
        "/api/v1/kms/keys/k1/signing-algorithms",
        "KMS",
        "node kms().signing().listSigningAlgorithms, rust kms().get_signing_algorithms",
    ),
    (
        "GET",
        "/api/v1/kms/keys/k1/public-key",
        "KMS",
        "node kms().signing().getPublicKey, rust kms().get_public_key",
    ),
    (
        "POST",
        "/api/v2/workspace/p1/memberships",
        "user memberships and invitations",
        "node projects().inviteMembers",
    ),
];

#[tokio::test]
async fn every_unsupported_sdk_call_is_told_rotad_does_not_implement_it() {
    let app = TestApp::spawn().await;
    let token = app.token.clone();
    for (method, path, feature, calls) in ROUTES {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let body = (method != Method::GET).then(|| json!({"identityId": "x", "jwt": "x"}));
        // With and without a token: the answer is the same.
        for auth in [None, Some(token.as_str())] {
            let answer = app.call(method.clone(), path, auth, body.clone()).await;
            let message = assert_envelope(&answer, 404);
            let message = message.as_str().unwrap_or_default();
            let bare = path.split('?').next().unwrap_or(path);
            assert!(
                message.starts_with(&format!(
                    "rotad does not implement {feature} ({method} {bare})"
                )),
                "{calls}: {method} {path}: {message}"
            );
        }
    }
}
