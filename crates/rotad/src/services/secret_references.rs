//! Secret references (docs/COMPATIBILITY.md, "Secrets beyond get/set"): `${KEY}` (same
//! environment and folder), `${env.KEY}` (root of environment `env`) and
//! `${env.path.to.KEY}`, expanded at read time when a reader asks for it
//! (`expandSecretReferences=true`). Each referenced secret is read as the reader (its
//! permission checked), through the same caches as a plain read, so a rotated secret referenced
//! from another resolves to the live token.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use super::authz::{Action, Subject};
use super::secrets::Secret;
use super::{App, Ctx};
use crate::error::{Error, Result};

/// How deep references are followed (upstream's limit); deeper ones stay as written.
pub const MAX_REFERENCE_DEPTH: usize = 10;
/// References substituted for one answer, at most: fan-out (`${B}${B}…` where `B` is
/// `${C}${C}…`) grows exponentially with depth, so the work is bounded, not only the depth.
pub const MAX_SUBSTITUTIONS: usize = 10_000;
/// An expanded value's size, at most.
pub const MAX_EXPANDED_BYTES: usize = 1024 * 1024;

/// A reference's target: environment slug, folder path, key.
type Target = (String, String, String);

/// One `${…}` in a value: its byte range and its target.
#[derive(Debug, PartialEq)]
struct Reference {
    start: usize,
    end: usize,
    target: Target,
}

/// The references of `value`, relative to the secret's own environment and folder. Text that
/// only looks like one (`${}`, `${a b}`, `${x..y}`) is left alone.
fn references(value: &str, environment: &str, path: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = value[from..].find("${").map(|i| i + from) {
        let body_start = open + 2;
        let Some(close) = value[body_start..].find('}').map(|i| i + body_start) else {
            break;
        };
        let body = &value[body_start..close];
        let well_formed = !body.is_empty()
            && body
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let parts: Vec<&str> = body.split('.').collect();
        if well_formed && parts.iter().all(|p| !p.is_empty()) {
            let target = match parts.as_slice() {
                [key] => (environment.to_string(), path.to_string(), key.to_string()),
                [env, folders @ .., key] => (
                    env.to_string(),
                    format!("/{}", folders.join("/")),
                    key.to_string(),
                ),
                [] => unreachable_target(),
            };
            out.push(Reference {
                start: open,
                end: close + 1,
                target,
            });
            from = close + 1;
        } else {
            from = body_start;
        }
    }
    out
}

/// `split` never yields no parts; kept total without a panic.
fn unreachable_target() -> Target {
    (String::new(), String::new(), String::new())
}

/// Whether a value may hold a reference (the plain read path checks only this).
pub fn may_reference(value: &str) -> bool {
    value.contains("${")
}

/// Values read while expanding one answer, so each referenced secret is read once.
#[derive(Default)]
struct Memo {
    values: HashMap<Target, Option<String>>,
    substitutions: usize,
}

/// The 400 of a value whose expansion passes [`MAX_SUBSTITUTIONS`] or [`MAX_EXPANDED_BYTES`].
fn too_far(key: &str) -> Error {
    Error::bad_request(format!(
        "The references of secret '{key}' expand too far (more than {MAX_SUBSTITUTIONS} \
         substitutions or {MAX_EXPANDED_BYTES} bytes)"
    ))
}

type Expansion<'a> = Pin<Box<dyn Future<Output = Result<String>> + Send + 'a>>;

impl App {
    /// Expands the references in each secret's value, as `ctx` may read them.
    pub async fn expand_secret_references(&self, ctx: &Ctx, secrets: &mut [Secret]) -> Result<()> {
        let mut memo = Memo::default();
        for secret in secrets.iter_mut() {
            if !may_reference(&secret.value) {
                continue;
            }
            let own: Target = (
                secret.environment.clone(),
                secret.secret_path.clone(),
                secret.key.clone(),
            );
            let value = std::mem::take(&mut secret.value);
            secret.value = self
                .expand_value(ctx, &secret.project_id, &mut memo, value, own, vec![], 0)
                .await?;
        }
        Ok(())
    }

    /// `value` with its references replaced; `chain` holds the secrets being expanded (a
    /// reference back into it is a cycle and stays as written).
    #[allow(clippy::too_many_arguments)]
    fn expand_value<'a>(
        &'a self,
        ctx: &'a Ctx,
        project_id: &'a str,
        memo: &'a mut Memo,
        value: String,
        own: Target,
        mut chain: Vec<Target>,
        depth: usize,
    ) -> Expansion<'a> {
        Box::pin(async move {
            let refs = references(&value, &own.0, &own.1);
            if refs.is_empty() || depth >= MAX_REFERENCE_DEPTH {
                return Ok(value);
            }
            let key = chain.first().unwrap_or(&own).2.clone();
            chain.push(own);
            let mut out = String::with_capacity(value.len());
            let mut last = 0;
            for reference in refs {
                out.push_str(&value[last..reference.start]);
                last = reference.end;
                memo.substitutions += 1;
                if memo.substitutions > MAX_SUBSTITUTIONS {
                    return Err(too_far(&key));
                }
                let written = &value[reference.start..reference.end];
                if chain.contains(&reference.target) {
                    out.push_str(written);
                    continue;
                }
                let Some(raw) = self
                    .referenced_value(ctx, project_id, memo, &reference.target)
                    .await?
                else {
                    out.push_str(written);
                    continue;
                };
                let expanded = self
                    .expand_value(
                        ctx,
                        project_id,
                        memo,
                        raw,
                        reference.target.clone(),
                        chain.clone(),
                        depth + 1,
                    )
                    .await?;
                if out.len() + expanded.len() > MAX_EXPANDED_BYTES {
                    return Err(too_far(&key));
                }
                out.push_str(&expanded);
            }
            out.push_str(&value[last..]);
            if out.len() > MAX_EXPANDED_BYTES {
                return Err(too_far(&key));
            }
            Ok(out)
        })
    }

    /// The stored value of a referenced secret, read as `ctx`; `None` when its environment,
    /// folder or key does not exist. A reader who may not read it gets a 403 naming it.
    async fn referenced_value(
        &self,
        ctx: &Ctx,
        project_id: &str,
        memo: &mut Memo,
        target: &Target,
    ) -> Result<Option<String>> {
        if let Some(known) = memo.values.get(target) {
            return Ok(known.clone());
        }
        let (environment, path, key) = target;
        let located = self
            .locate_shared(
                ctx,
                project_id,
                environment,
                Some(path),
                Subject::Secrets,
                Action::Read,
            )
            .await;
        let value = match located {
            Ok(loc) => match self.cached_secret(&loc.value, key, "shared").await? {
                Some(row) => {
                    let data_key = self.data_key(project_id).await?;
                    Some(data_key.open_str(&format!("{}:value", row.value.id), &row.value.value)?)
                }
                None => None,
            },
            Err(Error::NotFound(_)) => None,
            Err(Error::Forbidden(_)) => {
                return Err(Error::forbidden(format!(
                    "You are not allowed to read secret '{key}' in environment '{environment}' \
                     at path '{path}', which another secret references"
                )))
            }
            Err(e) => return Err(e),
        };
        memo.values.insert(target.clone(), value.clone());
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(value: &str) -> Vec<Target> {
        references(value, "dev", "/app")
            .into_iter()
            .map(|r| r.target)
            .collect()
    }

    fn t(env: &str, path: &str, key: &str) -> Target {
        (env.to_string(), path.to_string(), key.to_string())
    }

    #[test]
    fn references_are_parsed_relative_to_the_secret() {
        assert_eq!(targets("${KEY}"), vec![t("dev", "/app", "KEY")]);
        assert_eq!(targets("a${prod.KEY}b"), vec![t("prod", "/", "KEY")]);
        assert_eq!(
            targets("${prod.a.b.KEY}-${X}"),
            vec![t("prod", "/a/b", "KEY"), t("dev", "/app", "X")]
        );
    }

    #[test]
    fn text_that_only_looks_like_a_reference_is_left_alone() {
        for value in [
            "${}", "${a b}", "${x..y}", "${.x}", "$KEY", "${open", "plain",
        ] {
            assert!(targets(value).is_empty(), "{value}");
        }
        assert_eq!(targets("${bad key}${OK}"), vec![t("dev", "/app", "OK")]);
    }
}
