//! `connections` in both output modes; the dbt API token from stdin, env or flag.

use crate::helpers::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_in_both_modes() {
    let env = Env::spawn().await;
    let account = env.emulator.account_id().to_string();
    let url = env.emulator.base_url();
    let admin = env.emulator.admin_token();
    let auth = [
        ("ROTAD_ADDR", env.base.as_str()),
        ("ROTAD_TOKEN", env.token.as_str()),
    ];

    // Token from the environment, text output; the token is never printed.
    let envs = [auth[0], auth[1], ("ROTAD_DBT_API_TOKEN", admin.as_str())];
    let create = env
        .run(
            &[
                "connections",
                "create",
                "--name",
                "dbt-main",
                "--instance-url",
                &url,
                "--account-id",
                &account,
                "--description",
                "main account",
            ],
            &envs,
            None,
        )
        .await;
    assert!(
        create.ok().contains("Created dbt connection dbt-main."),
        "{create:#?}"
    );
    assert!(
        create.stdout.contains(&url) && !create.stdout.contains(&admin),
        "{create:#?}"
    );
    // Token from stdin, JSON output.
    let second = env.connection("dbt-second").await;

    let list = env.rotad(&["connections", "list"]).await;
    assert!(
        list.ok()
            .lines()
            .any(|l| l.contains("dbt-main") && l.contains(&url)),
        "{list:#?}"
    );
    let list = env.rotad(&["connections", "list", "--json"]).await.json();
    assert_eq!(
        list["appConnections"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );

    let get = env.rotad(&["connections", "get", "dbt-main"]).await;
    assert!(get.ok().contains("main account"), "{get:#?}");
    let get = env
        .rotad(&["connections", "get", &second, "--json"])
        .await
        .json();
    assert_eq!(get["appConnection"]["name"], "dbt-second");

    let update = env
        .rotad(&["connections", "update", &second, "--name", "dbt-renamed"])
        .await;
    assert!(
        update.ok().contains("Updated dbt connection dbt-renamed."),
        "{update:#?}"
    );
    let update = env
        .run(
            &[
                "connections",
                "update",
                "dbt-renamed",
                "--api-token",
                "-",
                "--json",
            ],
            &auth,
            Some(&admin),
        )
        .await
        .json();
    assert_eq!(update["appConnection"]["id"], second.as_str());
    // A wrong dbt token is refused by the server, checked against dbt.
    let wrong = env
        .rotad(&[
            "connections",
            "update",
            &second,
            "--api-token",
            "dbtc_wrong",
        ])
        .await;
    assert!(wrong.fails(1).contains("HTTP 400"), "{wrong:#?}");
    // No token at all is a usage error.
    let missing = env
        .rotad(&[
            "connections",
            "create",
            "--name",
            "x",
            "--instance-url",
            &url,
            "--account-id",
            &account,
        ])
        .await;
    assert!(missing.fails(2).contains("API token"), "{missing:#?}");

    let del = env.rotad(&["connections", "delete", "dbt-renamed"]).await;
    assert!(
        del.ok()
            .contains(&format!("Deleted dbt connection dbt-renamed ({second})")),
        "{del:#?}"
    );
    let del = env
        .rotad(&["connections", "delete", "dbt-main", "--json"])
        .await
        .json();
    assert_eq!(del["appConnection"]["name"], "dbt-main");
    let gone = env.rotad(&["connections", "get", &second]).await;
    assert!(gone.fails(1).contains("404"), "{gone:#?}");
    let empty = env.rotad(&["connections", "list"]).await;
    assert_eq!(empty.ok().trim(), "No dbt connections.");
}
