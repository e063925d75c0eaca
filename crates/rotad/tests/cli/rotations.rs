//! `rotations` in both output modes, against the emulator.

use dbt_cloud_emulator::STATE_DELETED;

use crate::helpers::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_in_both_modes() {
    let env = Env::spawn().await;
    env.project("acme").await;
    env.connection("dbt-main").await;

    // Create, text mode; the connection by name, grants with and without a dbt project.
    let create = env
        .rotad(&[
            "rotations",
            "create",
            "--name",
            "ci-token",
            "--project",
            "acme",
            "--env",
            "prod",
            "--connection",
            "dbt-main",
            "--token-name",
            "ci",
            "--grant",
            "job_admin",
            "--grant",
            "developer:42",
            "--interval",
            "7",
            "--at",
            "03:30",
        ])
        .await;
    let text = create.ok();
    assert!(text.contains("Created rotation ci-token"), "{create:#?}");
    assert!(text.contains("job_admin, developer:42"), "{create:#?}");
    assert!(text.contains("every 7 day(s) at 03:30 UTC"), "{create:#?}");
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|s| s.trim().to_string())
        .expect("id line");
    // Create, JSON mode.
    let json = env
        .rotad(&[
            "rotations",
            "create",
            "--name",
            "other",
            "--project",
            "acme",
            "--env",
            "dev",
            "--connection",
            "dbt-main",
            "--grant",
            "job_admin",
            "--no-auto",
            "--json",
        ])
        .await
        .json();
    let other = json["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(json["secretRotation"]["isAutoRotationEnabled"], false);

    // 422 issues joined as `path: message` on one line.
    let invalid = env
        .rotad(&[
            "rotations",
            "create",
            "--name",
            "Bad Name",
            "--project",
            "acme",
            "--env",
            "dev",
            "--connection",
            "dbt-main",
            "--grant",
            "nope",
        ])
        .await;
    let line = invalid.fails(1);
    assert!(
        line.contains("HTTP 422")
            && line.contains("name: ")
            && line.contains("parameters.permissionGrants.0.permissionSet: "),
        "{line}"
    );

    let list = env.rotad(&["rotations", "list", "--project", "acme"]).await;
    assert!(
        list.ok().lines().any(|l| l.contains("ci-token")
            && l.contains("prod:/")
            && l.contains("DBT_SERVICE_TOKEN")),
        "{list:#?}"
    );
    assert!(list.stdout.contains("manual only"), "{list:#?}");
    let list = env
        .rotad(&["rotations", "list", "--project", "acme", "--json"])
        .await
        .json();
    assert_eq!(list["secretRotations"].as_array().map(Vec::len), Some(2));

    let get = env.rotad(&["rotations", "get", &id]).await;
    assert!(
        get.ok().contains("token name:") && get.stdout.contains("ci"),
        "{get:#?}"
    );
    let get = env.rotad(&["rotations", "get", &id, "--json"]).await.json();
    assert_eq!(get["secretRotation"]["rotateAtUtc"]["hours"], 3);

    // Update: only the grants change; the token name is kept.
    let update = env
        .rotad(&[
            "rotations",
            "update",
            &id,
            "--grant",
            "analyst",
            "--no-auto",
            "--interval",
            "14",
        ])
        .await;
    assert!(
        update.ok().contains("Updated rotation ci-token."),
        "{update:#?}"
    );
    let update = env
        .rotad(&[
            "rotations",
            "update",
            &id,
            "--description",
            "for CI",
            "--json",
        ])
        .await
        .json();
    let r = &update["secretRotation"];
    assert_eq!(r["parameters"]["tokenName"], "ci");
    assert_eq!(
        r["parameters"]["permissionGrants"][0]["permissionSet"],
        "analyst"
    );
    assert_eq!(r["rotationInterval"], 14);
    assert_eq!(r["description"], "for CI");
    let nothing = env.rotad(&["rotations", "update", &id]).await;
    nothing.fails(2);

    // Credentials: masked, revealed in JSON; rotate in both modes.
    let before = env
        .rotad(&["rotations", "credentials", &id, "--json"])
        .await
        .json();
    let first = before["generatedCredentials"][0]["serviceToken"]
        .as_str()
        .expect("token")
        .to_string();
    let first_id = before["generatedCredentials"][0]["tokenId"]
        .as_i64()
        .expect("id");
    let creds = env.rotad(&["rotations", "credentials", &id]).await;
    assert!(
        creds.ok().contains("yes (published)") && creds.stdout.contains(&first[..9]),
        "{creds:#?}"
    );
    assert!(!creds.stdout.contains(&first), "masked: {creds:#?}");
    let revealed = env
        .rotad(&["rotations", "credentials", &id, "--reveal"])
        .await;
    assert!(revealed.ok().contains(&first));

    let rotate = env.rotad(&["rotations", "rotate", &id]).await;
    assert!(
        rotate
            .ok()
            .contains("Rotated ci-token: DBT_SERVICE_TOKEN now holds a new token (slot 1)"),
        "{rotate:#?}"
    );
    let rotate = env
        .rotad(&["rotations", "rotate", &id, "--json"])
        .await
        .json();
    assert_eq!(rotate["secretRotation"]["activeIndex"], 0);
    let secret = env
        .rotad(&[
            "secrets",
            "get",
            "DBT_SERVICE_TOKEN",
            "--project",
            "acme",
            "--env",
            "prod",
        ])
        .await;
    assert_ne!(secret.ok().trim(), first);
    // Two rotations later the first token is revoked.
    let state = env
        .emulator
        .tokens()
        .into_iter()
        .find(|t| t.id == first_id)
        .map(|t| t.state);
    assert_eq!(state, Some(STATE_DELETED));

    // Unknown and malformed ids.
    let unknown = env
        .rotad(&["rotations", "get", "00000000-0000-4000-8000-000000000000"])
        .await;
    assert!(unknown.fails(1).contains("404"), "{unknown:#?}");
    let malformed = env.rotad(&["rotations", "rotate", "xyz"]).await;
    assert!(malformed.fails(2).contains("UUID"), "{malformed:#?}");

    // Delete: plain, and with the secret and tokens.
    let del = env.rotad(&["rotations", "delete", &other]).await;
    assert!(
        del.ok()
            .contains(&format!("Deleted rotation other ({other}).")),
        "{del:#?}"
    );
    let del = env
        .rotad(&[
            "rotations",
            "delete",
            &id,
            "--delete-secrets",
            "--revoke-tokens",
            "--json",
        ])
        .await
        .json();
    assert_eq!(del["secretRotation"]["id"], id.as_str());
    let live: Vec<_> = env
        .emulator
        .live_tokens()
        .into_iter()
        .filter(|t| t.name.starts_with("ci-"))
        .collect();
    assert!(live.is_empty(), "{live:?}");
    let secret = env
        .rotad(&[
            "secrets",
            "get",
            "DBT_SERVICE_TOKEN",
            "--project",
            "acme",
            "--env",
            "prod",
        ])
        .await;
    assert!(secret.fails(1).contains("404"));
    let empty = env.rotad(&["rotations", "list", "--project", "acme"]).await;
    assert_eq!(empty.ok().trim(), "No rotations.");
}
