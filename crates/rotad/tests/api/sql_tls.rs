//! TLS to the rotated databases: a PostgreSQL cluster that takes only TLS connections
//! (`hostssl` alone in `pg_hba.conf`) with a certificate signed by a CA made here with the
//! `openssl` tool. `sslEnabled` with that CA connects and rotates; another CA is refused with
//! a 400 saying why; without verification it connects; `sslEnabled: false` is refused with
//! the database's reason (docs/SECURITY.md, "Database connections").

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection};

use crate::helpers::TestApp;
use crate::scram_pg::{chown_postgres, start, ADMIN_PASSWORD};

const PORT: u16 = 55434;
const NAME: &str = "rotad-tls-pg";

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .status()
        .expect("the openssl tool");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A CA (`{name}.key`, `{name}.pem`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    let (key, pem, subject) = (
        format!("{name}.key"),
        format!("{name}.pem"),
        format!("/CN=rotad test {name}"),
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "3650",
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// The cluster's certificates (before its first start): a CA, the server's certificate
/// signed by it, a second CA that signed nothing, and a `pg_hba.conf` that takes only TLS.
fn prepare(data: &Path) {
    make_ca(data, "ca");
    make_ca(data, "other-ca");
    std::fs::write(
        data.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions file");
    openssl(
        data,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        data,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "3650",
            "-extfile",
            "server.ext",
        ],
    );
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .expect("pg_hba.conf");
    for file in ["server.key", "server.crt", "pg_hba.conf"] {
        chown_postgres(&data.join(file));
    }
    let _ = Command::new("chmod")
        .arg("600")
        .arg(data.join("server.key"))
        .status();
}

/// The cluster's data folder, once it runs.
fn cluster() -> PathBuf {
    start(
        NAME,
        PORT,
        &[
            "ssl=on",
            "ssl_cert_file=server.crt",
            "ssl_key_file=server.key",
        ],
        prepare,
    );
    std::env::temp_dir().join(NAME)
}

fn pem(name: &str) -> String {
    std::fs::read_to_string(cluster().join(format!("{name}.pem"))).expect("a CA certificate")
}

fn options(user: &str, password: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(PORT)
        .username(user)
        .password(password)
        .database("postgres")
        .ssl_mode(PgSslMode::Require)
}

async fn admin(sql: &str) {
    cluster();
    let mut conn = options("postgres", ADMIN_PASSWORD)
        .connect()
        .await
        .expect("superuser login over TLS");
    sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
    let _ = conn.close().await;
}

async fn logs_in(user: &str, password: &str) -> bool {
    match options(user, password).connect().await {
        Ok(conn) => {
            let _ = conn.close().await;
            true
        }
        Err(_) => false,
    }
}

/// An admin and two users of a test's own: (admin, password, user1, user2).
async fn users() -> (String, String, String, String) {
    let s = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let (a, p, u1, u2) = (
        format!("adm_{s}"),
        format!("Adm1n-{s}"),
        format!("u1_{s}"),
        format!("u2_{s}"),
    );
    admin(&format!(
        "CREATE ROLE {a} LOGIN CREATEROLE PASSWORD '{p}'; \
         CREATE ROLE {u1} LOGIN PASSWORD 'X-{s}-1'; CREATE ROLE {u2} LOGIN PASSWORD 'X-{s}-2'; \
         GRANT {u1}, {u2} TO {a} WITH ADMIN OPTION"
    ))
    .await;
    (a, p, u1, u2)
}

fn connection(name: &str, user: &str, password: &str, tls: Value) -> Value {
    let mut credentials = json!({"host": "127.0.0.1", "port": PORT, "database": "postgres",
        "username": user, "password": password});
    if let (Some(c), Some(t)) = (credentials.as_object_mut(), tls.as_object()) {
        c.extend(t.clone());
    }
    json!({"name": name, "method": "username-and-password", "credentials": credentials})
}

#[tokio::test]
async fn the_right_ca_connects_and_rotates() {
    let (a, p, u1, u2) = users().await;
    let app = TestApp::spawn().await;
    let project = app.project("tls").await;
    let tls = json!({"sslEnabled": true, "sslRejectUnauthorized": true,
        "sslCertificate": pem("ca")});
    let conn = app
        .post(
            "/api/v1/app-connections/postgres",
            connection("tls-db", &a, &p, tls),
        )
        .await;
    assert_eq!(conn.status, 200, "{}", conn.body);
    let connection_id = conn.body["appConnection"]["id"].as_str().expect("id");
    let checked = app
        .post(
            &format!("/api/v1/app-connections/postgres/{connection_id}/check"),
            json!({}),
        )
        .await;
    assert!(checked.status.is_success(), "{}", checked.body);
    let created = app
        .post(
            "/api/v2/secret-rotations/postgres-credentials",
            json!({"name": "tls-creds", "projectId": project, "connectionId": connection_id,
                "environment": "dev", "secretPath": "/", "isAutoRotationEnabled": false,
                "rotationInterval": 30, "parameters": {"username1": u1, "username2": u2},
                "secretsMapping": {"username": "DB_USER", "password": "DB_PASSWORD"}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["secretRotation"]["id"].as_str().expect("id");
    let rotated = app
        .post(
            &format!("/api/v2/secret-rotations/postgres-credentials/{id}/rotate-secrets"),
            json!({}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let mut published = Vec::new();
    for key in ["DB_USER", "DB_PASSWORD"] {
        let res = app
            .get(&format!(
                "/api/v3/secrets/raw/{key}?workspaceId={project}&environment=dev"
            ))
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        published.push(
            res.body["secret"]["secretValue"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert_eq!(published[0], u2, "the rotation published the second user");
    assert!(
        logs_in(&published[0], &published[1]).await,
        "the published login works"
    );
    admin(&format!("DROP ROLE {u1}, {u2}, {a}")).await;
}

#[tokio::test]
async fn another_ca_is_refused_and_unverified_tls_connects() {
    let (a, p, u1, u2) = users().await;
    let app = TestApp::spawn().await;
    let wrong = json!({"sslEnabled": true, "sslRejectUnauthorized": true,
        "sslCertificate": pem("other-ca")});
    let res = app
        .post(
            "/api/v1/app-connections/postgres",
            connection("wrong-ca", &a, &p, wrong),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.body);
    let message = res.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Failed to validate credentials") && message.contains("TLS"),
        "the reason names TLS: {message}"
    );
    assert!(!message.contains(&p), "no password in the answer");
    // No CA but the built-in roots: the test CA is not among them.
    let roots = json!({"sslEnabled": true, "sslRejectUnauthorized": true});
    let res = app
        .post(
            "/api/v1/app-connections/postgres",
            connection("roots", &a, &p, roots),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.body);
    let unverified = json!({"sslEnabled": true, "sslRejectUnauthorized": false});
    let res = app
        .post(
            "/api/v1/app-connections/postgres",
            connection("unverified", &a, &p, unverified),
        )
        .await;
    assert_eq!(res.status, 200, "encrypted without verifying: {}", res.body);
    admin(&format!("DROP ROLE {u1}, {u2}, {a}")).await;
}

#[tokio::test]
async fn without_tls_a_server_that_requires_it_refuses_with_its_reason() {
    let (a, p, u1, u2) = users().await;
    let app = TestApp::spawn().await;
    let plain = json!({"sslEnabled": false, "sslRejectUnauthorized": false});
    let res = app
        .post(
            "/api/v1/app-connections/postgres",
            connection("plain", &a, &p, plain),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.body);
    let message = res.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no pg_hba.conf entry") && message.contains("no encryption"),
        "the database's reason: {message}"
    );
    let listed = app.get("/api/v1/app-connections/postgres").await;
    assert_eq!(
        listed.body["appConnections"].as_array().map(Vec::len),
        Some(0)
    );
    admin(&format!("DROP ROLE {u1}, {u2}, {a}")).await;
}
