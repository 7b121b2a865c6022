//! The sign-in decision, written once for both backends: each backend
//! implements [`SignInSteps`] over its own transaction (dialect and locking),
//! and [`complete`] decides which steps run, in which order.
//!
//! The decision, in order:
//! 1. the identity token is recorded as spent; if it already was, nothing is
//!    written (an identity token opens at most one session);
//! 2. a known identity (team, sub) is marked signed in again (its revoked
//!    mark cleared); during a team transfer, an unknown one whose token
//!    carries a `transfer_sub` is the identity exported with it, relinked
//!    to the new sub; a new one joins the user with its verified, non-relay
//!    email when `link_by_email` asks, else a new user is created;
//! 3. the name is the sign-in's own `user` JSON, else the pending one kept
//!    when an earlier attempt's identity token verified; it is written only
//!    where the account has none (first write wins), and the pending one is
//!    forgotten;
//! 4. Apple's refresh token is kept for (identity, client), and the session opened;
//! 5. the account events go to the webhooks' outbox in the same transaction:
//!    `user.created` for a new user, `user.updated` when the name or email
//!    changed, then `user.signed_in`.

use std::future::Future;

use serde_json::{Map, Value};

use super::{
    email_key, given, may_associate, AppleProfile, EventType, Name, NewEvent, NewSession, Relink,
    SealedAppleToken, SignIn, SignInOutcome, SpentIdentityToken, StoreResult, User,
};

/// What one backend does for each step, inside its open transaction.
pub(super) trait SignInSteps: Send {
    /// Records the token as spent; `false` when it already was.
    fn spend_identity_token(
        &mut self,
        token: &SpentIdentityToken,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Clears a known identity's revoked mark; its user id, `None` when unknown.
    fn touch_identity(
        &mut self,
        team_id: &str,
        sub: &str,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;
    /// Relinks the identity exported with `transfer_sub` to (team, sub),
    /// forgetting the sending team's Apple tokens, and setting the user's
    /// relay email when one is given (see `Store::relink_identity`).
    fn relink(
        &mut self,
        transfer_sub: &str,
        team_id: &str,
        sub: &str,
        relay_email: Option<&str>,
    ) -> impl Future<Output = StoreResult<Relink>> + Send;
    /// The user an email may join (verified, non-relay), locked against erasure.
    fn user_by_email(
        &mut self,
        email_key: &str,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;
    /// Links a new identity to `user_id`; `false` when another transaction
    /// linked it first (PostgreSQL replicas), and this one must start over.
    fn insert_identity(
        &mut self,
        profile: &AppleProfile,
        user_id: &str,
        now: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Takes (and forgets) the pending name of an identity.
    fn take_pending_name(
        &mut self,
        team_id: &str,
        sub: &str,
    ) -> impl Future<Output = StoreResult<Option<Name>>> + Send;
    /// Creates the user of a first sign-in.
    fn insert_user(
        &mut self,
        profile: &AppleProfile,
        name: &Name,
        now: i64,
    ) -> impl Future<Output = StoreResult<User>> + Send;
    /// Updates a signed-in user: the login time always; the email with its
    /// flags and the real-user status when given; each name part only where
    /// the account has none.
    fn update_user(
        &mut self,
        user_id: &str,
        profile: &AppleProfile,
        name: &Name,
        now: i64,
    ) -> impl Future<Output = StoreResult<User>> + Send;
    /// Keeps Apple's refresh token of (identity, client), replacing an older one.
    fn put_apple_token(
        &mut self,
        profile: &AppleProfile,
        token: &SealedAppleToken,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Opens a session family with its first refresh token.
    fn insert_session(
        &mut self,
        session: &NewSession,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A user as stored now (before this sign-in changes them).
    fn read_user(
        &mut self,
        user_id: &str,
    ) -> impl Future<Output = StoreResult<Option<User>>> + Send;
    /// Records an account event in the webhooks' outbox.
    fn record_event(&mut self, event: &NewEvent) -> impl Future<Output = StoreResult<()>> + Send;
}

/// What [`complete`] decided.
pub(super) enum Decided {
    /// Commit: this is the outcome.
    Done(SignInOutcome),
    /// Roll back and try again: another replica linked the identity first.
    LostRace,
}

/// Runs a sign-in's steps in `tx` (see the module docs). The caller commits
/// on [`Decided::Done`] and rolls back otherwise.
pub(super) async fn complete<T: SignInSteps>(tx: &mut T, sign_in: &SignIn) -> StoreResult<Decided> {
    let SignIn {
        profile,
        now,
        link_by_email,
        ..
    } = sign_in;
    if let Some(token) = &sign_in.identity_token {
        if !tx.spend_identity_token(token).await? {
            return Ok(Decided::Done(SignInOutcome::TokenAlreadySpent));
        }
    }
    let mut linked = tx.touch_identity(&profile.team_id, &profile.sub).await?;
    // During a team transfer, a new sub that comes with a transfer_sub joins
    // the identity exported with it (its user signed in before the import).
    if let (None, Some(transfer_sub)) = (&linked, &profile.transfer_sub) {
        if let Relink::Relinked { user_id } = tx
            .relink(transfer_sub, &profile.team_id, &profile.sub, None)
            .await?
        {
            linked = tx.touch_identity(&profile.team_id, &profile.sub).await?;
            debug_assert_eq!(linked.as_deref(), Some(user_id.as_str()));
        }
    }
    // The user before this sign-in (None: created by it), and after.
    let (before, user) = match linked {
        Some(user_id) => {
            let before = tx.read_user(&user_id).await?;
            let name = name_to_apply(tx, profile).await?;
            (
                before,
                tx.update_user(&user_id, profile, &name, *now).await?,
            )
        }
        None => {
            let email = given(profile.email.as_deref());
            let joined = match email {
                Some(email) if *link_by_email && may_associate(profile, Some(email)) => {
                    tx.user_by_email(&email_key(email)).await?
                }
                _ => None,
            };
            let name = name_to_apply(tx, profile).await?;
            match joined {
                Some(user_id) => {
                    if !tx.insert_identity(profile, &user_id, *now).await? {
                        return Ok(Decided::LostRace);
                    }
                    let before = tx.read_user(&user_id).await?;
                    (
                        before,
                        tx.update_user(&user_id, profile, &name, *now).await?,
                    )
                }
                None => {
                    let user = tx.insert_user(profile, &name, *now).await?;
                    if !tx.insert_identity(profile, &user.id, *now).await? {
                        return Ok(Decided::LostRace);
                    }
                    (None, user)
                }
            }
        }
    };
    if let Some(token) = &sign_in.apple_token {
        tx.put_apple_token(profile, token, *now).await?;
    }
    if let Some(session) = &sign_in.session {
        tx.insert_session(&session.of(&user.id)).await?;
    }
    record_sign_in_events(tx, before.as_ref(), &user, *now).await?;
    Ok(Decided::Done(SignInOutcome::SignedIn(user)))
}

/// `user.created` (no user before) or `user.updated` (name or email
/// changed), then `user.signed_in`.
async fn record_sign_in_events<T: SignInSteps>(
    tx: &mut T,
    before: Option<&User>,
    user: &User,
    now: i64,
) -> StoreResult<()> {
    match before {
        None => {
            let created = NewEvent::about(EventType::UserCreated, &user.id, Some(user), now)?;
            tx.record_event(&created).await?;
        }
        Some(before) => {
            let changed = changed_fields(before, user);
            if !changed.is_empty() {
                let mut detail = Map::new();
                detail.insert("changed".into(), Value::from(changed));
                let updated =
                    NewEvent::new(EventType::UserUpdated, &user.id, Some(user), detail, now)?;
                tx.record_event(&updated).await?;
            }
        }
    }
    let signed_in = NewEvent::about(EventType::UserSignedIn, &user.id, Some(user), now)?;
    tx.record_event(&signed_in).await
}

/// The name and email fields a sign-in changed.
fn changed_fields(before: &User, after: &User) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if before.first_name != after.first_name {
        changed.push("first_name");
    }
    if before.last_name != after.last_name {
        changed.push("last_name");
    }
    if before.email != after.email {
        changed.push("email");
    }
    if before.email_verified != after.email_verified {
        changed.push("email_verified");
    }
    if before.is_private_email != after.is_private_email {
        changed.push("is_private_email");
    }
    changed
}

/// The sign-in's own name, else the pending one (taken either way, so it is
/// applied at most once).
async fn name_to_apply<T: SignInSteps>(tx: &mut T, profile: &AppleProfile) -> StoreResult<Name> {
    let pending = tx.take_pending_name(&profile.team_id, &profile.sub).await?;
    let own = Name {
        first_name: given(profile.first_name.as_deref()).map(str::to_owned),
        last_name: given(profile.last_name.as_deref()).map(str::to_owned),
    };
    Ok(match pending {
        Some(pending) if own.first_name.is_none() && own.last_name.is_none() => pending,
        _ => own,
    })
}
