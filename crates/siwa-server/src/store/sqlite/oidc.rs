//! The OpenID provider's codes and grants on SQLite.

use super::super::rows::{CodeRow, GrantRow, CODE_COLUMNS, GRANT_COLUMNS, SPENT_CODE_KEPT_SECS};
use super::super::sign_in::SignInSteps;
use super::super::{Grant, NewOidcCode, NewSession, OidcCode, Redemption, StoreResult};
use super::steps::Steps;
use super::{SqliteStore, PURGE_BATCH};

impl SqliteStore {
    pub(super) async fn put_code(&self, code: &NewOidcCode) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM oidc_codes WHERE code_hash IN \
             (SELECT code_hash FROM oidc_codes WHERE expires_at <= ?1 LIMIT ?2)",
        )
        .bind(code.created_at.saturating_sub(SPENT_CODE_KEPT_SECS))
        .bind(PURGE_BATCH)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO oidc_codes ({CODE_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL)"
        ))
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn code(&self, code_hash: &[u8]) -> StoreResult<Option<OidcCode>> {
        let row: Option<CodeRow> = sqlx::query_as(&format!(
            "SELECT {CODE_COLUMNS} FROM oidc_codes WHERE code_hash = ?1"
        ))
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
        let mut tx = Steps(self.begin().await?);
        let redeemed = sqlx::query(
            "UPDATE oidc_codes SET used_at = ?2, family_id = ?3 \
             WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
        )
        .bind(code_hash)
        .bind(now)
        .bind(&grant.family_id)
        .execute(&mut *tx.0)
        .await?;
        if redeemed.rows_affected() == 1 {
            tx.insert_session(grant).await?;
            tx.0.commit().await?;
            return Ok(Redemption::Granted);
        }
        revoke_grant_of_code(&mut tx, code_hash).await?;
        tx.0.commit().await?;
        Ok(Redemption::Refused)
    }

    pub(super) async fn spoil_code(&self, code_hash: &[u8]) -> StoreResult<()> {
        let mut tx = Steps(self.begin().await?);
        revoke_grant_of_code(&mut tx, code_hash).await?;
        tx.0.commit().await?;
        Ok(())
    }

    pub(super) async fn grant_by_family(&self, family_id: &str) -> StoreResult<Option<Grant>> {
        let row: Option<GrantRow> = sqlx::query_as(&format!(
            "SELECT {GRANT_COLUMNS} FROM session_families WHERE family_id = ?1"
        ))
        .bind(family_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Grant::from))
    }

    pub(super) async fn grant_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<Grant>> {
        let row: Option<GrantRow> = sqlx::query_as(&format!(
            "SELECT {GRANT_COLUMNS} FROM session_families WHERE family_id = \
             (SELECT family_id FROM sessions WHERE token_hash = ?1)"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Grant::from))
    }
}

/// Revokes the grant a used code opened, if it opened one.
async fn revoke_grant_of_code(tx: &mut Steps, code_hash: &[u8]) -> StoreResult<()> {
    sqlx::query(
        "UPDATE session_families SET revoked = 1 WHERE family_id = \
         (SELECT family_id FROM oidc_codes WHERE code_hash = ?1 AND used_at IS NOT NULL)",
    )
    .bind(code_hash)
    .execute(&mut *tx.0)
    .await?;
    Ok(())
}
