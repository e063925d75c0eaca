use async_trait::async_trait;

use super::{announce, conflict, Dialect, SqlStore};
use crate::store::changes::scope;
use crate::store::{
    AccessToken, ClientSecret, Identity, IdentityStore, Organization, StoreError, StoreResult,
    UniversalAuth,
};

const IDENTITY_COLS: &str = "id, org_id, name, org_role, created_at, updated_at";
const UA_COLS: &str = "identity_id, client_id, access_token_ttl, access_token_max_ttl, \
     access_token_num_uses_limit, trusted_ips, created_at, updated_at, client_secret_trusted_ips";
const SECRET_COLS: &str =
    "id, identity_id, description, prefix, hash, ttl, num_uses_limit, num_uses, revoked, created_at";
const TOKEN_COLS: &str =
    "id, identity_id, auth_method, ttl, max_ttl, expires_at, revoked, created_at, last_renewed_at, \
     num_uses_limit, num_uses";

#[async_trait]
impl<DB> IdentityStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    async fn bootstrap(
        &self,
        org: &Organization,
        identity: &Identity,
        token: &AccessToken,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let claimed = sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('bootstrapped', $1) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&org.id)
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&claimed) != 1 {
            return Err(StoreError::Conflict("instance already bootstrapped"));
        }
        sqlx::query(
            "INSERT INTO organizations (id, name, slug, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&org.id)
        .bind(&org.name)
        .bind(&org.slug)
        .bind(org.created_at)
        .execute(&mut *tx)
        .await?;
        insert_identity(identity).execute(&mut *tx).await?;
        insert_token(token).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_organization(&self, id: &str) -> StoreResult<Option<Organization>> {
        Ok(sqlx::query_as::<DB, Organization>(
            "SELECT id, name, slug, created_at FROM organizations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn create_identity(&self, identity: &Identity) -> StoreResult<()> {
        insert_identity(identity).execute(&self.write).await?;
        Ok(())
    }

    async fn get_identity(&self, id: &str) -> StoreResult<Option<Identity>> {
        Ok(sqlx::query_as::<DB, Identity>(&format!(
            "SELECT {IDENTITY_COLS} FROM identities WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn list_identities(&self, org_id: &str) -> StoreResult<Vec<Identity>> {
        Ok(sqlx::query_as::<DB, Identity>(&format!(
            "SELECT {IDENTITY_COLS} FROM identities WHERE org_id = $1 ORDER BY created_at, id"
        ))
        .bind(org_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn update_identity(&self, identity: &Identity) -> StoreResult<()> {
        let scopes = [scope::identity(&identity.id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        sqlx::query(
            "UPDATE identities SET name = $2, org_role = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(&identity.id)
        .bind(&identity.name)
        .bind(&identity.org_role)
        .bind(identity.updated_at)
        .execute(&mut *tx)
        .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(())
    }

    async fn delete_identity(&self, id: &str) -> StoreResult<bool> {
        let scopes = [scope::identity(id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done = sqlx::query("DELETE FROM identities WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn insert_universal_auth(&self, ua: &UniversalAuth) -> StoreResult<bool> {
        let scopes = [scope::identity(&ua.identity_id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done = sqlx::query(&format!(
            "INSERT INTO universal_auths ({UA_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (identity_id) DO NOTHING"
        ))
        .bind(&ua.identity_id)
        .bind(&ua.client_id)
        .bind(ua.access_token_ttl)
        .bind(ua.access_token_max_ttl)
        .bind(ua.access_token_num_uses_limit)
        .bind(&ua.trusted_ips)
        .bind(ua.created_at)
        .bind(ua.updated_at)
        .bind(&ua.client_secret_trusted_ips)
        .execute(&mut *tx)
        .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn update_universal_auth(&self, ua: &UniversalAuth) -> StoreResult<bool> {
        // Narrower trusted IPs or shorter lifetimes take access away: announced.
        let scopes = [scope::identity(&ua.identity_id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done = sqlx::query(
            "UPDATE universal_auths SET access_token_ttl = $2, access_token_max_ttl = $3, \
             access_token_num_uses_limit = $4, trusted_ips = $5, updated_at = $6, \
             client_secret_trusted_ips = $7 WHERE identity_id = $1",
        )
        .bind(&ua.identity_id)
        .bind(ua.access_token_ttl)
        .bind(ua.access_token_max_ttl)
        .bind(ua.access_token_num_uses_limit)
        .bind(&ua.trusted_ips)
        .bind(ua.updated_at)
        .bind(&ua.client_secret_trusted_ips)
        .execute(&mut *tx)
        .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn delete_universal_auth(&self, identity_id: &str) -> StoreResult<bool> {
        // Every cached token context of the identity hangs on its scope (docs/SECURITY.md).
        let scopes = [scope::identity(identity_id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done = sqlx::query("DELETE FROM universal_auths WHERE identity_id = $1")
            .bind(identity_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE client_secrets SET revoked = $2 WHERE identity_id = $1")
            .bind(identity_id)
            .bind(true)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE access_tokens SET revoked = $2 \
             WHERE identity_id = $1 AND auth_method = 'universal-auth'",
        )
        .bind(identity_id)
        .bind(true)
        .execute(&mut *tx)
        .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn get_universal_auth(&self, identity_id: &str) -> StoreResult<Option<UniversalAuth>> {
        Ok(sqlx::query_as::<DB, UniversalAuth>(&format!(
            "SELECT {UA_COLS} FROM universal_auths WHERE identity_id = $1"
        ))
        .bind(identity_id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn get_universal_auth_by_client_id(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<UniversalAuth>> {
        Ok(sqlx::query_as::<DB, UniversalAuth>(&format!(
            "SELECT {UA_COLS} FROM universal_auths WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn create_client_secret(&self, secret: &ClientSecret) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO client_secrets ({SECRET_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&secret.id)
        .bind(&secret.identity_id)
        .bind(&secret.description)
        .bind(&secret.prefix)
        .bind(&secret.hash)
        .bind(secret.ttl)
        .bind(secret.num_uses_limit)
        .bind(secret.num_uses)
        .bind(secret.revoked)
        .bind(secret.created_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn list_client_secrets(&self, identity_id: &str) -> StoreResult<Vec<ClientSecret>> {
        Ok(sqlx::query_as::<DB, ClientSecret>(&format!(
            "SELECT {SECRET_COLS} FROM client_secrets WHERE identity_id = $1 \
             ORDER BY created_at, id"
        ))
        .bind(identity_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn use_client_secret(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE client_secrets SET num_uses = num_uses + 1 \
             WHERE id = $1 AND NOT revoked AND (num_uses_limit = 0 OR num_uses < num_uses_limit)",
        )
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn revoke_client_secret(&self, identity_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE client_secrets SET revoked = $3 WHERE id = $1 AND identity_id = $2",
        )
        .bind(id)
        .bind(identity_id)
        .bind(true)
        .execute(&self.write)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn create_access_token(&self, token: &AccessToken) -> StoreResult<()> {
        insert_token(token)
            .execute(&self.write)
            .await
            .map_err(conflict("access token"))?;
        Ok(())
    }

    async fn get_access_token(&self, id: &str) -> StoreResult<Option<AccessToken>> {
        Ok(sqlx::query_as::<DB, AccessToken>(&format!(
            "SELECT {TOKEN_COLS} FROM access_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn use_access_token(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE access_tokens SET num_uses = num_uses + 1 \
             WHERE id = $1 AND num_uses < num_uses_limit",
        )
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn renew_access_token(&self, id: &str, expires_at: i64, now: i64) -> StoreResult<()> {
        let scopes = [scope::token(id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        sqlx::query("UPDATE access_tokens SET expires_at = $2, last_renewed_at = $3 WHERE id = $1")
            .bind(id)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(())
    }

    async fn revoke_access_token(&self, id: &str) -> StoreResult<bool> {
        let scopes = [scope::token(id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done = sqlx::query("UPDATE access_tokens SET revoked = $2 WHERE id = $1")
            .bind(id)
            .bind(true)
            .execute(&mut *tx)
            .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(DB::rows_affected(&done) == 1)
    }
}

fn insert_identity<DB>(identity: &Identity) -> sqlx::query::Query<'_, DB, DB::Arguments<'_>>
where
    DB: Dialect,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO identities (id, org_id, name, org_role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(identity.id.clone())
    .bind(identity.org_id.clone())
    .bind(identity.name.clone())
    .bind(identity.org_role.clone())
    .bind(identity.created_at)
    .bind(identity.updated_at)
}

fn insert_token<DB>(token: &AccessToken) -> sqlx::query::Query<'_, DB, DB::Arguments<'_>>
where
    DB: Dialect,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO access_tokens (id, identity_id, auth_method, ttl, max_ttl, expires_at, \
         revoked, created_at, last_renewed_at, num_uses_limit, num_uses) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(token.id.clone())
    .bind(token.identity_id.clone())
    .bind(token.auth_method.clone())
    .bind(token.ttl)
    .bind(token.max_ttl)
    .bind(token.expires_at)
    .bind(token.revoked)
    .bind(token.created_at)
    .bind(token.last_renewed_at)
    .bind(token.num_uses_limit)
    .bind(token.num_uses)
}
