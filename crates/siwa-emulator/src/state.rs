//! What the emulator remembers: codes (memory only, 5 minutes), refresh and
//! access tokens, which users already authorized which client (so `user` is
//! sent once), and revocations. With `--state FILE` the durable part is
//! written after every change, so a restart keeps users and refresh tokens.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// How long an authorization code lives (Apple: five minutes).
pub(crate) const CODE_TTL_SECS: u64 = 300;
/// How long an access token lives (Apple's `expires_in`).
pub(crate) const ACCESS_TTL_SECS: u64 = 3600;
/// Expired codes and access tokens are forgotten at most this often (see
/// [`Inner::sweep_expired`]).
const SWEEP_SECS: u64 = 10;

/// Who authorized what, as carried by codes and refresh tokens.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) team_id: String,
    pub(crate) user_id: String,
    /// The scope granted (`name`, `email`).
    pub(crate) scope: Vec<String>,
    /// The user hid the email: the relay address is shared instead.
    pub(crate) hide_email: bool,
    pub(crate) nonce: Option<String>,
    pub(crate) auth_time: u64,
    /// Native sign-ins carry real_user_status.
    pub(crate) native: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct CodeGrant {
    pub(crate) grant: Grant,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) expires_at: u64,
    pub(crate) used: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct RefreshGrant {
    pub(crate) grant: Grant,
    pub(crate) revoked: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct AccessGrant {
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) revoked: bool,
    /// When it stops being a token (issued plus [`ACCESS_TTL_SECS`]).
    pub(crate) expires_at: u64,
}

/// One entry of `GET /emulator/revocations`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct Revocation {
    pub(crate) token: String,
    pub(crate) token_type: String,
    pub(crate) client_id: String,
    pub(crate) user: String,
    pub(crate) revoked_at: u64,
}

/// An app moved to another team.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct Transfer {
    pub(crate) client_id: String,
    pub(crate) from_team: String,
    pub(crate) to_team: String,
    /// When, by the emulator's clock.
    pub(crate) at: u64,
    /// The users who had authorized the app under the sending team.
    pub(crate) users: BTreeSet<String>,
}

/// A `user.migration` access token (team transfer).
#[derive(Clone, Debug)]
pub(crate) struct MigrationGrant {
    pub(crate) client_id: String,
    /// The team it was issued to: only that team may use it.
    pub(crate) team_id: String,
    pub(crate) expires_at: u64,
}

/// The part of the state that `--state` keeps across restarts.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct Durable {
    /// (user, client) pairs that already authorized: `user` JSON is not sent again.
    pub(crate) authorized: BTreeSet<(String, String)>,
    /// (user, client) pairs whose authorization hid the email (a relay address is shared).
    #[serde(default)]
    pub(crate) hidden_email: BTreeSet<(String, String)>,
    /// Apps moved to another team, oldest first.
    #[serde(default)]
    pub(crate) transfers: Vec<Transfer>,
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    pub(crate) revocations: Vec<Revocation>,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub(crate) durable: Durable,
    pub(crate) codes: HashMap<String, CodeGrant>,
    pub(crate) access_tokens: HashMap<String, AccessGrant>,
    pub(crate) migration_tokens: HashMap<String, MigrationGrant>,
    /// When [`Inner::sweep_expired`] last walked the codes and tokens.
    swept_at: u64,
}

impl Inner {
    /// Forgets the expired codes and access tokens (`user.migration` ones
    /// included), at most once per
    /// [`SWEEP_SECS`]: a sweep walks every one, so one per code issued made
    /// a burst of sign-ins quadratic (300,000 live codes after five minutes
    /// at 1,000 a second), and access tokens were never forgotten (a soak
    /// run's memory grew without bound). What expired but is still here is
    /// refused all the same.
    pub(crate) fn sweep_expired(&mut self, now: u64) {
        if now < self.swept_at.saturating_add(SWEEP_SECS) {
            return;
        }
        self.codes.retain(|_, c| c.expires_at > now);
        self.access_tokens.retain(|_, t| t.expires_at > now);
        self.migration_tokens.retain(|_, t| t.expires_at > now);
        self.swept_at = now;
    }
}

/// The state behind one lock: every critical section is short and never awaits.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    file: Option<PathBuf>,
}

impl Store {
    /// A store, loaded from `file` when it exists.
    pub(crate) fn open(file: Option<PathBuf>) -> Result<Self, std::io::Error> {
        let durable = match &file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)?;
                serde_json::from_str(&text).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: not an emulator state file: {e}", path.display()),
                    )
                })?
            }
            _ => Durable::default(),
        };
        Ok(Self {
            inner: Mutex::new(Inner {
                durable,
                ..Inner::default()
            }),
            file,
        })
    }

    /// Locks the state.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the durable part to the state file, if there is one
    /// (atomically: temp file + rename), readable by its owner only: it holds
    /// the refresh tokens the emulator issued.
    pub(crate) fn save(&self, inner: &Inner) {
        let Some(path) = &self.file else { return };
        let result = serde_json::to_vec(&inner.durable)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let tmp = path.with_extension("tmp");
                write_owner_only(&tmp, &bytes)?;
                std::fs::rename(&tmp, path)
            });
        if let Err(e) = result {
            tracing::error!(path = %path.display(), error = %e, "cannot write the emulator state file");
        }
    }
}

/// Writes `bytes` to a new (or truncated) file with mode 0600.
fn write_owner_only(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // A leftover temp file keeps its old mode through `mode()`: set it.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(expires_at: u64) -> CodeGrant {
        CodeGrant {
            grant: Grant {
                client_id: "com.example.web".into(),
                team_id: "TEAM".into(),
                user_id: "u1".into(),
                scope: Vec::new(),
                hide_email: false,
                nonce: None,
                auth_time: 0,
                native: false,
            },
            redirect_uri: None,
            expires_at,
            used: false,
        }
    }

    fn access(expires_at: u64) -> AccessGrant {
        AccessGrant {
            client_id: "com.example.web".into(),
            user_id: "u1".into(),
            revoked: false,
            expires_at,
        }
    }

    fn migration(expires_at: u64) -> MigrationGrant {
        MigrationGrant {
            client_id: "com.example.web".into(),
            team_id: "TEAM".into(),
            expires_at,
        }
    }

    #[test]
    fn expired_codes_and_access_tokens_are_swept_at_most_once_per_interval() {
        let mut inner = Inner::default();
        inner.codes.insert("old".into(), code(1_000));
        inner.codes.insert("live".into(), code(2_000));
        inner.access_tokens.insert("old".into(), access(1_000));
        inner.access_tokens.insert("live".into(), access(5_000));
        inner
            .migration_tokens
            .insert("old".into(), migration(1_000));
        inner
            .migration_tokens
            .insert("live".into(), migration(5_000));
        inner.sweep_expired(1_500);
        assert_eq!(inner.codes.len(), 1, "the expired code is forgotten");
        assert!(inner.codes.contains_key("live"));
        assert_eq!(inner.access_tokens.len(), 1, "the expired token too");
        assert!(inner.access_tokens.contains_key("live"));
        assert_eq!(inner.migration_tokens.len(), 1, "and the migration token");
        assert!(inner.migration_tokens.contains_key("live"));
        // Within the interval nothing is walked, even with a code expired.
        inner.codes.insert("stale".into(), code(1_501));
        inner.access_tokens.insert("stale".into(), access(1_501));
        inner.sweep_expired(1_500 + SWEEP_SECS - 1);
        assert!(inner.codes.contains_key("stale"));
        assert!(inner.access_tokens.contains_key("stale"));
        inner.sweep_expired(1_500 + SWEEP_SECS);
        assert!(!inner.codes.contains_key("stale"));
        assert!(!inner.access_tokens.contains_key("stale"));
        assert!(inner.codes.contains_key("live"));
        assert!(inner.access_tokens.contains_key("live"));
    }
}
