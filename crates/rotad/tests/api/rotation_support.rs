//! A server, the dbt Cloud emulator, a project and a `dbt` connection; helpers to create and
//! inspect rotations; and a small validator for the seed's OpenAPI 3.0 schemas.

use dbt_cloud_emulator::{Emulator, EmulatorConfig, TokenInfo};
use serde_json::{json, Value};

use crate::helpers::{Answer, TestApp};

pub const ROTATIONS: &str = "/api/v2/secret-rotations/dbt-service-token";

pub struct Rig {
    pub app: TestApp,
    pub emu: Emulator,
    pub project: String,
    pub connection: String,
}

impl Rig {
    pub async fn new() -> Rig {
        Self::with(|_| {}).await
    }

    /// A rig whose server has settings changed by `configure`.
    pub async fn with(configure: impl FnOnce(&mut rotad::config::ServeArgs)) -> Rig {
        Self::on(TestApp::spawn_with(configure).await).await
    }

    /// A rig on a bootstrapped `app`: a new emulator, a project and a `dbt` connection.
    pub async fn on(app: TestApp) -> Rig {
        let emu = dbt_cloud_emulator::spawn(EmulatorConfig::default())
            .await
            .expect("emulator");
        let project = app.project("rotations").await;
        let conn = app
            .post(
                "/api/v1/app-connections/dbt",
                json!({"name": "dbt-main", "method": "api-token", "credentials": {
                    "instanceUrl": emu.base_url(), "accountId": emu.account_id().to_string(), "apiToken": emu.admin_token()}}),
            )
            .await;
        assert_eq!(conn.status, 200, "{}", conn.body);
        let connection = conn.body["appConnection"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        Rig {
            app,
            emu,
            project,
            connection,
        }
    }

    /// The in-process server's services (pause points, recovery, the revocation worker).
    pub fn server(&self) -> rotad::services::AppState {
        self.app
            .server
            .as_ref()
            .map(|s| s.app.clone())
            .expect("an in-process server")
    }

    /// Another `dbt` connection to the same emulator account (the organization's, or a
    /// project's); returns its id.
    pub async fn connection_named(&self, name: &str, project: Option<&str>) -> String {
        let mut body = json!({"name": name, "method": "api-token", "credentials": {
            "instanceUrl": self.emu.base_url(), "accountId": self.emu.account_id().to_string(),
            "apiToken": self.emu.admin_token()}});
        if let Some(p) = project {
            body["projectId"] = json!(p);
        }
        let res = self.app.post("/api/v1/app-connections/dbt", body).await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["appConnection"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// Sends `method path` with `body` as the rig's admin on a task of its own (to race it, or
    /// to hang up on it by aborting the task).
    pub fn spawn_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
        let req = self
            .app
            .http
            .request(method, format!("{}{path}", self.app.base))
            .bearer_auth(&self.app.token)
            .json(&body);
        tokio::spawn(async move { req.send().await })
    }

    pub fn body(&self, name: &str, secret: &str) -> Value {
        json!({
            "name": name,
            "projectId": self.project,
            "connectionId": self.connection,
            "environment": "dev",
            "secretPath": "/",
            "isAutoRotationEnabled": true,
            "rotationInterval": 30,
            "rotateAtUtc": {"hours": 0, "minutes": 0},
            "parameters": {"tokenName": format!("{name}-token"), "permissionGrants": [{"permissionSet": "job_runner", "projectId": 1}]},
            "secretsMapping": {"serviceToken": secret},
        })
    }

    pub async fn create(&self, name: &str, secret: &str) -> Answer {
        self.app.post(ROTATIONS, self.body(name, secret)).await
    }

    /// Creates a rotation; returns its id.
    pub async fn rotation(&self, name: &str, secret: &str) -> String {
        let res = self.create(name, secret).await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["secretRotation"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    pub async fn rotate(&self, id: &str) -> Answer {
        self.app
            .post(&format!("{ROTATIONS}/{id}/rotate-secrets"), json!({}))
            .await
    }

    pub async fn get(&self, id: &str) -> Answer {
        self.app.get(&format!("{ROTATIONS}/{id}")).await
    }

    /// The value consumers read.
    pub async fn published(&self, secret: &str) -> String {
        let res = self
            .app
            .get(&format!(
                "/api/v3/secrets/raw/{secret}?workspaceId={}&environment=dev",
                self.project
            ))
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["secret"]["secretValue"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// (slots, activeIndex).
    pub async fn slots(&self, id: &str) -> (Vec<Value>, i64) {
        let res = self
            .app
            .get(&format!("{ROTATIONS}/{id}/generated-credentials"))
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        (
            res.body["generatedCredentials"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            res.body["activeIndex"].as_i64().unwrap_or(-1),
        )
    }

    pub fn token(&self, token_string: &str) -> Option<TokenInfo> {
        self.emu
            .tokens()
            .into_iter()
            .find(|t| t.token_string == token_string)
    }

    pub fn is_live(&self, token_string: &str) -> bool {
        self.token(token_string).is_some_and(|t| t.state == 1)
    }

    pub fn named(&self, name: &str) -> Vec<TokenInfo> {
        self.emu
            .tokens()
            .into_iter()
            .filter(|t| minted_as(&t.name, name))
            .collect()
    }

    /// I1–I4 outside a rotation: the published token is the active slot and live; every slot
    /// is live (so the previous token is); at most two live tokens; every token ever created
    /// under the name is in a slot or revoked.
    pub async fn assert_invariants(&self, id: &str, secret: &str, token_name: &str) {
        let (slots, active) = self.slots(id).await;
        let published = self.published(secret).await;
        let active_token = slots[active as usize]["serviceToken"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            published, active_token,
            "I1: the published secret is the active slot"
        );
        assert!(self.is_live(&published), "I1: the published token is live");
        for slot in &slots {
            let t = slot["serviceToken"].as_str().unwrap_or_default();
            assert!(self.is_live(t), "I2: every slot is live");
        }
        let named = self.named(token_name);
        let live: Vec<_> = named.iter().filter(|t| t.state == 1).collect();
        assert!(
            live.len() <= 2,
            "I3: at most two live tokens, found {}",
            live.len()
        );
        let held: Vec<&str> = slots
            .iter()
            .filter_map(|s| s["serviceToken"].as_str())
            .collect();
        for t in named {
            assert!(
                t.state == 2 || held.contains(&t.token_string.as_str()),
                "I4: token {} is in a slot or revoked",
                t.id
            );
        }
    }
}

/// Whether a dbt token named `dbt_name` was minted by rotad for a rotation whose `tokenName`
/// is `token_name`: the name, `-`, then twelve characters of the intent id.
pub fn minted_as(dbt_name: &str, token_name: &str) -> bool {
    dbt_name
        .strip_prefix(token_name)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|suffix| suffix.len() == 12 && suffix.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Checks `value` against an OpenAPI 3.0 schema (the keywords the seed uses). Returns the
/// problems found, each with its JSON path.
pub fn schema_errors(schema: &Value, value: &Value, path: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.is_null() {
        if schema["nullable"] != json!(true) {
            errors.push(format!("{path}: null but not nullable"));
        }
        return errors;
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(obj) = value.as_object() else {
                return vec![format!("{path}: expected object")];
            };
            let props = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for req in schema["required"].as_array().cloned().unwrap_or_default() {
                if let Some(k) = req.as_str() {
                    if !obj.contains_key(k) {
                        errors.push(format!("{path}.{k}: required"));
                    }
                }
            }
            for (k, v) in obj {
                match props.get(k) {
                    Some(s) => errors.extend(schema_errors(s, v, &format!("{path}.{k}"))),
                    None if schema["additionalProperties"] == json!(false) => {
                        errors.push(format!("{path}.{k}: not allowed"))
                    }
                    None => {}
                }
            }
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                return vec![format!("{path}: expected array")];
            };
            if let Some(min) = schema["minItems"].as_u64() {
                if (items.len() as u64) < min {
                    errors.push(format!("{path}: fewer than {min} items"));
                }
            }
            for (i, item) in items.iter().enumerate() {
                errors.extend(schema_errors(
                    &schema["items"],
                    item,
                    &format!("{path}[{i}]"),
                ));
            }
        }
        Some("string") => match value.as_str() {
            None => errors.push(format!("{path}: expected string")),
            Some(s) => {
                let n = s.chars().count() as u64;
                if schema["minLength"].as_u64().is_some_and(|m| n < m)
                    || schema["maxLength"].as_u64().is_some_and(|m| n > m)
                {
                    errors.push(format!("{path}: length {n} out of bounds"));
                }
                if let Some(allowed) = schema["enum"].as_array() {
                    if !allowed.contains(value) {
                        errors.push(format!("{path}: {s} not in enum"));
                    }
                }
                match schema["format"].as_str() {
                    Some("uuid") if uuid::Uuid::parse_str(s).is_err() => {
                        errors.push(format!("{path}: not a uuid"))
                    }
                    Some("date-time") if chrono::DateTime::parse_from_rfc3339(s).is_err() => {
                        errors.push(format!("{path}: not a date-time"))
                    }
                    _ => {}
                }
            }
        },
        Some("number") => match value.as_f64() {
            None => errors.push(format!("{path}: expected number")),
            Some(n) => {
                if schema["minimum"].as_f64().is_some_and(|m| n < m)
                    || schema["maximum"].as_f64().is_some_and(|m| n > m)
                {
                    errors.push(format!("{path}: {n} out of bounds"));
                }
                if let Some(allowed) = schema["enum"].as_array() {
                    if !allowed.iter().any(|a| a.as_f64() == Some(n)) {
                        errors.push(format!("{path}: {n} not in enum"));
                    }
                }
            }
        },
        Some("boolean") if !value.is_boolean() => errors.push(format!("{path}: expected boolean")),
        _ => {}
    }
    errors
}

pub fn seed() -> Value {
    serde_json::from_str(include_str!("../fixtures/seed_patch_rotation.json"))
        .expect("seed fixture")
}
