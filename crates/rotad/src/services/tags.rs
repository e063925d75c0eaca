//! A project's secret tags (docs/COMPATIBILITY.md, "Secrets beyond get/set"): created, renamed
//! and deleted here, attached to secrets by id, shown in secret answers and used to filter lists.
//! A secret row keeps its tags' ids; the project's tags are cached (docs/ARCHITECTURE.md,
//! "Caches"), and read only for secrets that have tags.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use super::audit::Event;
use super::authz::{Action, Subject};
use super::cache::Entry;
use super::projects::is_slug;
use super::secrets::Secret;
use super::{new_id, App, Ctx};
use crate::error::{Error, Result};
use crate::store::changes::scope;
use crate::store::{StoreError, TagRow};
use crate::time::now_ms;

/// A tag's slug, at most.
pub const MAX_TAG_SLUG: usize = 64;
/// A tag's color, at most.
pub const MAX_TAG_COLOR: usize = 64;
/// Tags on one secret, at most.
pub const MAX_SECRET_TAGS: usize = 100;

/// The ids a secret row lists (`[]` or a JSON array of strings).
pub fn parse_tag_ids(stored: &str) -> Vec<String> {
    if stored.is_empty() || stored == "[]" {
        return Vec::new();
    }
    serde_json::from_str(stored).unwrap_or_default()
}

fn check_slug(slug: &str) -> Result<String> {
    let slug = slug.trim();
    if slug.is_empty() || slug.len() > MAX_TAG_SLUG || !is_slug(slug) {
        return Err(Error::invalid(
            &["slug"],
            format!(
                "Tag slug must be 1 to {MAX_TAG_SLUG} lowercase letters, numbers and single hyphens"
            ),
        ));
    }
    Ok(slug.to_string())
}

fn check_color(color: Option<&str>) -> Result<Option<String>> {
    match color.map(str::trim) {
        Some(c) if c.chars().count() > MAX_TAG_COLOR => Err(Error::invalid(
            &["color"],
            format!("Tag color must be at most {MAX_TAG_COLOR} characters"),
        )),
        Some(c) => Ok(Some(c.to_string())),
        None => Ok(None),
    }
}

fn tag_not_found(what: &str) -> Error {
    Error::not_found(format!("Tag with {what} not found"))
}

impl App {
    /// A project's tags, cached; one statement on a miss.
    pub(crate) async fn project_tags(&self, project_id: &str) -> Result<Arc<Entry<Vec<TagRow>>>> {
        let shelf = &self.caches.tags;
        if let Some(hit) = shelf.get(project_id) {
            return Ok(hit);
        }
        let at = shelf.snapshot();
        let tags = self.store.list_tags(project_id).await?;
        let bytes = 128 + tags.iter().map(|t| 128 + t.slug.len()).sum::<usize>();
        let scopes = vec![scope::tags(project_id), scope::project(project_id)];
        Ok(shelf.put(project_id.to_string(), tags, scopes, at, bytes))
    }

    /// The stored form of `ids` once each is known to be one of the project's tags.
    pub(crate) async fn tag_ids_json(&self, project_id: &str, ids: &[String]) -> Result<String> {
        if ids.len() > MAX_SECRET_TAGS {
            return Err(Error::invalid(
                &["tagIds"],
                format!("A secret has at most {MAX_SECRET_TAGS} tags"),
            ));
        }
        let mut unique: Vec<&str> = Vec::new();
        for id in ids {
            if !unique.contains(&id.as_str()) {
                unique.push(id);
            }
        }
        if unique.is_empty() {
            return Ok("[]".to_string());
        }
        let tags = self.project_tags(project_id).await?;
        if let Some(missing) = unique
            .iter()
            .find(|id| !tags.value.iter().any(|t| t.id == **id))
        {
            return Err(tag_not_found(&format!("ID '{missing}'")));
        }
        Ok(json!(unique).to_string())
    }

    /// Fills each secret's `tags` from its `tag_ids` (no statement when none has a tag).
    pub(crate) async fn attach_tags(&self, project_id: &str, secrets: &mut [Secret]) -> Result<()> {
        if secrets.iter().all(|s| s.tag_ids.is_empty()) {
            return Ok(());
        }
        let tags = self.project_tags(project_id).await?;
        for secret in secrets.iter_mut() {
            secret.tags = tags
                .value
                .iter()
                .filter(|t| secret.tag_ids.contains(&t.id))
                .cloned()
                .collect();
        }
        Ok(())
    }

    /// Keeps the secrets that carry at least one of the tags named by `slugs`.
    pub(crate) fn filter_by_tag_slugs(&self, secrets: &mut Vec<Secret>, slugs: &[String]) {
        let wanted: HashSet<&str> = slugs.iter().map(String::as_str).collect();
        secrets.retain(|s| s.tags.iter().any(|t| wanted.contains(t.slug.as_str())));
    }

    pub async fn create_tag(
        &self,
        ctx: &Ctx,
        project_id: &str,
        slug: &str,
        color: Option<&str>,
    ) -> Result<TagRow> {
        let slug = check_slug(slug)?;
        let color = check_color(color)?;
        self.authorize_only(ctx, project_id, Subject::Tags, Action::Create)
            .await?;
        let now = now_ms();
        let tag = TagRow {
            id: new_id(),
            project_id: project_id.to_string(),
            name: slug.clone(),
            slug,
            color,
            created_at: now,
            updated_at: now,
        };
        match self.store.create_tag(&tag).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(slug_taken(&tag.slug)),
            Err(e) => return Err(e.into()),
        }
        self.tag_event(ctx, "create-tag", &tag).await;
        Ok(tag)
    }

    pub async fn list_tags(&self, ctx: &Ctx, project_id: &str) -> Result<Vec<TagRow>> {
        self.authorize_only(ctx, project_id, Subject::Tags, Action::Read)
            .await?;
        Ok(self.project_tags(project_id).await?.value.clone())
    }

    /// A tag by id, or by slug when `by_slug`.
    pub async fn get_tag(
        &self,
        ctx: &Ctx,
        project_id: &str,
        id_or_slug: &str,
        by_slug: bool,
    ) -> Result<TagRow> {
        self.authorize_only(ctx, project_id, Subject::Tags, Action::Read)
            .await?;
        self.find_tag(project_id, id_or_slug, by_slug).await
    }

    async fn find_tag(&self, project_id: &str, id_or_slug: &str, by_slug: bool) -> Result<TagRow> {
        self.project_tags(project_id)
            .await?
            .value
            .iter()
            .find(|t| {
                if by_slug {
                    t.slug == id_or_slug
                } else {
                    t.id == id_or_slug
                }
            })
            .cloned()
            .ok_or_else(|| {
                tag_not_found(&if by_slug {
                    format!("slug '{id_or_slug}'")
                } else {
                    format!("ID '{id_or_slug}'")
                })
            })
    }

    pub async fn update_tag(
        &self,
        ctx: &Ctx,
        project_id: &str,
        id: &str,
        slug: Option<&str>,
        color: Option<&str>,
    ) -> Result<TagRow> {
        let slug = slug.map(check_slug).transpose()?;
        let color = check_color(color)?;
        self.authorize_only(ctx, project_id, Subject::Tags, Action::Edit)
            .await?;
        let mut tag = self.find_tag(project_id, id, false).await?;
        if let Some(slug) = slug {
            tag.name = slug.clone();
            tag.slug = slug;
        }
        if color.is_some() {
            tag.color = color;
        }
        tag.updated_at = now_ms();
        match self.store.update_tag(&tag).await {
            Ok(true) => {}
            Ok(false) => return Err(tag_not_found(&format!("ID '{id}'"))),
            Err(StoreError::Conflict(_)) => return Err(slug_taken(&tag.slug)),
            Err(e) => return Err(e.into()),
        }
        self.tag_event(ctx, "update-tag", &tag).await;
        Ok(tag)
    }

    /// Deletes a tag; secrets that carried it no longer show it.
    pub async fn delete_tag(&self, ctx: &Ctx, project_id: &str, id: &str) -> Result<TagRow> {
        self.authorize_only(ctx, project_id, Subject::Tags, Action::Delete)
            .await?;
        let tag = self.find_tag(project_id, id, false).await?;
        if !self.store.delete_tag(project_id, id).await? {
            return Err(tag_not_found(&format!("ID '{id}'")));
        }
        self.tag_event(ctx, "delete-tag", &tag).await;
        Ok(tag)
    }

    async fn tag_event(&self, ctx: &Ctx, kind: &'static str, tag: &TagRow) {
        self.audit(
            ctx,
            Some(&tag.project_id),
            Event::new(kind, json!({"tagId": tag.id, "slug": tag.slug})),
        )
        .await;
    }
}

fn slug_taken(slug: &str) -> Error {
    Error::bad_request(format!("A tag with the slug '{slug}' already exists"))
}
