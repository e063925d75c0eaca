//! Folders: create, list (one level or the whole subtree), get by id, rename (one or a batch)
//! and delete.

use serde_json::json;

use super::audit::Event;
use super::authz::{Action, Subject};
use super::new_id;
use super::{App, Ctx};
use crate::error::{Error, Result};
use crate::services::projects::normalize_path;
use crate::store::{Environment, Folder, FolderUpdate, StoreError};
use crate::time::now_ms;

/// A folder's whole path: as `http::routes::folders` caps it at creation.
pub const MAX_FOLDER_PATH: usize = 1024;

/// A folder with the environment it lives in.
#[derive(Debug, Clone)]
pub struct FolderView {
    pub folder: Folder,
    pub environment: Environment,
}

/// One rename asked for: the folder, where the caller says it is, its new name and description
/// (`None` keeps the description).
#[derive(Debug, Clone)]
pub struct FolderEdit {
    pub id: String,
    pub environment: String,
    pub path: Option<String>,
    pub name: String,
    pub description: Option<String>,
}

/// A folder name as upstream allows it: letters, digits, `-` and `_`, at most 64 characters.
pub fn check_folder_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::invalid(
            &["name"],
            "Folder name can only contain letters, numbers, dashes and underscores",
        ));
    }
    Ok(name)
}

fn not_found(id: &str) -> Error {
    Error::not_found(format!("Folder with ID '{id}' not found"))
}

/// The path of a folder named `name` under the folder at `parent`.
fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The path of the folder that holds the folder at `path`.
fn parent_path(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

impl App {
    pub async fn create_folder(
        &self,
        ctx: &Ctx,
        project_id: &str,
        environment: &str,
        parent_path: Option<&str>,
        name: &str,
        description: Option<&str>,
    ) -> Result<(Folder, Environment)> {
        let name = check_folder_name(name)?;
        let parent = self
            .locate(
                ctx,
                project_id,
                environment,
                parent_path,
                Subject::SecretFolders,
                Action::Create,
            )
            .await?;
        let path = if parent.folder.path == "/" {
            format!("/{name}")
        } else {
            format!("{}/{name}", parent.folder.path)
        };
        if let Some(existing) = self
            .store
            .get_folder_by_path(&parent.environment.id, &path)
            .await?
        {
            // Upstream answers an existing folder with the folder itself.
            return Ok((existing, parent.environment));
        }
        let now = now_ms();
        let folder = Folder {
            id: new_id(),
            project_id: parent.project.id.clone(),
            env_id: parent.environment.id.clone(),
            parent_id: Some(parent.folder.id.clone()),
            name: name.to_string(),
            path,
            description: description.map(str::to_string),
            created_at: now,
            updated_at: now,
        };
        match self.store.create_folder(&folder).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                let existing = self
                    .store
                    .get_folder_by_path(&folder.env_id, &folder.path)
                    .await?
                    .ok_or_else(|| Error::bad_request("Folder already exists"))?;
                return Ok((existing, parent.environment));
            }
            Err(e) => return Err(e.into()),
        }
        self.audit(
            ctx,
            Some(&parent.project.id),
            Event::new(
                "create-folder",
                json!({"environment": parent.environment.slug, "folderId": folder.id, "folderName": name, "folderPath": folder.path}),
            ),
        )
        .await;
        Ok((folder, parent.environment))
    }

    pub async fn list_folders(
        &self,
        ctx: &Ctx,
        project_id: &str,
        environment: &str,
        path: Option<&str>,
    ) -> Result<Vec<Folder>> {
        let loc = self
            .locate(
                ctx,
                project_id,
                environment,
                path,
                Subject::SecretFolders,
                Action::Read,
            )
            .await?;
        Ok(self.store.list_child_folders(&loc.folder.id).await?)
    }

    /// Deletes a folder (by id or name under `path`) with everything below it.
    pub async fn delete_folder(
        &self,
        ctx: &Ctx,
        project_id: &str,
        environment: &str,
        path: Option<&str>,
        id_or_name: &str,
    ) -> Result<Folder> {
        let loc = self
            .locate(
                ctx,
                project_id,
                environment,
                path,
                Subject::SecretFolders,
                Action::Delete,
            )
            .await?;
        let children = self.store.list_child_folders(&loc.folder.id).await?;
        let folder = children
            .into_iter()
            .find(|f| f.id == id_or_name || f.name == id_or_name)
            .ok_or_else(|| Error::not_found(format!("Folder with ID '{id_or_name}' not found")))?;
        let tree: Vec<String> = self
            .store
            .list_folder_tree(&loc.environment.id, &folder.path)
            .await?
            .into_iter()
            .map(|f| f.id)
            .collect();
        let rotations = self.store.list_rotations(&loc.project.id).await?;
        if rotations.iter().any(|r| tree.contains(&r.folder_id)) {
            return Err(Error::bad_request(
                "Cannot delete a folder that holds secret rotations: delete the rotations first \
                 (with revokeGeneratedCredentials to revoke their tokens)",
            ));
        }
        self.store.delete_folder(&folder.id).await?;
        self.audit(
            ctx,
            Some(&loc.project.id),
            Event::new(
                "delete-folder",
                json!({"environment": loc.environment.slug, "folderId": folder.id, "folderPath": folder.path}),
            ),
        )
        .await;
        Ok(folder)
    }

    /// A folder by id, with its environment (`GET /api/v2/folders/{id}`).
    pub async fn get_folder_by_id(&self, ctx: &Ctx, id: &str) -> Result<FolderView> {
        let folder = self
            .store
            .get_folder(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        self.authorize(
            ctx,
            &folder.project_id,
            Subject::SecretFolders,
            Action::Read,
        )
        .await?;
        let environment = self
            .find_environment(&folder.project_id, &folder.env_id)
            .await?;
        Ok(FolderView {
            folder,
            environment,
        })
    }

    /// Every folder below `path` (not `path` itself), at any depth, ordered by path.
    pub async fn list_folder_subtree(
        &self,
        ctx: &Ctx,
        project_id: &str,
        environment: &str,
        path: Option<&str>,
    ) -> Result<Vec<Folder>> {
        let loc = self
            .locate(
                ctx,
                project_id,
                environment,
                path,
                Subject::SecretFolders,
                Action::Read,
            )
            .await?;
        let mut tree = self
            .store
            .list_folder_tree(&loc.environment.id, &loc.folder.path)
            .await?;
        tree.retain(|f| f.id != loc.folder.id);
        Ok(tree)
    }

    /// Renames one folder (and moves the paths below it); sets its description when given.
    pub async fn update_folder(
        &self,
        ctx: &Ctx,
        project_id: &str,
        edit: FolderEdit,
    ) -> Result<FolderView> {
        let mut views = self.update_folders(ctx, project_id, vec![edit]).await?;
        views
            .pop()
            .ok_or_else(|| Error::bad_request("No folder to update"))
    }

    /// Renames folders of one project in one transaction (`PATCH /api/v2/folders/batch`).
    pub async fn update_folders(
        &self,
        ctx: &Ctx,
        project_id: &str,
        edits: Vec<FolderEdit>,
    ) -> Result<Vec<FolderView>> {
        if edits.is_empty() {
            return Err(Error::invalid(
                &["folders"],
                "At least one folder is required",
            ));
        }
        let mut updates: Vec<FolderUpdate> = Vec::new();
        let mut views = Vec::new();
        let now = now_ms();
        for edit in edits {
            let name = check_folder_name(&edit.name)?.to_string();
            if normalize_path(edit.path.as_deref()).is_none() {
                return Err(Error::invalid(&["path"], "Invalid folder path"));
            }
            let loc = self
                .locate(
                    ctx,
                    project_id,
                    &edit.environment,
                    edit.path.as_deref(),
                    Subject::SecretFolders,
                    Action::Edit,
                )
                .await?;
            let folder = self
                .store
                .get_folder(&edit.id)
                .await?
                .filter(|f| {
                    f.project_id == loc.project.id
                        && f.env_id == loc.environment.id
                        && f.parent_id.is_some()
                })
                .ok_or_else(|| not_found(&edit.id))?;
            let new_path = child_path(parent_path(&folder.path), &name);
            let overlaps = updates.iter().any(|u| {
                u.env_id == folder.env_id
                    && (u.id == folder.id
                        || folder.path.starts_with(&format!("{}/", u.old_path))
                        || u.old_path.starts_with(&format!("{}/", folder.path)))
            });
            if overlaps {
                return Err(Error::bad_request(format!(
                    "Folder '{}' is renamed twice in one batch (itself or a folder above it)",
                    folder.path
                )));
            }
            if new_path != folder.path {
                self.check_rename(&folder, &new_path).await?;
            }
            let description = edit.description.or_else(|| folder.description.clone());
            updates.push(FolderUpdate {
                id: folder.id.clone(),
                env_id: folder.env_id.clone(),
                old_path: folder.path.clone(),
                new_path: new_path.clone(),
                name: name.clone(),
                description: description.clone(),
                updated_at: now,
            });
            views.push(FolderView {
                folder: Folder {
                    name,
                    path: new_path,
                    description,
                    updated_at: now,
                    ..folder
                },
                environment: loc.environment,
            });
        }
        match self.store.update_folders(project_id, &updates).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(Error::bad_request(
                    "A folder with that name already exists in that path",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        for (update, view) in updates.iter().zip(&views) {
            self.audit(
                ctx,
                Some(project_id),
                Event::new(
                    "update-folder",
                    json!({"environment": view.environment.slug, "folderId": update.id,
                        "oldFolderPath": update.old_path, "newFolderPath": update.new_path}),
                ),
            )
            .await;
        }
        Ok(views)
    }

    /// Refuses a rename onto an existing folder, or one that makes a path below too long.
    async fn check_rename(&self, folder: &Folder, new_path: &str) -> Result<()> {
        if self
            .store
            .get_folder_by_path(&folder.env_id, new_path)
            .await?
            .is_some()
        {
            return Err(Error::bad_request(format!(
                "Folder with path '{new_path}' already exists"
            )));
        }
        let deepest = self
            .store
            .list_folder_tree(&folder.env_id, &folder.path)
            .await?
            .iter()
            .map(|f| f.path.len())
            .max()
            .unwrap_or(folder.path.len());
        if deepest - folder.path.len() + new_path.len() > MAX_FOLDER_PATH {
            return Err(Error::invalid(
                &["name"],
                format!("A folder path must be at most {MAX_FOLDER_PATH} characters"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{child_path, parent_path};

    #[test]
    fn paths_of_parents_and_children() {
        assert_eq!(parent_path("/a"), "/");
        assert_eq!(parent_path("/a/b"), "/a");
        assert_eq!(child_path("/", "x"), "/x");
        assert_eq!(child_path("/a", "x"), "/a/x");
    }
}
