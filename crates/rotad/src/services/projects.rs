//! Projects, their environments (`dev`, `staging`, `prod` by default) and where secrets live
//! (locations); folders are in `services::folders`, environment edits in `services::environments`.

use serde_json::json;

use super::audit::Event;
use super::authz::{Action, Role, Subject};
use std::sync::Arc;

use super::cache::{Entry, Triple};
use super::{new_id, App, Ctx};
use crate::error::{Error, Result};
use crate::store::changes::scope;
use crate::store::{Environment, Folder, Membership, Project, StoreError};
use crate::time::now_ms;

/// A project slug's length, as upstream's (at least 5).
pub const MAX_PROJECT_SLUG: usize = 36;

pub const DEFAULT_ENVIRONMENTS: [(&str, &str); 3] = [
    ("Development", "dev"),
    ("Staging", "staging"),
    ("Production", "prod"),
];

/// A project with its environments.
#[derive(Debug, Clone)]
pub struct ProjectView {
    pub project: Project,
    pub environments: Vec<Environment>,
}

/// Where secrets live: a project's environment and a folder in it.
#[derive(Debug, Clone)]
pub struct Location {
    pub project: Project,
    pub environment: Environment,
    pub folder: Folder,
}

/// Lowercase letters, digits and single hyphens.
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

pub fn is_slug(text: &str) -> bool {
    !text.is_empty() && slugify(text) == text
}

/// `/a/b` from `a/b/`, `//a`, `` … ; `None` for `..` or empty segments after trimming.
pub fn normalize_path(path: Option<&str>) -> Option<String> {
    let raw = path.map(str::trim).unwrap_or("/");
    let mut parts = Vec::new();
    for part in raw.split('/') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if part == "." || part == ".." {
            return None;
        }
        parts.push(part);
    }
    Some(format!("/{}", parts.join("/")))
}

impl App {
    pub async fn create_project(
        &self,
        ctx: &Ctx,
        name: &str,
        slug: Option<&str>,
        description: Option<&str>,
        default_environments: bool,
    ) -> Result<ProjectView> {
        if !matches!(ctx.actor.org_role.as_str(), "admin" | "member") {
            return Err(super::authz::denied(Subject::Project, Action::Create));
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(Error::invalid(
                &["projectName"],
                "Project name must be 1 to 64 characters",
            ));
        }
        let slug = match slug.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) if is_slug(s) && (5..=MAX_PROJECT_SLUG).contains(&s.len()) => s.to_string(),
            Some(_) => {
                return Err(Error::invalid(
                    &["slug"],
                    "slug field can only contain lowercase letters, numbers, and hyphens",
                ))
            }
            None => {
                let base = slugify(name);
                let base = if base.is_empty() {
                    "project".to_string()
                } else {
                    base
                };
                // At most 29 + 1 + 6 characters: within MAX_PROJECT_SLUG.
                let base = base[..base.len().min(29)].trim_end_matches('-');
                format!("{base}-{}", &new_id()[..6])
            }
        };
        let now = now_ms();
        let project = Project {
            id: new_id(),
            org_id: ctx.actor.org_id.clone(),
            name: name.to_string(),
            slug,
            description: description.map(str::to_string),
            created_at: now,
            updated_at: now,
        };
        let defaults: &[(&str, &str)] = if default_environments {
            &DEFAULT_ENVIRONMENTS
        } else {
            &[]
        };
        let environments: Vec<Environment> = defaults
            .iter()
            .enumerate()
            .map(|(i, (name, slug))| Environment {
                id: new_id(),
                project_id: project.id.clone(),
                name: name.to_string(),
                slug: slug.to_string(),
                position: i as i64 + 1,
                created_at: now,
                updated_at: now,
            })
            .collect();
        let roots: Vec<Folder> = environments
            .iter()
            .map(|env| Folder {
                id: new_id(),
                project_id: project.id.clone(),
                env_id: env.id.clone(),
                parent_id: None,
                name: "root".to_string(),
                path: "/".to_string(),
                description: None,
                created_at: now,
                updated_at: now,
            })
            .collect();
        // The creator administers what it creates (org admins already do).
        let membership = (!ctx.actor.is_org_admin()).then(|| Membership {
            roles: "[]".to_string(),
            id: new_id(),
            project_id: project.id.clone(),
            identity_id: ctx.actor.identity_id.clone(),
            role: Role::Admin.as_str().to_string(),
            created_at: now,
            updated_at: now,
        });
        match self
            .store
            .create_project(&project, &environments, &roots, membership.as_ref())
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(Error::bad_request(format!(
                    "A project with the slug '{}' already exists",
                    project.slug
                )))
            }
            Err(e) => return Err(e.into()),
        }
        self.audit(
            ctx,
            Some(&project.id),
            Event::new(
                "create-project",
                json!({"projectId": project.id, "name": project.name}),
            ),
        )
        .await;
        Ok(ProjectView {
            project,
            environments,
        })
    }

    pub async fn get_project(&self, ctx: &Ctx, id: &str) -> Result<ProjectView> {
        let project = self
            .authorize(ctx, id, Subject::Project, Action::Read)
            .await?;
        let environments = self.store.list_environments(&project.id).await?;
        Ok(ProjectView {
            project,
            environments,
        })
    }

    /// The projects the caller can read.
    pub async fn list_projects(&self, ctx: &Ctx) -> Result<Vec<ProjectView>> {
        let mut out = Vec::new();
        for project in self.store.list_projects(&ctx.actor.org_id).await? {
            let role = self.project_role(ctx, &project).await?;
            if super::authz::allows(role, Subject::Project, Action::Read) {
                let environments = self.store.list_environments(&project.id).await?;
                out.push(ProjectView {
                    project,
                    environments,
                });
            }
        }
        Ok(out)
    }

    pub async fn delete_project(&self, ctx: &Ctx, id: &str) -> Result<ProjectView> {
        let view = self.get_project(ctx, id).await?;
        self.authorize(ctx, id, Subject::Project, Action::Delete)
            .await?;
        if !self.store.list_rotations(id).await?.is_empty() {
            return Err(Error::bad_request(
                "Cannot delete a project that holds secret rotations: delete the rotations first \
                 (with revokeGeneratedCredentials to revoke their tokens)",
            ));
        }
        // Deleting the project cascades its own connections away; tokens still queued for
        // revocation (or issuances in flight) through them could then never be revoked.
        for connection in self
            .store
            .list_connections(&view.project.org_id, Some(id))
            .await?
        {
            if self.connection_in_use(&connection.id).await? {
                return Err(Error::bad_request(format!(
                    "Cannot delete a project while token revocations through its App Connection \
                     \"{}\" are pending; retry once they finish",
                    connection.name
                )));
            }
        }
        self.store.delete_project(id).await?;
        self.audit(
            ctx,
            Some(id),
            Event::new("delete-project", json!({"projectId": id})),
        )
        .await;
        Ok(view)
    }

    /// Resolves a project's environment and folder path, checking `action` on `subject`.
    pub async fn locate(
        &self,
        ctx: &Ctx,
        project_id: &str,
        environment: &str,
        path: Option<&str>,
        subject: Subject,
        action: Action,
    ) -> Result<Location> {
        let project = self.authorize(ctx, project_id, subject, action).await?;
        self.locate_in(project, environment, path).await
    }

    /// A project's environment by slug (or, for internal callers, by id).
    pub(crate) async fn find_environment(
        &self,
        project_id: &str,
        env: &str,
    ) -> Result<Environment> {
        self.store
            .list_environments(project_id)
            .await?
            .into_iter()
            .find(|e| e.slug == env.trim() || e.id == env)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Environment with slug '{}' in project with ID {project_id} not found",
                    env.trim()
                ))
            })
    }

    /// The environment and folder a call addresses, cached (docs/ARCHITECTURE.md, "Caches").
    pub async fn locate_in(
        &self,
        project: Project,
        environment: &str,
        path: Option<&str>,
    ) -> Result<Location> {
        Ok(self
            .shared_location(&project, environment, path)
            .await?
            .value
            .clone())
    }

    /// [`App::locate`] as the cache holds it (no copy), for the hot reads.
    pub(crate) async fn locate_shared(
        &self,
        ctx: &Ctx,
        project_id: &str,
        environment: &str,
        path: Option<&str>,
        subject: Subject,
        action: Action,
    ) -> Result<Arc<Entry<Location>>> {
        let access = self
            .authorized_access(ctx, project_id, subject, action)
            .await?;
        self.shared_location(&access.value.project, environment, path)
            .await
    }

    /// The cached location of `project`'s `environment` and `path`.
    async fn shared_location(
        &self,
        project: &Project,
        environment: &str,
        path: Option<&str>,
    ) -> Result<Arc<Entry<Location>>> {
        let project_id = project.id.as_str();
        let path = normalize_path(path)
            .ok_or_else(|| Error::invalid(&["secretPath"], "Invalid secret path"))?;
        let shelf = &self.caches.locations;
        if let Some(hit) = shelf.get(&Triple(project_id, environment, &path)) {
            return Ok(hit);
        }
        let at = shelf.snapshot();
        let project = project.clone();
        let key = (project_id.to_string(), environment.to_string(), path);
        let location = self.read_location(project, environment, &key.2).await?;
        let scopes = vec![scope::project(project_id)];
        let bytes = 512 + location.folder.path.len();
        Ok(shelf.put(key, location, scopes, at, bytes))
    }

    async fn read_location(
        &self,
        project: Project,
        environment: &str,
        path: &str,
    ) -> Result<Location> {
        let environment = self.find_environment(&project.id, environment).await?;
        let folder = self
            .store
            .get_folder_by_path(&environment.id, path)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Folder with path '{path}' in environment with slug '{}' not found",
                    environment.slug
                ))
            })?;
        Ok(Location {
            project,
            environment,
            folder,
        })
    }
}

impl App {
    /// The project an API call names by id or, failing that, by slug.
    pub async fn project_ref(
        &self,
        ctx: &Ctx,
        id: Option<&str>,
        slug: Option<&str>,
    ) -> Result<String> {
        let non_empty = |s: Option<&str>| {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        if let Some(id) = non_empty(id) {
            return Ok(id);
        }
        if let Some(slug) = non_empty(slug) {
            return self
                .store
                .get_project_by_slug(&ctx.actor.org_id, &slug)
                .await?
                .map(|p| p.id)
                .ok_or_else(|| Error::not_found(format!("Project with slug '{slug}' not found")));
        }
        Err(Error::invalid(
            &["workspaceId"],
            "Either workspaceId or workspaceSlug is required",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_paths() {
        assert_eq!(slugify("My Project_1!"), "my-project-1");
        assert!(is_slug("a-b-1"));
        assert!(!is_slug("a--b"));
        assert!(!is_slug("-a"));
        assert!(!is_slug("A"));
        assert_eq!(normalize_path(None).as_deref(), Some("/"));
        assert_eq!(normalize_path(Some("a/b/")).as_deref(), Some("/a/b"));
        assert_eq!(normalize_path(Some("//")).as_deref(), Some("/"));
        assert_eq!(normalize_path(Some("/a/../b")), None);
    }
}
