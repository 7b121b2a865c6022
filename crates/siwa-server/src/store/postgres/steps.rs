//! The sign-in steps (see `store::sign_in`) over a PostgreSQL transaction.

use sqlx::{Postgres, Transaction};

use super::super::sign_in::SignInSteps;
use super::super::user_row::{UserRow, USER_COLUMNS};
use super::super::{
    email_key, given, random_id, AppleProfile, Name, NewEvent, NewSession, Relink,
    SealedAppleToken, SpentIdentityToken, StoreResult, User,
};

/// The sign-in steps over a PostgreSQL transaction.
pub(super) struct Steps {
    pub(super) tx: Transaction<'static, Postgres>,
    /// The last attempt: a lost race is the database's error, not a retry.
    pub(super) last: bool,
}

impl Steps {
    /// The transaction, for statements of the caller's own.
    pub(super) fn tx(&mut self) -> &mut Transaction<'static, Postgres> {
        &mut self.tx
    }

    pub(super) async fn commit(self) -> StoreResult<()> {
        Ok(self.tx.commit().await?)
    }
}

impl super::PostgresStore {
    /// A transaction that is its own last attempt (no retry on a lost race).
    pub(super) async fn steps(&self) -> StoreResult<Steps> {
        Ok(Steps {
            tx: self.pool.begin().await?,
            last: true,
        })
    }
}

impl SignInSteps for Steps {
    async fn spend_identity_token(&mut self, token: &SpentIdentityToken) -> StoreResult<bool> {
        // A concurrent spender of the same token waits on this row until we
        // commit (then finds it) or roll back.
        let done = sqlx::query(
            "INSERT INTO spent_identity_tokens (token_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(&token.hash)
        .bind(token.expires_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_identity(&mut self, team_id: &str, sub: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "UPDATE apple_identities SET revoked = FALSE WHERE team_id = $1 AND sub = $2 \
             RETURNING user_id",
        )
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    async fn relink(
        &mut self,
        transfer_sub: &str,
        team_id: &str,
        sub: &str,
        relay_email: Option<&str>,
    ) -> StoreResult<Relink> {
        let found: Option<(String, String, String)> = sqlx::query_as(
            "SELECT team_id, sub, user_id FROM apple_identities WHERE transfer_sub = $1 FOR UPDATE",
        )
        .bind(transfer_sub)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some((old_team, old_sub, user_id)) = found else {
            return Ok(Relink::Unknown);
        };
        if old_team == team_id && old_sub == sub {
            return Ok(Relink::Relinked { user_id });
        }
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM apple_identities WHERE team_id = $1 AND sub = $2",
        )
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&mut *self.tx)
        .await?;
        if let Some(holder) = holder {
            return Ok(Relink::Taken { user_id: holder });
        }
        // The sending team's Apple tokens are sealed to the old identity.
        sqlx::query("DELETE FROM apple_tokens WHERE team_id = $1 AND sub = $2")
            .bind(&old_team)
            .bind(&old_sub)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("UPDATE apple_identities SET team_id = $2, sub = $3 WHERE transfer_sub = $1")
            .bind(transfer_sub)
            .bind(team_id)
            .bind(sub)
            .execute(&mut *self.tx)
            .await?;
        if let Some(email) = given(relay_email) {
            sqlx::query(
                "UPDATE users SET email = $2, email_key = $3, email_verified = TRUE, \
                 is_private_email = TRUE WHERE id = $1",
            )
            .bind(&user_id)
            .bind(email)
            .bind(email_key(email))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(Relink::Relinked { user_id })
    }

    async fn user_by_email(&mut self, email_key: &str) -> StoreResult<Option<String>> {
        // Two new identities with one email, on two replicas, must not both
        // create a user: the decision is serialized per email.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("siwa-email:{email_key}"))
            .execute(&mut *self.tx)
            .await?;
        // KEY SHARE: the user cannot be erased before our link to it is in
        // (a sign-in's own update of it does not conflict).
        Ok(sqlx::query_scalar(
            "SELECT id FROM users WHERE email_key = $1 AND email_verified \
             AND NOT is_private_email ORDER BY created_at, id LIMIT 1 FOR KEY SHARE",
        )
        .bind(email_key)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    async fn insert_identity(
        &mut self,
        profile: &AppleProfile,
        user_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let insert = if self.last {
            "INSERT INTO apple_identities (team_id, sub, user_id, revoked, linked_at) \
             VALUES ($1, $2, $3, FALSE, $4)"
        } else {
            "INSERT INTO apple_identities (team_id, sub, user_id, revoked, linked_at) \
             VALUES ($1, $2, $3, FALSE, $4) ON CONFLICT (team_id, sub) DO NOTHING"
        };
        let inserted = sqlx::query(insert)
            .bind(&profile.team_id)
            .bind(&profile.sub)
            .bind(user_id)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn take_pending_name(&mut self, team_id: &str, sub: &str) -> StoreResult<Option<Name>> {
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "DELETE FROM pending_names WHERE team_id = $1 AND sub = $2 \
             RETURNING first_name, last_name",
        )
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.map(|(first_name, last_name)| Name {
            first_name,
            last_name,
        }))
    }

    async fn insert_user(
        &mut self,
        profile: &AppleProfile,
        name: &Name,
        now: i64,
    ) -> StoreResult<User> {
        let email = given(profile.email.as_deref());
        let row = sqlx::query(&format!(
            "INSERT INTO users (id, email, email_key, email_verified, is_private_email, \
             email_forwarding, first_name, last_name, real_user_status, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8, $9, $9) RETURNING {USER_COLUMNS}"
        ))
        .bind(random_id()?)
        .bind(email)
        .bind(email.map(email_key))
        .bind(email.is_some() && profile.email_verified)
        .bind(email.is_some() && profile.is_private_email)
        .bind(given(name.first_name.as_deref()))
        .bind(given(name.last_name.as_deref()))
        .bind(profile.real_user_status)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.user()?)
    }

    async fn update_user(
        &mut self,
        user_id: &str,
        profile: &AppleProfile,
        name: &Name,
        now: i64,
    ) -> StoreResult<User> {
        let email = given(profile.email.as_deref());
        let row = sqlx::query(&format!(
            "UPDATE users SET last_login_at = $2, \
             email = COALESCE($3, email), \
             email_key = COALESCE($4, email_key), \
             email_verified = CASE WHEN $3::TEXT IS NULL THEN email_verified ELSE $5 END, \
             is_private_email = CASE WHEN $3::TEXT IS NULL THEN is_private_email ELSE $6 END, \
             first_name = COALESCE(first_name, $7), \
             last_name = COALESCE(last_name, $8), \
             real_user_status = COALESCE($9, real_user_status) \
             WHERE id = $1 RETURNING {USER_COLUMNS}"
        ))
        .bind(user_id)
        .bind(now)
        .bind(email)
        .bind(email.map(email_key))
        .bind(profile.email_verified)
        .bind(profile.is_private_email)
        .bind(given(name.first_name.as_deref()))
        .bind(given(name.last_name.as_deref()))
        .bind(profile.real_user_status)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.user()?)
    }

    async fn put_apple_token(
        &mut self,
        profile: &AppleProfile,
        token: &SealedAppleToken,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO apple_tokens (team_id, sub, client_id, token_ciphertext, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (team_id, sub, client_id) \
             DO UPDATE SET token_ciphertext = excluded.token_ciphertext, updated_at = excluded.updated_at",
        )
        .bind(&profile.team_id)
        .bind(&profile.sub)
        .bind(&token.client_id)
        .bind(&token.ciphertext)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn insert_session(&mut self, session: &NewSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO session_families \
             (family_id, user_id, client_id, revoked, created_at, expires_at, oidc_client, scope, auth_time) \
             VALUES ($1, $2, $3, FALSE, $4, $5, $6, $7, $8)",
        )
        .bind(&session.family_id)
        .bind(&session.user_id)
        .bind(&session.client_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.grant.as_ref().map(|g| g.client_id.as_str()))
        .bind(session.grant.as_ref().map(|g| g.scope.as_str()))
        .bind(session.grant.as_ref().map(|g| g.auth_time))
        .execute(&mut *self.tx)
        .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, family_id, created_at, expires_at, spent_at) \
             VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(&session.token_hash)
        .bind(&session.family_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn read_user(&mut self, user_id: &str) -> StoreResult<Option<User>> {
        super::outbox::read_user(&mut self.tx, user_id).await
    }

    async fn record_event(&mut self, event: &NewEvent) -> StoreResult<()> {
        super::outbox::insert_event(&mut self.tx, event).await
    }
}
