//! The emulator's TOML configuration (DESIGN.md, "Emulator"): teams with their
//! keys and clients, and test users.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::p8::PublicKey;
use thiserror::Error;

/// Apple's issuer, the default `iss` of the tokens the emulator signs.
pub const APPLE_ISSUER: &str = "https://appleid.apple.com";

/// Why a configuration was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, or fields of the wrong type or unknown.
    #[error("invalid emulator config: {0}")]
    Toml(String),
    /// A value that parses but is wrong.
    #[error("invalid emulator config: {0}")]
    Invalid(String),
}

/// The configuration as written in TOML; a key left out takes its value from
/// [`RawConfig::default`].
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    /// The `iss` of signed tokens (default: [`APPLE_ISSUER`]).
    pub issuer: String,
    /// Where server-to-server notifications go (default: nowhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<String>,
    /// Send a consent-revoked notification when a token is revoked at
    /// /auth/revoke, as Apple does (default: true).
    pub notify_on_revoke: bool,
    /// Write `email_verified` / `is_private_email` as JSON booleans (Apple's 2024 tokens)
    /// instead of the strings "true"/"false" (2019-2023 tokens) (default: false).
    pub boolean_email_claims: bool,
    /// Teams.
    #[serde(rename = "team")]
    pub teams: Vec<RawTeam>,
    /// Test users.
    #[serde(rename = "user")]
    pub users: Vec<RawUser>,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            issuer: APPLE_ISSUER.to_owned(),
            notification_url: None,
            notify_on_revoke: true,
            boolean_email_claims: false,
            teams: Vec::new(),
            users: Vec::new(),
        }
    }
}

/// A `[[team]]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeam {
    /// Team ID.
    pub id: String,
    /// Its keys (`[[team.key]]`).
    #[serde(default, rename = "key")]
    pub keys: Vec<RawKey>,
    /// Its clients (`[[team.client]]`).
    #[serde(default, rename = "client")]
    pub clients: Vec<RawClient>,
}

/// A `[[team.key]]`: the public half of a team's .p8 (or the .p8 itself).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// Key ID.
    pub id: String,
    /// A PEM file (public key, or the .p8), relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The PEM text itself, instead of a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_pem: Option<String>,
}

/// A `[[team.client]]`: a Services ID or a bundle ID.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// The client id.
    pub id: String,
    /// Registered redirect URIs (exact match); empty for a native app.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

/// A `[[user]]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    /// The emulator's handle; `sub` is derived from it per team.
    pub id: String,
    /// The user's real email.
    pub email: String,
    /// Given name.
    #[serde(default)]
    pub first_name: String,
    /// Family name.
    #[serde(default)]
    pub last_name: String,
    /// 0 Unsupported, 1 Unknown, 2 LikelyReal (default: 2).
    #[serde(default = "likely_real")]
    pub real_user_status: u8,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) issuer: String,
    pub(crate) notification_url: Option<String>,
    pub(crate) notify_on_revoke: bool,
    pub(crate) boolean_email_claims: bool,
    pub(crate) teams: Vec<Team>,
    pub(crate) users: Vec<RawUser>,
    /// Client id -> (team index, client index).
    pub(crate) client_index: HashMap<String, (usize, usize)>,
}

#[derive(Clone, Debug)]
pub(crate) struct Team {
    pub(crate) id: TeamId,
    pub(crate) keys: Vec<(KeyId, PublicKey)>,
    pub(crate) clients: Vec<Client>,
}

#[derive(Clone, Debug)]
pub(crate) struct Client {
    pub(crate) redirect_uris: Vec<String>,
}

impl Config {
    /// Reads and validates a TOML file; relative key paths are read beside it.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, base)
    }

    /// Parses and validates TOML text; relative key paths are read from `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        Self::from_raw(raw, base)
    }

    /// Validates a parsed configuration.
    pub fn from_raw(raw: RawConfig, base: &Path) -> Result<Self, ConfigError> {
        let invalid = |msg: String| ConfigError::Invalid(msg);
        if raw.teams.is_empty() {
            return Err(invalid(
                "no [[team]]: add a team with its key and client".into(),
            ));
        }
        let mut teams = Vec::new();
        let mut client_index = HashMap::new();
        for (ti, team) in raw.teams.iter().enumerate() {
            let id = TeamId::new(&team.id).map_err(|e| invalid(format!("team: {e}")))?;
            let mut keys = Vec::new();
            for key in &team.keys {
                let kid =
                    KeyId::new(&key.id).map_err(|e| invalid(format!("team {id} key: {e}")))?;
                let pem = match (&key.public_key, &key.public_key_pem) {
                    (Some(file), None) => {
                        let path = base.join(file);
                        std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path, source })?
                    }
                    (None, Some(pem)) => pem.clone(),
                    _ => {
                        return Err(invalid(format!(
                            "team {id} key {kid}: give exactly one of public_key (a file) or public_key_pem"
                        )))
                    }
                };
                let public = PublicKey::from_pem(&pem)
                    .map_err(|e| invalid(format!("team {id} key {kid}: {e}")))?;
                keys.push((kid, public));
            }
            if keys.is_empty() {
                return Err(invalid(format!("team {id} has no [[team.key]]")));
            }
            let mut clients = Vec::new();
            for (ci, client) in team.clients.iter().enumerate() {
                let cid =
                    ClientId::new(&client.id).map_err(|e| invalid(format!("team {id}: {e}")))?;
                if client_index.insert(client.id.clone(), (ti, ci)).is_some() {
                    return Err(invalid(format!("client {cid} is configured twice")));
                }
                clients.push(Client {
                    redirect_uris: client.redirect_uris.clone(),
                });
            }
            teams.push(Team { id, keys, clients });
        }
        let mut seen = std::collections::HashSet::new();
        for user in &raw.users {
            if user.id.is_empty() || !seen.insert(user.id.as_str()) {
                return Err(invalid(format!(
                    "user id {:?} is empty or repeated",
                    user.id
                )));
            }
            if user.real_user_status > 2 {
                return Err(invalid(format!(
                    "user {}: real_user_status is 0, 1 or 2",
                    user.id
                )));
            }
        }
        if raw.users.is_empty() {
            return Err(invalid("no [[user]]: add at least one test user".into()));
        }
        Ok(Self {
            issuer: raw.issuer,
            notification_url: raw.notification_url,
            notify_on_revoke: raw.notify_on_revoke,
            boolean_email_claims: raw.boolean_email_claims,
            teams,
            users: raw.users,
            client_index,
        })
    }

    /// The team and client for a client id.
    pub(crate) fn client(&self, client_id: &str) -> Option<(&Team, &Client)> {
        let &(ti, ci) = self.client_index.get(client_id)?;
        let team = self.teams.get(ti)?;
        Some((team, team.clients.get(ci)?))
    }

    /// A configured team.
    pub(crate) fn team(&self, id: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.id.as_str() == id)
    }

    /// A test user by handle.
    pub(crate) fn user(&self, id: &str) -> Option<&RawUser> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Where notifications go, if configured.
    pub fn notification_url(&self) -> Option<&str> {
        self.notification_url.as_deref()
    }

    /// Sets where notifications go (tests learn the receiver's port late).
    pub fn set_notification_url(&mut self, url: Option<String>) {
        self.notification_url = url;
    }
}

pub(crate) fn likely_real() -> u8 {
    2
}
