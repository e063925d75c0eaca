//! Project memberships of machine identities.

use serde_json::json;

use super::audit::Event;
use super::authz::{Action, MemberRole, Role, Subject};
use super::{new_id, App, Ctx};
use crate::error::{Error, Result};
use crate::store::{Identity, Membership, Project};
use crate::time::now_ms;

/// A page of a project's memberships, each with its identity, and the count of all of them.
pub struct MembershipPage {
    pub memberships: Vec<(Membership, Option<Identity>)>,
    pub total_count: i64,
}

/// The roles checked and stored as JSON, with the first one kept as the membership's role.
fn stored_roles(roles: &[MemberRole]) -> Result<(String, String)> {
    for (i, r) in roles.iter().enumerate() {
        if Role::parse(&r.role).is_none() {
            return Err(Error::invalid(
                &["roles", &i.to_string(), "role"],
                "Role must be one of admin, member, viewer, no-access",
            ));
        }
    }
    let first = roles
        .first()
        .map(|r| r.role.clone())
        .ok_or_else(|| Error::invalid(&["roles"], "At least one role is required"))?;
    let json = serde_json::to_string(roles).map_err(|e| Error::Unexpected(e.into()))?;
    Ok((first, json))
}

fn not_member(project_id: &str, identity_id: &str) -> Error {
    Error::not_found(format!(
        "Identity with ID {identity_id} is not a member of project {project_id}"
    ))
}

/// What a membership's answer names besides the membership: its identity (with whether it has
/// universal auth) and its project.
pub struct MembershipParts {
    pub identity: Option<Identity>,
    pub has_universal_auth: bool,
    pub project: Option<Project>,
}

impl App {
    /// The identity and project of a membership the caller was allowed to read or write.
    pub async fn membership_parts(&self, m: &Membership) -> Result<MembershipParts> {
        let identity = self.store.get_identity(&m.identity_id).await?;
        let has_universal_auth = self
            .store
            .get_universal_auth(&m.identity_id)
            .await?
            .is_some();
        let project = self.store.get_project(&m.project_id).await?;
        Ok(MembershipParts {
            identity,
            has_universal_auth,
            project,
        })
    }

    /// Adds an identity to a project, or changes its role.
    pub async fn set_membership(
        &self,
        ctx: &Ctx,
        project_id: &str,
        identity_id: &str,
        roles: Vec<MemberRole>,
    ) -> Result<Membership> {
        let project = self
            .authorize(ctx, project_id, Subject::Identity, Action::Create)
            .await?;
        let (first, json) = stored_roles(&roles)?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        let now = now_ms();
        let membership = self
            .store
            .upsert_membership(&Membership {
                id: new_id(),
                project_id: project.id.clone(),
                identity_id: identity.id.clone(),
                role: first,
                created_at: now,
                updated_at: now,
                roles: json,
            })
            .await?;
        self.audit(
            ctx,
            Some(&project.id),
            Event::new(
                "add-identity-to-project",
                json!({"identityId": identity.id, "roles": roles}),
            ),
        )
        .await;
        Ok(membership)
    }

    pub async fn get_membership(
        &self,
        ctx: &Ctx,
        project_id: &str,
        identity_id: &str,
    ) -> Result<Membership> {
        let project = self
            .authorize(ctx, project_id, Subject::Identity, Action::Read)
            .await?;
        self.store
            .get_membership(&project.id, identity_id)
            .await?
            .ok_or_else(|| not_member(project_id, identity_id))
    }

    pub async fn remove_membership(
        &self,
        ctx: &Ctx,
        project_id: &str,
        identity_id: &str,
    ) -> Result<Membership> {
        let project = self
            .authorize(ctx, project_id, Subject::Identity, Action::Delete)
            .await?;
        let membership = self
            .store
            .get_membership(&project.id, identity_id)
            .await?
            .ok_or_else(|| not_member(project_id, identity_id))?;
        self.store
            .delete_membership(&project.id, identity_id)
            .await?;
        self.audit(
            ctx,
            Some(&project.id),
            Event::new(
                "remove-identity-from-project",
                json!({"identityId": identity_id}),
            ),
        )
        .await;
        Ok(membership)
    }

    /// Replaces the roles of an existing membership (upstream's PATCH); the change holds from
    /// the very next request (docs/SECURITY.md, "Roles").
    pub async fn update_membership(
        &self,
        ctx: &Ctx,
        project_id: &str,
        identity_id: &str,
        roles: Vec<MemberRole>,
    ) -> Result<Membership> {
        let project = self
            .authorize(ctx, project_id, Subject::Identity, Action::Edit)
            .await?;
        let (first, json) = stored_roles(&roles)?;
        let current = self
            .store
            .get_membership(&project.id, identity_id)
            .await?
            .ok_or_else(|| not_member(project_id, identity_id))?;
        let membership = self
            .store
            .update_membership(&Membership {
                role: first,
                roles: json,
                updated_at: now_ms(),
                ..current
            })
            .await?
            .ok_or_else(|| not_member(project_id, identity_id))?;
        self.audit(
            ctx,
            Some(&project.id),
            Event::new(
                "update-identity-project-membership",
                json!({"identityId": identity_id, "roles": roles}),
            ),
        )
        .await;
        Ok(membership)
    }

    /// One page of the project's memberships.
    pub async fn list_memberships(
        &self,
        ctx: &Ctx,
        project_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<MembershipPage> {
        let project = self
            .authorize(ctx, project_id, Subject::Identity, Action::Read)
            .await?;
        let (page, total_count) = self
            .store
            .list_memberships_of_project(&project.id, offset, limit)
            .await?;
        let identities = self.store.list_identities(&project.org_id).await?;
        let memberships = page
            .into_iter()
            .map(|m| {
                let identity = identities.iter().find(|i| i.id == m.identity_id).cloned();
                (m, identity)
            })
            .collect();
        Ok(MembershipPage {
            memberships,
            total_count,
        })
    }
}
