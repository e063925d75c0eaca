use rotad::crypto::RootKey;
use rotad::Server;

use crate::helpers::TestApp;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn nothing_secret_is_stored_in_plaintext() {
    let mut app = TestApp::spawn().await;
    let project = app.project("plain").await;
    let value = "value-that-must-not-leak-0123456789";
    app.create_secret(&project, "/", "LEAK", value).await;
    let (_, client_id, client_secret) = app.identity("scan", "member").await;
    let login = app.login(&client_id, &client_secret).await;
    let access = login.body["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let admin = app.token.clone();
    app.stop().await;
    let dump = app.db.dump().await;
    assert!(!dump.is_empty());
    assert!(
        contains(&dump, "LEAK"),
        "the scan sees the database (secret names are stored)"
    );
    for needle in [
        value,
        client_secret.as_str(),
        access.as_str(),
        admin.as_str(),
    ] {
        assert!(!contains(&dump, needle), "plaintext found in the database");
    }
}

#[tokio::test]
async fn a_different_key_is_refused_at_start() {
    let mut app = TestApp::spawn().await;
    app.stop().await;
    let other = RootKey::generate_base64();
    let err = Server::start(&TestApp::args(&app.db, &other))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("ROTAD_ENCRYPTION_KEY"), "{err}");
    // The right key still works, and data written before is readable.
    let again = Server::start(&TestApp::args(&app.db, &app.key))
        .await
        .expect("starts");
    again.stop().await.expect("stops");
}
