//! The OpenID provider's codes and grants, written once for both backends:
//! one SQL text each (numbered `$N` parameters and `TRUE`, which SQLite reads
//! as PostgreSQL does), and one body each, expanded into each backend by
//! [`provider_methods!`] with that backend's transaction (`steps()`: SQLite's
//! `BEGIN IMMEDIATE`, PostgreSQL's default) and pool.

/// The columns of an authorization code, in `rows::CodeRow`'s order.
macro_rules! code_columns {
    () => {
        "code_hash, client_id, redirect_uri, user_id, scope, nonce, code_challenge, \
         auth_time, created_at, expires_at, used_at"
    };
}

/// The columns of a session family as the provider reads it, in `rows::GrantRow`'s order.
macro_rules! grant_columns {
    () => {
        "family_id, user_id, created_at, revoked, oidc_client, scope, auth_time"
    };
}

/// Deletes a batch of at most 100 codes that expired before `$1`, oldest
/// first (SQLite's; PostgreSQL's is `postgres::purge::OIDC_CODES`).
pub(super) const PURGE_CODES: &str = "DELETE FROM oidc_codes WHERE code_hash IN \
     (SELECT code_hash FROM oidc_codes WHERE expires_at <= $1 ORDER BY expires_at LIMIT 100)";
pub(super) const INSERT_CODE: &str = concat!(
    "INSERT INTO oidc_codes (",
    code_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)"
);
pub(super) const SELECT_CODE: &str = concat!(
    "SELECT ",
    code_columns!(),
    " FROM oidc_codes WHERE code_hash = $1"
);
/// Marks a code used by the grant `$3` at `$2`, if it is unused and unexpired.
pub(super) const REDEEM_CODE: &str = "UPDATE oidc_codes SET used_at = $2, family_id = $3 \
     WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2";
/// Revokes the grant a used code opened.
pub(super) const REVOKE_GRANT_OF_CODE: &str =
    "UPDATE session_families SET revoked = TRUE WHERE family_id = \
     (SELECT family_id FROM oidc_codes WHERE code_hash = $1 AND used_at IS NOT NULL)";
pub(super) const GRANT_BY_FAMILY: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM session_families WHERE family_id = $1"
);
pub(super) const GRANT_BY_TOKEN: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM session_families WHERE family_id = \
     (SELECT family_id FROM sessions WHERE token_hash = $1)"
);

/// The provider's methods of a backend store `$store`, whose `steps()` opens
/// a write transaction as its `Steps` (with `tx()` and `commit()`).
macro_rules! provider_methods {
    ($store:ty, $purge_codes:expr) => {
        impl $store {
            pub(super) async fn put_code(&self, code: &NewOidcCode) -> StoreResult<()> {
                let mut steps = self.steps().await?;
                sqlx::query($purge_codes)
                    .bind(code.created_at.saturating_sub(SPENT_CODE_KEPT_SECS))
                    .execute(&mut **steps.tx())
                    .await?;
                sqlx::query(provider::INSERT_CODE)
                    .bind(&code.code_hash)
                    .bind(&code.client_id)
                    .bind(&code.redirect_uri)
                    .bind(&code.user_id)
                    .bind(&code.scope)
                    .bind(code.nonce.as_deref())
                    .bind(code.code_challenge.as_deref())
                    .bind(code.auth_time)
                    .bind(code.created_at)
                    .bind(code.expires_at)
                    .execute(&mut **steps.tx())
                    .await?;
                steps.commit().await
            }

            pub(super) async fn code(&self, code_hash: &[u8]) -> StoreResult<Option<OidcCode>> {
                let row: Option<CodeRow> = sqlx::query_as(provider::SELECT_CODE)
                    .bind(code_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(OidcCode::from))
            }

            pub(super) async fn redeem_code(
                &self,
                code_hash: &[u8],
                now: i64,
                grant: &NewSession,
            ) -> StoreResult<Redemption> {
                let mut steps = self.steps().await?;
                let redeemed = sqlx::query(provider::REDEEM_CODE)
                    .bind(code_hash)
                    .bind(now)
                    .bind(&grant.family_id)
                    .execute(&mut **steps.tx())
                    .await?;
                let redemption = if redeemed.rows_affected() == 1 {
                    steps.insert_session(grant).await?;
                    Redemption::Granted
                } else {
                    sqlx::query(provider::REVOKE_GRANT_OF_CODE)
                        .bind(code_hash)
                        .execute(&mut **steps.tx())
                        .await?;
                    Redemption::Refused
                };
                steps.commit().await?;
                Ok(redemption)
            }

            pub(super) async fn spoil_code(&self, code_hash: &[u8]) -> StoreResult<()> {
                let mut steps = self.steps().await?;
                sqlx::query(provider::REVOKE_GRANT_OF_CODE)
                    .bind(code_hash)
                    .execute(&mut **steps.tx())
                    .await?;
                steps.commit().await
            }

            pub(super) async fn grant_by_family(
                &self,
                family_id: &str,
            ) -> StoreResult<Option<Grant>> {
                let row: Option<GrantRow> = sqlx::query_as(provider::GRANT_BY_FAMILY)
                    .bind(family_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Grant::from))
            }

            pub(super) async fn grant_by_token(
                &self,
                token_hash: &[u8],
            ) -> StoreResult<Option<Grant>> {
                let row: Option<GrantRow> = sqlx::query_as(provider::GRANT_BY_TOKEN)
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Grant::from))
            }
        }
    };
}

pub(super) use provider_methods;
