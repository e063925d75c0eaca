//! A project's environments: list, get, create, update, delete (project admins write).

use serde_json::json;

use super::audit::Event;
use super::authz::{Action, Subject};
use super::{new_id, App, Ctx};
use crate::error::{Error, Result};
use crate::services::projects::is_slug;
use crate::store::{Environment, EnvironmentContents, Folder, StoreError};
use crate::time::now_ms;

/// An environment's name and slug are at most this long (as upstream's).
pub const MAX_ENVIRONMENT_NAME: usize = 64;

/// What to change; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentEdit {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub position: Option<i64>,
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_ENVIRONMENT_NAME {
        return Err(Error::invalid(
            &["name"],
            format!("Environment name must be 1 to {MAX_ENVIRONMENT_NAME} characters"),
        ));
    }
    Ok(name.to_string())
}

fn check_slug(slug: &str) -> Result<String> {
    let slug = slug.trim();
    if !is_slug(slug) || slug.len() > MAX_ENVIRONMENT_NAME {
        return Err(Error::invalid(
            &["slug"],
            "Environment slug can only contain lowercase letters, numbers and single hyphens \
             (1 to 64 characters)",
        ));
    }
    Ok(slug.to_string())
}

fn check_position(position: Option<i64>) -> Result<()> {
    if position.is_some_and(|p| !(1..=1_000_000).contains(&p)) {
        return Err(Error::invalid(
            &["position"],
            "Environment position must be between 1 and 1000000",
        ));
    }
    Ok(())
}

fn slug_taken(slug: &str) -> Error {
    Error::bad_request(format!("Environment with slug '{slug}' already exist"))
}

/// "2 secrets, 1 folder and 1 secret rotation", of what is not zero.
fn describe(contents: EnvironmentContents) -> Option<String> {
    let parts: Vec<String> = [
        (contents.secrets, "secret"),
        (contents.folders, "folder"),
        (contents.rotations, "secret rotation"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}{}", if *n == 1 { "" } else { "s" }))
    .collect();
    match parts.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        [init @ .., last] => Some(format!("{} and {last}", init.join(", "))),
    }
}

impl App {
    pub async fn list_environments(&self, ctx: &Ctx, project_id: &str) -> Result<Vec<Environment>> {
        let project = self
            .authorize(ctx, project_id, Subject::Environments, Action::Read)
            .await?;
        Ok(self.store.list_environments(&project.id).await?)
    }

    /// An environment by id (or slug).
    pub async fn get_environment(
        &self,
        ctx: &Ctx,
        project_id: &str,
        env: &str,
    ) -> Result<Environment> {
        let project = self
            .authorize(ctx, project_id, Subject::Environments, Action::Read)
            .await?;
        self.find_environment(&project.id, env).await
    }

    pub async fn create_environment(
        &self,
        ctx: &Ctx,
        project_id: &str,
        name: &str,
        slug: &str,
        position: Option<i64>,
    ) -> Result<Environment> {
        let name = check_name(name)?;
        let slug = check_slug(slug)?;
        check_position(position)?;
        let project = self
            .authorize(ctx, project_id, Subject::Environments, Action::Create)
            .await?;
        let existing = self.store.list_environments(&project.id).await?;
        if existing.iter().any(|e| e.slug == slug) {
            return Err(slug_taken(&slug));
        }
        let last = existing.iter().map(|e| e.position).max().unwrap_or(0);
        let now = now_ms();
        let env = Environment {
            id: new_id(),
            project_id: project.id.clone(),
            name,
            slug,
            position: position.map_or(last + 1, |p| p.min(last + 1)),
            created_at: now,
            updated_at: now,
        };
        let root = Folder {
            id: new_id(),
            project_id: project.id.clone(),
            env_id: env.id.clone(),
            parent_id: None,
            name: "root".to_string(),
            path: "/".to_string(),
            description: None,
            created_at: now,
            updated_at: now,
        };
        match self.store.create_environment(&env, &root).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(slug_taken(&env.slug)),
            Err(e) => return Err(e.into()),
        }
        self.audit(
            ctx,
            Some(&project.id),
            Event::new(
                "create-environment",
                json!({"environmentId": env.id, "name": env.name, "slug": env.slug}),
            ),
        )
        .await;
        Ok(env)
    }

    pub async fn update_environment(
        &self,
        ctx: &Ctx,
        project_id: &str,
        env_id: &str,
        edit: EnvironmentEdit,
    ) -> Result<Environment> {
        let name = edit.name.as_deref().map(check_name).transpose()?;
        let slug = edit.slug.as_deref().map(check_slug).transpose()?;
        check_position(edit.position)?;
        let project = self
            .authorize(ctx, project_id, Subject::Environments, Action::Edit)
            .await?;
        let existing = self.store.list_environments(&project.id).await?;
        let old = existing
            .iter()
            .find(|e| e.id == env_id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("Environment with id '{env_id}' not found")))?;
        if let Some(slug) = &slug {
            if existing.iter().any(|e| &e.slug == slug && e.id != old.id) {
                return Err(slug_taken(slug));
            }
        }
        let env = Environment {
            name: name.unwrap_or_else(|| old.name.clone()),
            slug: slug.unwrap_or_else(|| old.slug.clone()),
            position: edit
                .position
                .map_or(old.position, |p| p.min(existing.len() as i64)),
            updated_at: now_ms(),
            ..old.clone()
        };
        match self.store.update_environment(&env).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::not_found(format!(
                    "Environment with id '{env_id}' not found"
                )))
            }
            Err(StoreError::Conflict(_)) => return Err(slug_taken(&env.slug)),
            Err(e) => return Err(e.into()),
        }
        self.audit(
            ctx,
            Some(&project.id),
            Event::new(
                "update-environment",
                json!({"environmentId": env.id, "oldName": old.name, "newName": env.name,
                    "oldSlug": old.slug, "newSlug": env.slug, "oldPos": old.position,
                    "newPos": env.position}),
            ),
        )
        .await;
        Ok(env)
    }

    /// Deletes an empty environment; one holding secrets, folders or rotations is refused.
    pub async fn delete_environment(
        &self,
        ctx: &Ctx,
        project_id: &str,
        env_id: &str,
    ) -> Result<Environment> {
        let project = self
            .authorize(ctx, project_id, Subject::Environments, Action::Delete)
            .await?;
        let env = self
            .store
            .list_environments(&project.id)
            .await?
            .into_iter()
            .find(|e| e.id == env_id)
            .ok_or_else(|| Error::not_found(format!("Environment with id '{env_id}' not found")))?;
        let refuse = |held: String| {
            Error::bad_request(format!(
                "Cannot delete environment '{}': it holds {held}; delete them first",
                env.slug
            ))
        };
        if let Some(held) = describe(self.store.environment_contents(&env.id).await?) {
            return Err(refuse(held));
        }
        if !self.store.delete_environment(&project.id, &env.id).await? {
            // Something arrived in it (or it went) since the count.
            return Err(
                match describe(self.store.environment_contents(&env.id).await?) {
                    Some(held) => refuse(held),
                    None => Error::not_found(format!("Environment with id '{env_id}' not found")),
                },
            );
        }
        self.audit(
            ctx,
            Some(&project.id),
            Event::new(
                "delete-environment",
                json!({"environmentId": env.id, "name": env.name, "slug": env.slug}),
            ),
        )
        .await;
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::describe;
    use crate::store::EnvironmentContents;

    #[test]
    fn contents_are_named() {
        let none = EnvironmentContents::default();
        assert_eq!(describe(none), None);
        let some = EnvironmentContents {
            secrets: 2,
            folders: 1,
            rotations: 1,
        };
        assert_eq!(
            describe(some).as_deref(),
            Some("2 secrets, 1 folder and 1 secret rotation")
        );
    }
}
