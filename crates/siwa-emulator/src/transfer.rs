//! Team transfer, as Apple runs it (`/auth/usermigrationinfo`, Apple's
//! "Transferring your apps and users to another team"), rehearsable:
//!
//! 1. Before the transfer, the sending team gets an access token with
//!    `grant_type=client_credentials&scope=user.migration`, and for each of
//!    its users posts `sub` + `target` (the receiving team) to
//!    `/auth/usermigrationinfo`: the answer is `{"transfer_sub"}`.
//! 2. `POST /emulator/transfer {"client_id","to_team"}` moves the app: from
//!    then on its tokens carry the receiving team's subjects (a user's `sub`
//!    differs between teams), and for 60 days a `transfer_sub` for users who
//!    had authorized the app under the sending team. The sending team's
//!    secrets are refused for it.
//! 3. The receiving team, with its own access token, posts each
//!    `transfer_sub`: the answer is `{"sub","email","is_private_email"}` (the
//!    email only for private-relay users), within the 60 days only.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::config::Team;
use crate::random::{apple_token, relay_email, subject};
use crate::reply::{apple_json, Form, Refusal};
use crate::state::{MigrationGrant, Transfer};
use crate::App;

/// How long after the transfer its `transfer_sub`s are honoured, and carried by tokens.
pub(crate) const WINDOW_SECS: u64 = 60 * 86_400;
/// Life of a `user.migration` access token.
pub(crate) const TOKEN_TTL_SECS: u64 = 3_600;
/// The one scope of the client-credentials grant.
pub(crate) const MIGRATION_SCOPE: &str = "user.migration";

/// The `transfer_sub` of a user moving from one team to another, shaped like a `sub`.
pub(crate) fn transfer_sub(from_team: &str, to_team: &str, user: &str) -> String {
    subject(&format!("transfer:{from_team}>{to_team}"), user)
}

impl App {
    /// The team and client of a client id, by the last transfer of the app.
    pub(crate) fn client(&self, client_id: &str) -> Option<(&Team, &crate::config::Client)> {
        let (team, client) = self.config.client(client_id)?;
        match self.last_transfer(client_id) {
            Some(moved) => Some((self.config.team(&moved.to_team)?, client)),
            None => Some((team, client)),
        }
    }

    fn last_transfer(&self, client_id: &str) -> Option<Transfer> {
        let inner = self.store.lock();
        inner
            .durable
            .transfers
            .iter()
            .rev()
            .find(|t| t.client_id == client_id)
            .cloned()
    }

    /// The `transfer_sub` an identity token of `user` for `client_id` under
    /// `team_id` carries at `now`: during the 60 days after the app moved to
    /// that team, for users who had authorized it before.
    pub(crate) fn transfer_sub_claim(
        &self,
        client_id: &str,
        team_id: &str,
        user: &str,
        now: u64,
    ) -> Option<String> {
        let moved = self.last_transfer(client_id)?;
        (moved.to_team == team_id
            && now.saturating_sub(moved.at) < WINDOW_SECS
            && moved.users.contains(user))
        .then(|| transfer_sub(&moved.from_team, &moved.to_team, user))
    }

    /// Issues a `user.migration` access token to the team owning `client_id` now.
    pub(crate) fn migration_token(
        &self,
        client_id: &str,
        scope: Option<&str>,
    ) -> Result<Response, Refusal> {
        if scope != Some(MIGRATION_SCOPE) {
            return Err(Refusal::new(
                "invalid_scope",
                format!("scope {scope:?}: the client_credentials grant takes only user.migration"),
            ));
        }
        let (team, _) = self
            .client(client_id)
            .ok_or_else(|| Refusal::new("invalid_client", "unknown client_id"))?;
        let token = apple_token('a');
        let now = self.now().secs();
        let mut inner = self.store.lock();
        inner.sweep_expired(now);
        inner.migration_tokens.insert(
            token.clone(),
            MigrationGrant {
                client_id: client_id.to_owned(),
                team_id: team.id.as_str().to_owned(),
                expires_at: now + TOKEN_TTL_SECS,
            },
        );
        drop(inner);
        Ok(apple_json(&json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_SECS,
        })))
    }
}

/// `POST /auth/usermigrationinfo`.
pub(crate) async fn user_migration_info(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    migration_info(&app, &headers, &body).unwrap_or_else(IntoResponse::into_response)
}

fn migration_info(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<Response, Refusal> {
    let form = Form::parse(headers, body)?;
    let client_id = crate::client_auth::authenticate(app, &form)?;
    let (team, _) = app
        .client(client_id)
        .ok_or_else(|| Refusal::new("invalid_client", "unknown client_id"))?;
    let team = team.id.as_str().to_owned();
    bearer_for(app, headers, client_id, &team)?;
    let now = app.now().secs();
    match (
        form.get("sub"),
        form.get("target"),
        form.get("transfer_sub"),
    ) {
        (Some(sub), Some(target), None) => {
            if target == team {
                return Err(Refusal::new(
                    "invalid_request",
                    "target is the sending team itself: name the team the app moves to",
                ));
            }
            if siwa_kit::ids::TeamId::new(target).is_err() {
                return Err(Refusal::new(
                    "invalid_request",
                    format!("target {target:?} is not a 10-character Team ID"),
                ));
            }
            let user = app
                .authorized_user_of(client_id, &team, sub)
                .ok_or_else(|| {
                    Refusal::new(
                        "invalid_grant",
                        "sub is not a user of this team who authorized this app",
                    )
                })?;
            Ok(apple_json(&json!({
                "transfer_sub": transfer_sub(&team, target, &user),
            })))
        }
        (None, None, Some(presented)) => {
            let moved = app
                .last_transfer(client_id)
                .filter(|t| t.to_team == team)
                .ok_or_else(|| {
                    Refusal::new(
                        "invalid_grant",
                        "this app was not transferred to the requesting team",
                    )
                })?;
            let user = moved
                .users
                .iter()
                .find(|u| transfer_sub(&moved.from_team, &moved.to_team, u) == presented)
                .ok_or_else(|| {
                    Refusal::new(
                        "invalid_grant",
                        "unknown transfer_sub, or one made for another receiving team",
                    )
                })?;
            if now.saturating_sub(moved.at) >= WINDOW_SECS {
                return Err(Refusal::new(
                    "invalid_grant",
                    "the transfer_sub's 60-day window has passed",
                ));
            }
            let mut answer = json!({ "sub": subject(&team, user) });
            if app.shared_relay(client_id, user) {
                answer["email"] = relay_email(&team, user).into();
                answer["is_private_email"] = true.into();
            }
            Ok(apple_json(&answer))
        }
        _ => Err(Refusal::new(
            "invalid_request",
            "send either sub and target (the sending team) or transfer_sub (the receiving team)",
        )),
    }
}

/// The `Authorization: Bearer` of a `user.migration` token issued to this client's team.
fn bearer_for(app: &App, headers: &HeaderMap, client_id: &str, team: &str) -> Result<(), Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Refusal::new(
                "invalid_request",
                "no Authorization: Bearer with the user.migration access token",
            )
        })?;
    let inner = app.store.lock();
    let grant = inner
        .migration_tokens
        .get(token.trim())
        .ok_or_else(|| Refusal::new("invalid_client", "unknown user.migration access token"))?;
    if grant.client_id != client_id || grant.team_id != team {
        return Err(Refusal::new(
            "invalid_client",
            "the access token was issued to another client or team",
        ));
    }
    if app.now().secs() >= grant.expires_at {
        return Err(Refusal::new(
            "invalid_client",
            "the access token has expired",
        ));
    }
    Ok(())
}

impl App {
    /// The handle of the user whose `sub` under `team` this is, if that user
    /// authorized `client_id`.
    fn authorized_user_of(&self, client_id: &str, team: &str, sub: &str) -> Option<String> {
        let user = self
            .config
            .users
            .iter()
            .find(|u| subject(team, &u.id) == sub)?;
        let inner = self.store.lock();
        inner
            .durable
            .authorized
            .contains(&(user.id.clone(), client_id.to_owned()))
            .then(|| user.id.clone())
    }

    /// Whether the user's grants to this app hid their email.
    fn shared_relay(&self, client_id: &str, user: &str) -> bool {
        self.store
            .lock()
            .durable
            .hidden_email
            .contains(&(user.to_owned(), client_id.to_owned()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferRequest {
    client_id: String,
    to_team: String,
    /// When the transfer happened (Unix seconds, not in the future; default
    /// now): a rehearsal may place it weeks back, past the 60-day window.
    #[serde(default)]
    at: Option<u64>,
}

/// `POST /emulator/transfer {"client_id","to_team","at"?}`: the app moves to `to_team`.
pub(crate) async fn transfer(
    State(app): State<Arc<App>>,
    Json(request): Json<TransferRequest>,
) -> Response {
    let refuse = |reason: String| {
        tracing::info!(reason, "transfer refused");
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "reason": reason})),
        )
            .into_response()
    };
    let Some((from, _)) = app.client(&request.client_id) else {
        return refuse(format!(
            "client_id {:?} is not configured",
            request.client_id
        ));
    };
    let from = from.id.as_str().to_owned();
    if app.config.team(&request.to_team).is_none() {
        return refuse(format!(
            "to_team {:?} is not a configured team (it needs a key to sign client secrets)",
            request.to_team
        ));
    }
    if request.to_team == from {
        return refuse(format!("the app already belongs to {from}"));
    }
    let now = app.now().secs();
    let at = request.at.unwrap_or(now);
    if at > now {
        return refuse(format!("at {at} is in the future (it is now {now})"));
    }
    let mut inner = app.store.lock();
    let users: BTreeSet<String> = inner
        .durable
        .authorized
        .iter()
        .filter(|(_, client)| *client == request.client_id)
        .map(|(user, _)| user.clone())
        .collect();
    let moved = users.len();
    inner.durable.transfers.push(Transfer {
        client_id: request.client_id.clone(),
        from_team: from.clone(),
        to_team: request.to_team.clone(),
        at,
        users,
    });
    app.store.save(&inner);
    tracing::info!(client = %request.client_id, %from, to = %request.to_team, users = moved, "app transferred");
    Json(json!({"client_id": request.client_id, "from_team": from, "to_team": request.to_team, "users": moved, "at": at}))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_subs_are_stable_and_differ_by_teams_and_user() {
        let t = transfer_sub("AAAAAAAAAA", "BBBBBBBBBB", "alice");
        assert_eq!(t, transfer_sub("AAAAAAAAAA", "BBBBBBBBBB", "alice"));
        assert_ne!(t, transfer_sub("AAAAAAAAAA", "CCCCCCCCCC", "alice"));
        assert_ne!(t, transfer_sub("AAAAAAAAAA", "BBBBBBBBBB", "bob"));
        assert_ne!(t, subject("AAAAAAAAAA", "alice"));
        assert_ne!(t, subject("BBBBBBBBBB", "alice"));
    }
}
