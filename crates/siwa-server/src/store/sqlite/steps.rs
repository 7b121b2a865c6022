//! The sign-in steps (see `store::sign_in`) over a SQLite write transaction.

use std::ops::DerefMut;

use sqlx::{Sqlite, SqliteConnection, Transaction};

use super::super::sign_in::SignInSteps;
use super::super::user_row::{UserRow, USER_COLUMNS};
use super::super::{
    email_key, given, random_id, AppleProfile, Name, NewEvent, NewSession, Relink,
    SealedAppleToken, SpentIdentityToken, StoreResult, User,
};

/// The sign-in steps over a SQLite write transaction: the writer's (a
/// connection inside its transaction) or one of the caller's own.
pub(super) struct Steps<C>(pub(super) C);

impl Steps<Transaction<'static, Sqlite>> {
    /// The transaction, for statements of the caller's own.
    pub(super) fn tx(&mut self) -> &mut Transaction<'static, Sqlite> {
        &mut self.0
    }

    pub(super) async fn commit(self) -> StoreResult<()> {
        Ok(self.0.commit().await?)
    }
}

impl super::SqliteStore {
    /// A write transaction (`BEGIN IMMEDIATE`: the writer's lock at once).
    pub(super) async fn steps(&self) -> StoreResult<Steps<Transaction<'static, Sqlite>>> {
        Ok(Steps(self.begin().await?))
    }
}

impl<C> SignInSteps for Steps<C>
where
    C: DerefMut<Target = SqliteConnection> + Send,
{
    async fn spend_identity_token(&mut self, token: &SpentIdentityToken) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO spent_identity_tokens (token_hash, expires_at) VALUES (?1, ?2) \
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(&token.hash)
        .bind(token.expires_at)
        .execute(&mut *self.0)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_identity(&mut self, team_id: &str, sub: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "UPDATE apple_identities SET revoked = 0 WHERE team_id = ?1 AND sub = ?2 \
             RETURNING user_id",
        )
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&mut *self.0)
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
            "SELECT team_id, sub, user_id FROM apple_identities WHERE transfer_sub = ?1",
        )
        .bind(transfer_sub)
        .fetch_optional(&mut *self.0)
        .await?;
        let Some((old_team, old_sub, user_id)) = found else {
            return Ok(Relink::Unknown);
        };
        if old_team == team_id && old_sub == sub {
            return Ok(Relink::Relinked { user_id });
        }
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM apple_identities WHERE team_id = ?1 AND sub = ?2",
        )
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&mut *self.0)
        .await?;
        if let Some(holder) = holder {
            return Ok(Relink::Taken { user_id: holder });
        }
        // The sending team's Apple tokens are sealed to the old identity.
        sqlx::query("DELETE FROM apple_tokens WHERE team_id = ?1 AND sub = ?2")
            .bind(&old_team)
            .bind(&old_sub)
            .execute(&mut *self.0)
            .await?;
        sqlx::query("UPDATE apple_identities SET team_id = ?2, sub = ?3 WHERE transfer_sub = ?1")
            .bind(transfer_sub)
            .bind(team_id)
            .bind(sub)
            .execute(&mut *self.0)
            .await?;
        if let Some(email) = given(relay_email) {
            sqlx::query(
                "UPDATE users SET email = ?2, email_key = ?3, email_verified = TRUE, \
                 is_private_email = TRUE WHERE id = ?1",
            )
            .bind(&user_id)
            .bind(email)
            .bind(email_key(email))
            .execute(&mut *self.0)
            .await?;
        }
        Ok(Relink::Relinked { user_id })
    }

    async fn user_by_email(&mut self, email_key: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM users WHERE email_key = ?1 AND email_verified = 1 \
             AND is_private_email = 0 ORDER BY created_at, id LIMIT 1",
        )
        .bind(email_key)
        .fetch_optional(&mut *self.0)
        .await?)
    }

    async fn insert_identity(
        &mut self,
        profile: &AppleProfile,
        user_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        sqlx::query(
            "INSERT INTO apple_identities (team_id, sub, user_id, revoked, linked_at) \
             VALUES (?1, ?2, ?3, 0, ?4)",
        )
        .bind(&profile.team_id)
        .bind(&profile.sub)
        .bind(user_id)
        .bind(now)
        .execute(&mut *self.0)
        .await?;
        Ok(true)
    }

    async fn take_pending_name(&mut self, team_id: &str, sub: &str) -> StoreResult<Option<Name>> {
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "DELETE FROM pending_names WHERE team_id = ?1 AND sub = ?2 \
             RETURNING first_name, last_name",
        )
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&mut *self.0)
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
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, ?9) RETURNING {USER_COLUMNS}"
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
        .fetch_one(&mut *self.0)
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
            "UPDATE users SET last_login_at = ?2, \
             email = COALESCE(?3, email), \
             email_key = COALESCE(?4, email_key), \
             email_verified = CASE WHEN ?3 IS NULL THEN email_verified ELSE ?5 END, \
             is_private_email = CASE WHEN ?3 IS NULL THEN is_private_email ELSE ?6 END, \
             first_name = COALESCE(first_name, ?7), \
             last_name = COALESCE(last_name, ?8), \
             real_user_status = COALESCE(?9, real_user_status) \
             WHERE id = ?1 RETURNING {USER_COLUMNS}"
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
        .fetch_one(&mut *self.0)
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
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (team_id, sub, client_id) \
             DO UPDATE SET token_ciphertext = excluded.token_ciphertext, updated_at = excluded.updated_at",
        )
        .bind(&profile.team_id)
        .bind(&profile.sub)
        .bind(&token.client_id)
        .bind(&token.ciphertext)
        .bind(now)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn insert_session(&mut self, session: &NewSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO session_families \
             (family_id, user_id, client_id, revoked, created_at, expires_at, oidc_client, scope, auth_time) \
             VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&session.family_id)
        .bind(&session.user_id)
        .bind(&session.client_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.grant.as_ref().map(|g| g.client_id.as_str()))
        .bind(session.grant.as_ref().map(|g| g.scope.as_str()))
        .bind(session.grant.as_ref().map(|g| g.auth_time))
        .execute(&mut *self.0)
        .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, family_id, created_at, expires_at, spent_at) \
             VALUES (?1, ?2, ?3, ?4, NULL)",
        )
        .bind(&session.token_hash)
        .bind(&session.family_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn read_user(&mut self, user_id: &str) -> StoreResult<Option<User>> {
        super::outbox::read_user(&mut self.0, user_id).await
    }

    async fn record_event(&mut self, event: &NewEvent) -> StoreResult<()> {
        super::outbox::insert_event(&mut self.0, event).await
    }
}
