//! A seeded, randomised chaos run: two replicas on one database, rotations that fire every few
//! seconds, random manual rotations, PATCHes, deletes, dbt faults and SIGKILLs of either replica.
//! After quiescence every token the emulator ever minted is in a slot of an existing rotation
//! or revoked, every published token is live, and no rotation holds more than two live tokens
//! (docs/ARCHITECTURE.md, "Invariants and their tests").
//!
//! `ROTAD_CHAOS_SECONDS` sets the budget (default 15 s in the suite; the long run and its figure
//! are in docs/BENCHMARKS.md); `ROTAD_CHAOS_SEED` replays a run. The seed is printed first and in
//! every failure.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dbt_cloud_emulator::{Fault, Operation};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestDb;
use crate::process::{attach, spawn_rotad, wait_ready, Process};
use crate::rotation_support::{Rig, ROTATIONS};

/// Every replica of the run: a short lease and dbt timeout (set by `spawn_rotad`), intervals in
/// seconds, a quick scheduler.
const ENV: [(&str, &str); 3] = [
    ("ROTAD_ROTATION_TIME_UNIT", "second"),
    ("ROTAD_SCHEDULER_POLL_INTERVAL", "300ms"),
    ("ROTAD_ROTATION_MAX_ATTEMPTS", "2"),
];

struct Chaos {
    rig: Rig,
    key: String,
    replicas: Vec<Process>,
    rng: StdRng,
    seed: u64,
    /// Rotation id by name, for the rotations that exist (as far as the run knows).
    rotations: HashMap<String, String>,
    next_name: usize,
    statuses: HashMap<String, usize>,
}

impl Chaos {
    fn base(&mut self) -> String {
        let i = self.rng.gen_range(0..self.replicas.len());
        self.replicas[i].base.clone()
    }

    /// One call to a random replica; `None` when the replica is down (killed mid-call).
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        let base = self.base();
        let mut req = self
            .rig
            .app
            .http
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(&self.rig.app.token)
            .timeout(Duration::from_secs(20));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.ok()?;
        let status = res.status().as_u16();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        *self
            .statuses
            .entry(format!("{method} {status}"))
            .or_default() += 1;
        // A failed manual rotation is upstream's 500 with its own text; any other 5xx is a bug.
        let upstream_failure = status == 500
            && body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Infisical encountered an issue"));
        assert!(
            status < 500 || upstream_failure,
            "seed {}: {method} {path} answered {status}: {body}",
            self.seed
        );
        Some((status, body))
    }

    fn pick(&mut self) -> Option<String> {
        let ids: Vec<&String> = self.rotations.values().collect();
        if ids.is_empty() {
            return None;
        }
        Some(ids[self.rng.gen_range(0..ids.len())].clone())
    }

    async fn create(&mut self) {
        let name = format!("chaos-{}", self.next_name);
        self.next_name += 1;
        let mut body = self.rig.body(&name, &name.to_uppercase().replace('-', "_"));
        body["rotationInterval"] = json!(self.rng.gen_range(3..12));
        if let Some((200, answer)) = self.call(Method::POST, ROTATIONS, Some(body)).await {
            if let Some(id) = answer["secretRotation"]["id"].as_str() {
                self.rotations.insert(name, id.to_string());
            }
        }
    }

    async fn rotate(&mut self) {
        if let Some(id) = self.pick() {
            let path = format!("{ROTATIONS}/{id}/rotate-secrets");
            self.call(Method::POST, &path, Some(json!({}))).await;
        }
    }

    async fn patch(&mut self) {
        let Some(id) = self.pick() else { return };
        let body = match self.rng.gen_range(0..3) {
            0 => json!({"rotationInterval": self.rng.gen_range(3..12)}),
            1 => json!({"isAutoRotationEnabled": self.rng.gen_bool(0.7)}),
            _ => json!({"description": format!("edited {}", self.rng.gen::<u16>())}),
        };
        self.call(Method::PATCH, &format!("{ROTATIONS}/{id}"), Some(body))
            .await;
    }

    async fn delete(&mut self) {
        let Some(id) = self.pick() else { return };
        let flags = format!(
            "deleteSecrets={}&revokeGeneratedCredentials=true",
            self.rng.gen_bool(0.5)
        );
        let path = format!("{ROTATIONS}/{id}?{flags}");
        if let Some((200 | 404, _)) = self.call(Method::DELETE, &path, Some(json!({}))).await {
            self.rotations.retain(|_, v| *v != id);
        }
    }

    fn fault(&mut self) {
        let op = match self.rng.gen_range(0..3) {
            0 => Operation::TokenCreate,
            1 => Operation::TokenDelete,
            _ => Operation::TokenList,
        };
        let fault = match self.rng.gen_range(0..6) {
            0 => Fault::status(op, 500),
            1 => Fault::rate_limited(op, 1),
            2 => Fault::delay(op, Duration::from_secs(3)), // a timeout, acted on later
            3 => Fault::drop(op).after(),                  // a lost answer
            4 => Fault::delay(Operation::TokenDelete, Duration::from_millis(1500)), // slow delete
            _ => Fault::status(op, 502).after(),
        };
        self.rig.emu.inject(fault.times(self.rng.gen_range(1..3)));
    }

    async fn kill_and_restart(&mut self) {
        let i = self.rng.gen_range(0..self.replicas.len());
        self.replicas[i].kill();
        let fresh = spawn_rotad(&self.rig.app.db, &self.key, &ENV);
        wait_ready(&fresh.base).await;
        self.replicas[i] = fresh;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_keeps_every_token_accounted_for() {
    let seed: u64 = std::env::var("ROTAD_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let budget = Duration::from_secs(
        std::env::var("ROTAD_CHAOS_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(15),
    );
    eprintln!("chaos seed: {seed} (replay with ROTAD_CHAOS_SEED={seed})");
    let db = TestDb::new().await;
    let key = rotad::crypto::RootKey::generate_base64();
    let a = spawn_rotad(&db, &key, &ENV);
    wait_ready(&a.base).await;
    let rig = attach(db, &key, &a.base).await;
    let b = spawn_rotad(&rig.app.db, &key, &ENV);
    wait_ready(&b.base).await;
    let mut chaos = Chaos {
        rig,
        key,
        replicas: vec![a, b],
        rng: StdRng::seed_from_u64(seed),
        seed,
        rotations: HashMap::new(),
        next_name: 0,
        statuses: HashMap::new(),
    };
    while chaos.rotations.len() < 20 {
        chaos.create().await;
    }

    let started = Instant::now();
    let mut actions = 0;
    while started.elapsed() < budget {
        match chaos.rng.gen_range(0..100) {
            0..=39 => chaos.rotate().await,
            40..=59 => chaos.patch().await,
            60..=66 => chaos.delete().await,
            67..=74 => chaos.create().await,
            75..=94 => chaos.fault(),
            _ => chaos.kill_and_restart().await,
        }
        actions += 1;
        let pause = chaos.rng.gen_range(10..200);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    eprintln!(
        "chaos seed {seed}: {actions} actions in {:?}; answers {:?}",
        started.elapsed(),
        chaos.statuses
    );

    // Quiescence: no faults, both replicas up, nothing scheduled.
    chaos.rig.emu.clear_faults();
    chaos.rig.app.base = chaos.replicas[0].base.clone();
    let ids: Vec<String> = chaos.rotations.values().cloned().collect();
    for id in &ids {
        let path = format!("{ROTATIONS}/{id}");
        loop {
            match chaos
                .call(
                    Method::PATCH,
                    &path,
                    Some(json!({"isAutoRotationEnabled": false})),
                )
                .await
            {
                Some((200 | 404, _)) => break,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    settle(&chaos).await;
}

/// Waits (recovery, late windows, the revocation queue) until the invariants hold, then
/// checks them once more; fails with the seed and what is off.
async fn settle(chaos: &Chaos) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let problems = problems(chaos).await;
        if problems.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "seed {}: after quiescence: {problems:#?}",
            chaos.seed
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What breaks I1-I4 right now: a minted token neither in a slot nor revoked, a published token
/// not live, a rotation with more than two live tokens.
async fn problems(chaos: &Chaos) -> Vec<String> {
    let rig = &chaos.rig;
    let list = rig
        .app
        .get(&format!("{ROTATIONS}?projectId={}", rig.project))
        .await;
    let rows = list.body["secretRotations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let tokens = rig.emu.tokens();
    let mut problems = Vec::new();
    let mut held: Vec<String> = Vec::new();
    for row in &rows {
        let id = row["id"].as_str().unwrap_or_default();
        let name = row["name"].as_str().unwrap_or_default();
        let (slots, active) = rig.slots(id).await;
        let slot_tokens: Vec<String> = slots
            .iter()
            .filter_map(|s| s["serviceToken"].as_str().map(str::to_string))
            .collect();
        let secret = row["secretsMapping"]["serviceToken"]
            .as_str()
            .unwrap_or_default();
        let published = rig.published(secret).await;
        if slot_tokens.get(active as usize) != Some(&published) {
            problems.push(format!(
                "{name}: the published token is not the active slot"
            ));
        }
        if !rig.is_live(&published) {
            problems.push(format!("{name}: the published token is not live (I1)"));
        }
        for t in &slot_tokens {
            if !rig.is_live(t) {
                problems.push(format!("{name}: a slot token is not live (I2)"));
            }
        }
        let token_name = format!("{name}-token");
        let live = rig
            .named(&token_name)
            .iter()
            .filter(|t| t.state == 1)
            .count();
        if live > 2 {
            problems.push(format!("{name}: {live} live tokens (I3)"));
        }
        held.extend(slot_tokens);
    }
    for t in tokens.iter().filter(|t| t.name.starts_with("chaos-")) {
        if t.state == 1 && !held.contains(&t.token_string) {
            problems.push(format!(
                "token {} ({}) is live outside every slot (I4)",
                t.id, t.name
            ));
        }
    }
    problems
}
