//! `projects`, `folders` and `secrets` in both output modes.

use crate::helpers::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_in_both_modes() {
    let env = Env::spawn().await;
    let text = env
        .rotad(&[
            "projects",
            "create",
            "Data Platform",
            "--slug",
            "data-platform",
        ])
        .await;
    assert!(
        text.ok().contains("Created project Data Platform."),
        "{text:#?}"
    );
    assert!(text.stdout.contains("dev,staging,prod"), "{text:#?}");
    let json = env
        .rotad(&["projects", "create", "other", "--json"])
        .await
        .json();
    let other = json["project"]["id"].as_str().expect("id").to_string();

    let list = env.rotad(&["projects", "list"]).await;
    let lines: Vec<&str> = list.ok().lines().collect();
    assert!(lines[0].starts_with("ID"), "{list:#?}");
    assert!(lines
        .iter()
        .any(|l| l.contains("Data Platform") && l.contains("data-platform")));
    assert!(lines.iter().any(|l| l.contains(&other)));
    let list = env.rotad(&["projects", "list", "--json"]).await.json();
    assert_eq!(list["projects"].as_array().map(Vec::len), Some(2), "{list}");

    // By slug, name or id.
    let get = env.rotad(&["projects", "get", "data-platform"]).await;
    assert!(get.ok().contains("name:"), "{get:#?}");
    assert!(get.stdout.contains("Data Platform"));
    let get = env
        .rotad(&["projects", "get", &other, "--json"])
        .await
        .json();
    assert_eq!(get["project"]["name"], "other");

    let del = env.rotad(&["projects", "delete", &other]).await;
    assert!(
        del.ok()
            .contains(&format!("Deleted project other ({other})")),
        "{del:#?}"
    );
    let del = env
        .rotad(&["projects", "delete", "Data Platform", "--json"])
        .await
        .json();
    assert_eq!(del["project"]["slug"], "data-platform");

    // Unknown ids: the server's 404 message, exit 1, one line.
    let gone = env.rotad(&["projects", "get", &other]).await;
    let line = gone.fails(1);
    assert!(
        line.starts_with("rotad: ") && line.contains("404"),
        "{line}"
    );
    assert!(line.to_lowercase().contains("not found"), "{line}");
    let unknown = env.rotad(&["projects", "get", "no-such-project"]).await;
    assert!(unknown.fails(1).contains("no-such-project"));
    let empty = env.rotad(&["projects", "list"]).await;
    assert_eq!(empty.ok().trim(), "No projects.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_in_both_modes() {
    let env = Env::spawn().await;
    env.project("acme").await;
    let at = ["--project", "acme", "--env", "dev"];
    let create = env
        .rotad(&[&["folders", "create", "jobs"][..], &at].concat())
        .await;
    assert!(
        create.ok().contains("Created folder /jobs in dev"),
        "{create:#?}"
    );
    let nested = env
        .rotad(
            &[
                &["folders", "create", "nightly", "--path", "/jobs", "--json"][..],
                &at,
            ]
            .concat(),
        )
        .await
        .json();
    assert_eq!(nested["folder"]["path"], "/jobs/nightly");

    let list = env.rotad(&[&["folders", "list"][..], &at].concat()).await;
    assert!(
        list.ok()
            .lines()
            .any(|l| l.starts_with("jobs") && l.contains("/jobs")),
        "{list:#?}"
    );
    let list = env
        .rotad(&[&["folders", "list", "--path", "/jobs", "--json"][..], &at].concat())
        .await
        .json();
    assert_eq!(list["folders"][0]["name"], "nightly", "{list}");

    let del = env
        .rotad(
            &[
                &["folders", "delete", "nightly", "--path", "/jobs"][..],
                &at,
            ]
            .concat(),
        )
        .await;
    assert!(
        del.ok().contains("Deleted folder /jobs/nightly"),
        "{del:#?}"
    );
    let del = env
        .rotad(&[&["folders", "delete", "jobs", "--json"][..], &at].concat())
        .await
        .json();
    assert_eq!(del["folder"]["name"], "jobs");
    let empty = env.rotad(&[&["folders", "list"][..], &at].concat()).await;
    assert_eq!(empty.ok().trim(), "No folders under /.");
    let missing = env
        .rotad(&[&["folders", "delete", "jobs"][..], &at].concat())
        .await;
    assert!(missing.fails(1).contains("404"), "{missing:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_both_modes() {
    let env = Env::spawn().await;
    let project = env.project("acme").await;
    let at = ["--project", "acme", "--env", "dev"];

    let set = env
        .rotad(&[&["secrets", "set", "API_URL", "https://x.example"][..], &at].concat())
        .await;
    assert!(
        set.ok()
            .contains("Created secret API_URL in dev / (version 1)"),
        "{set:#?}"
    );
    // From stdin (keeps the value out of shell history), then an update.
    let args = [&["secrets", "set", "PASSWORD", "--json"][..], &at].concat();
    let envs = [
        ("ROTAD_ADDR", env.base.as_str()),
        ("ROTAD_TOKEN", env.token.as_str()),
    ];
    let set = env.run(&args, &envs, Some("hunter2\n")).await.json();
    assert_eq!(set["secret"]["secretValue"], "hunter2");
    let update = env
        .rotad(&[&["secrets", "set", "PASSWORD", "hunter3"][..], &at].concat())
        .await;
    assert!(
        update
            .ok()
            .contains("Updated secret PASSWORD in dev / (version 2)"),
        "{update:#?}"
    );

    let get = env
        .rotad(&[&["secrets", "get", "PASSWORD"][..], &at].concat())
        .await;
    assert_eq!(get.ok(), "hunter3\n");
    let get = env
        .rotad(&[
            "secrets",
            "get",
            "PASSWORD",
            "--project",
            &project,
            "--env",
            "dev",
            "--json",
        ])
        .await
        .json();
    assert_eq!(get["secret"]["secretKey"], "PASSWORD");

    let list = env.rotad(&[&["secrets", "list"][..], &at].concat()).await;
    assert!(list
        .ok()
        .lines()
        .any(|l| l.starts_with("PASSWORD") && l.contains("********")));
    assert!(
        !list.stdout.contains("hunter3"),
        "masked by default: {list:#?}"
    );
    let revealed = env
        .rotad(&[&["secrets", "list", "--reveal"][..], &at].concat())
        .await;
    assert!(revealed.ok().contains("hunter3"), "{revealed:#?}");
    let list = env
        .rotad(&[&["secrets", "list", "--json"][..], &at].concat())
        .await
        .json();
    assert_eq!(list["secrets"].as_array().map(Vec::len), Some(2), "{list}");

    let del = env
        .rotad(&[&["secrets", "delete", "API_URL"][..], &at].concat())
        .await;
    assert!(del.ok().contains("Deleted secret API_URL"), "{del:#?}");
    let del = env
        .rotad(&[&["secrets", "delete", "PASSWORD", "--json"][..], &at].concat())
        .await
        .json();
    assert_eq!(del["secret"]["secretKey"], "PASSWORD");

    let missing = env
        .rotad(&[&["secrets", "get", "PASSWORD"][..], &at].concat())
        .await;
    let line = missing.fails(1);
    assert!(
        line.contains("Secret with name 'PASSWORD' not found") && line.contains("404"),
        "{line}"
    );
    let bad_env = env
        .rotad(&["secrets", "list", "--project", "acme", "--env", "nope"])
        .await;
    assert!(bad_env.fails(1).contains("nope"), "{bad_env:#?}");
    // A usage error is exit 2.
    let usage = env.rotad(&["secrets", "list", "--project", "acme"]).await;
    assert!(usage.fails(2).contains("--env"), "{usage:#?}");
}
