//! Moving the service's users to another Apple developer team (what `siwa
//! migrate` runs), on the service's own database:
//!
//! - [`Migration::export`], run by the sending team before the transfer: for
//!   every Apple identity of the team, its `transfer_sub` for the receiving
//!   team, kept beside the identity;
//! - [`Migration::import`], run by the receiving team after it (the settings
//!   now name that team, its key and secret): for every kept `transfer_sub`,
//!   the receiving team's `sub`, and the identity relinked to it, keeping the
//!   user (id, name, email, sessions).
//!
//! Both are resumable (each identity is written as soon as it is done, and a
//! second run skips what is done, so a kill loses nothing), paced (at most
//! `per_second` calls to Apple), and retry Apple's 429 and 5xx answers and
//! lost connections with growing waits before counting an identity failed.
//! Users who sign in between the transfer and the import are relinked at once
//! by the sign-in (see `store::sign_in`).

use std::sync::Arc;
use std::time::Duration;

use siwa_kit::client::{AppleClient, AppleErrorCode, ClientError};
use siwa_kit::ids::TeamId;

use crate::store::{Relink, Store, StoreError, TransferProgress};

/// Identities read from the store at a time.
const PAGE: i64 = 200;

/// How fast, and how patiently, to call Apple.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Calls to Apple per second at most.
    pub per_second: u32,
    /// Attempts of one call before its identity counts as failed.
    pub attempts: u32,
    /// The first wait after a refused (429) or failed (5xx) call; it doubles.
    pub first_backoff: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            per_second: 20,
            attempts: 6,
            first_backoff: Duration::from_millis(500),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Summary {
    /// Identities concerned.
    pub total: u64,
    /// Done by this run.
    pub done: u64,
    /// Found done already (an earlier run, or a sign-in).
    pub skipped: u64,
    /// Identities that could not be done, with why.
    pub failed: Vec<Failed>,
}

impl Summary {
    /// A run's summary before its first call: what the store says is there
    /// and done (told to `progress` too).
    fn started(known: &TransferProgress, progress: &mut dyn Progress) -> Self {
        let summary = Self {
            total: count(known.total),
            skipped: count(known.done),
            ..Self::default()
        };
        progress.start(summary.total, summary.skipped);
        summary
    }
}

/// An identity the run could not do.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Failed {
    /// The identity: its `sub` (export) or `transfer_sub` (import).
    pub identity: String,
    /// Why, with what to do.
    pub reason: String,
}

/// Why a run stopped before its end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// The target is the team the settings name.
    #[error("the target team {0} is the sending team itself: name the team the app moves to")]
    SameTeam(String),
    /// Apple refused the client itself (wrong team's key, expired secret).
    #[error("Apple refused the client: {source} ({})", source.hint())]
    Client {
        /// Apple's answer.
        #[source]
        source: ClientError,
    },
    /// The store failed.
    #[error("the database: {0}")]
    Store(#[from] StoreError),
}

/// Told how a run goes (a progress bar, a log).
pub trait Progress: Send {
    /// The run starts: identities in all, and those already done.
    fn start(&mut self, total: u64, already_done: u64);
    /// One more identity is done, or failed.
    fn advance(&mut self, failed: Option<&Failed>);
}

/// Nothing to report to.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn start(&mut self, _: u64, _: u64) {}
    fn advance(&mut self, _: Option<&Failed>) {}
}

/// A team transfer of one app on the service's database.
#[derive(Clone)]
pub struct Migration {
    store: Arc<dyn Store>,
    apple: AppleClient,
    team: TeamId,
    pace: Pace,
}

impl std::fmt::Debug for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migration")
            .field("apple", &self.apple)
            .field("team", &self.team)
            .field("pace", &self.pace)
            .finish_non_exhaustive()
    }
}

impl Migration {
    /// A migration of the app `apple` is the client of, whose settings name `team`.
    pub fn new(store: Arc<dyn Store>, apple: AppleClient, team: TeamId, pace: Pace) -> Self {
        Self {
            store,
            apple,
            team,
            pace,
        }
    }

    /// Before the transfer: each identity's `transfer_sub` for `target`.
    /// With `dry_run`, counts only.
    pub async fn export(
        &self,
        target: &TeamId,
        dry_run: bool,
        progress: &mut dyn Progress,
    ) -> Result<Summary, MigrationError> {
        if target == &self.team {
            return Err(MigrationError::SameTeam(target.to_string()));
        }
        let (team, target_id) = (self.team.as_str(), target.as_str());
        let known = self.store.export_progress(team, target_id).await?;
        let mut summary = Summary::started(&known, progress);
        if dry_run {
            return Ok(summary);
        }
        let mut token = self.token().await?;
        let mut cursor = String::new();
        loop {
            let page = self
                .store
                .identities_to_export(team, target_id, &cursor, PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            cursor.clone_from(last);
            for sub in page {
                self.pause().await;
                let answer = self
                    .patiently(&mut token, |apple, token| {
                        let sub = sub.clone();
                        async move { apple.transfer_sub(&token, &sub, target).await }
                    })
                    .await?;
                let failed = match answer {
                    Ok(transfer_sub) => {
                        self.store
                            .set_transfer_sub(team, &sub, target_id, &transfer_sub)
                            .await?;
                        summary.done += 1;
                        None
                    }
                    Err(reason) => Some(Failed {
                        identity: sub,
                        reason,
                    }),
                };
                progress.advance(failed.as_ref());
                summary.failed.extend(failed);
            }
        }
        Ok(summary)
    }

    /// After the transfer: each exported identity relinked to this team's `sub`.
    /// With `dry_run`, counts only.
    pub async fn import(
        &self,
        dry_run: bool,
        progress: &mut dyn Progress,
    ) -> Result<Summary, MigrationError> {
        let team = self.team.as_str();
        let known = self.store.import_progress(team).await?;
        let mut summary = Summary::started(&known, progress);
        if dry_run {
            return Ok(summary);
        }
        let mut token = self.token().await?;
        let mut cursor = String::new();
        loop {
            let page = self.store.identities_to_import(team, &cursor, PAGE).await?;
            let Some(last) = page.last() else { break };
            cursor.clone_from(&last.transfer_sub);
            for exported in page {
                self.pause().await;
                let transfer_sub = exported.transfer_sub.clone();
                let answer = self
                    .patiently(&mut token, |apple, token| {
                        let transfer_sub = transfer_sub.clone();
                        async move { apple.migrated_user(&token, &transfer_sub).await }
                    })
                    .await?;
                let failed = match answer {
                    Ok(user) => {
                        let relay = user.email.as_deref().filter(|_| user.is_private_email);
                        match self
                            .store
                            .relink_identity(&transfer_sub, team, &user.sub, relay)
                            .await?
                        {
                            Relink::Relinked { .. } => {
                                summary.done += 1;
                                None
                            }
                            Relink::Unknown => {
                                // Relinked meanwhile, by a sign-in carrying its transfer_sub.
                                summary.skipped += 1;
                                None
                            }
                            Relink::Taken { user_id } => Some(Failed {
                                identity: transfer_sub,
                                reason: format!(
                                    "the receiving team's sub already belongs to user {user_id}, who signed in without a transfer_sub; merge the two users by hand"
                                ),
                            }),
                        }
                    }
                    Err(reason) => Some(Failed {
                        identity: transfer_sub,
                        reason,
                    }),
                };
                progress.advance(failed.as_ref());
                summary.failed.extend(failed);
            }
        }
        Ok(summary)
    }

    async fn token(&self) -> Result<siwa_kit::client::AccessToken, MigrationError> {
        let mut wait = self.pace.first_backoff;
        let mut attempt = 1;
        loop {
            match self.apple.migration_token().await {
                Ok(token) => return Ok(token),
                Err(e) if retryable(&e) && attempt < self.pace.attempts => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
                Err(source) => return Err(MigrationError::Client { source }),
            }
        }
    }

    /// Calls Apple for one identity: retried with growing waits on 429, 5xx
    /// and lost connections; a new access token when Apple no longer takes
    /// ours. `Ok(Err(reason))`: this identity failed (Apple refused it, or
    /// kept failing); `Err`: the run must stop (Apple refuses the client).
    async fn patiently<T, F, Fut>(
        &self,
        token: &mut siwa_kit::client::AccessToken,
        call: F,
    ) -> Result<Result<T, String>, MigrationError>
    where
        F: Fn(AppleClient, siwa_kit::client::AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut wait = self.pace.first_backoff;
        let mut renewed = false;
        for attempt in 1..=self.pace.attempts {
            match call(self.apple.clone(), token.clone()).await {
                Ok(value) => return Ok(Ok(value)),
                Err(e) if retryable(&e) && attempt < self.pace.attempts => {
                    tracing::debug!(error = %e, attempt, "Apple asks to wait; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                // The access token expired (it lives an hour): one new token, once.
                Err(e) if e.apple_code() == Some(&AppleErrorCode::InvalidClient) && !renewed => {
                    *token = self.token().await?;
                    renewed = true;
                }
                Err(e) if e.apple_code() == Some(&AppleErrorCode::InvalidClient) => {
                    return Err(MigrationError::Client { source: e });
                }
                Err(e) => return Ok(Err(format!("{e}; {}", e.hint()))),
            }
        }
        Ok(Err(format!(
            "Apple kept failing after {} attempts",
            self.pace.attempts
        )))
    }

    /// Spaces calls to Apple by the pace.
    async fn pause(&self) {
        let per_second = self.pace.per_second.max(1);
        tokio::time::sleep(Duration::from_secs(1) / per_second).await;
    }
}

/// Answers worth another try: Apple's 429 and 5xx, no answer at all.
fn retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Http { .. } => true,
        _ => e.status().is_some_and(|s| s == 429 || s >= 500),
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
