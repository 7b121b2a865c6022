//! Emulator configurations written in code, for tests, benches and `siwa demo`.
//!
//! The builders fill the [`RawConfig`] that [`Config::from_toml`] reads and
//! write it with the same serde names, so [`ConfigBuilder::to_toml`] is always
//! a file the emulator accepts and [`ConfigBuilder::build`] is the [`Config`]
//! that file gives.

use std::path::Path;

use crate::config::{
    likely_real, Config, ConfigError, RawClient, RawConfig, RawKey, RawTeam, RawUser,
};

/// An emulator configuration (DESIGN.md, "Emulator"), built in code.
///
/// Defaults, as in a TOML file that leaves the key out: Apple's issuer
/// ([`crate::APPLE_ISSUER`]), no `notification_url`, `notify_on_revoke` on,
/// `boolean_email_claims` off. Teams and users start empty; [`Self::build`]
/// refuses a configuration without either, as the emulator does.
///
/// ```
/// use siwa_emulator::{ConfigBuilder, TeamBuilder, UserBuilder};
///
/// let config = ConfigBuilder::new()
///     .notification_url("http://127.0.0.1:8080/auth/apple/notifications")
///     .team(
///         TeamBuilder::new("DEF123GHIJ")
///             .key_file("ABC123DEFG", "AuthKey_ABC123DEFG.pub.pem")
///             .client("com.example.web", ["http://127.0.0.1:8080/auth/apple/callback"])
///             .native_client("com.example.ios"),
///     )
///     .user(UserBuilder::new("carol", "carol@example.com").name("Carol", "Jones"))
///     .user(UserBuilder::alice());
/// // The file `siwa emulator --config` reads (key files relative to it) ...
/// let toml = config.to_toml();
/// assert!(toml.contains("[[team.client]]"));
/// // ... or, in process, `config.build(folder_of_the_key_files)` and `Emulator::new`.
/// ```
#[derive(Clone, Debug, Default)]
pub struct ConfigBuilder {
    raw: RawConfig,
}

impl ConfigBuilder {
    /// An empty configuration with the defaults above.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `iss` of the tokens the emulator signs.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.raw.issuer = issuer.into();
        self
    }

    /// Where `/emulator/notify` (and a revocation) sends server-to-server events.
    pub fn notification_url(mut self, url: impl Into<String>) -> Self {
        self.raw.notification_url = Some(url.into());
        self
    }

    /// Whether a revocation at `/auth/revoke` sends a consent-revoked event, as Apple does.
    pub fn notify_on_revoke(mut self, notify: bool) -> Self {
        self.raw.notify_on_revoke = notify;
        self
    }

    /// Whether `email_verified` and `is_private_email` are JSON booleans
    /// (Apple's 2024 tokens) rather than the strings of 2019-2023.
    pub fn boolean_email_claims(mut self, booleans: bool) -> Self {
        self.raw.boolean_email_claims = booleans;
        self
    }

    /// Adds a team (`[[team]]`).
    pub fn team(mut self, team: TeamBuilder) -> Self {
        self.raw.teams.push(team.raw);
        self
    }

    /// Adds a test user (`[[user]]`).
    pub fn user(self, user: UserBuilder) -> Self {
        self.users([user])
    }

    /// Adds test users, in order.
    pub fn users(mut self, users: impl IntoIterator<Item = UserBuilder>) -> Self {
        self.raw
            .users
            .extend(users.into_iter().map(|user| user.raw));
        self
    }

    /// The TOML text, for a process that reads `siwa emulator --config FILE`;
    /// key files are then read relative to that file.
    pub fn to_toml(&self) -> String {
        // Every value is a string, a bool, an integer or an array of them, and
        // absent options are skipped: nothing TOML cannot write.
        #[allow(clippy::expect_used)]
        toml::to_string(&self.raw).expect("an emulator configuration is plain TOML")
    }

    /// The validated configuration, as [`Config::from_toml`] gives it for
    /// [`Self::to_toml`]; key files are read relative to `base`.
    pub fn build(&self, base: &Path) -> Result<Config, ConfigError> {
        Config::from_raw(self.raw.clone(), base)
    }
}

/// A team (`[[team]]`): its keys and its clients.
#[derive(Clone, Debug)]
pub struct TeamBuilder {
    raw: RawTeam,
}

impl TeamBuilder {
    /// A team with its Team ID, no keys and no clients yet.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            raw: RawTeam {
                id: id.into(),
                keys: Vec::new(),
                clients: Vec::new(),
            },
        }
    }

    /// Adds a key read from a PEM file (the public key or the .p8 itself),
    /// relative to the configuration file or to the `base` of [`ConfigBuilder::build`].
    pub fn key_file(mut self, key_id: impl Into<String>, path: impl Into<String>) -> Self {
        self.raw.keys.push(RawKey {
            id: key_id.into(),
            public_key: Some(path.into()),
            public_key_pem: None,
        });
        self
    }

    /// Adds a key given as PEM text (the public key or the .p8 itself).
    pub fn key_pem(mut self, key_id: impl Into<String>, pem: impl Into<String>) -> Self {
        self.raw.keys.push(RawKey {
            id: key_id.into(),
            public_key: None,
            public_key_pem: Some(pem.into()),
        });
        self
    }

    /// Adds a web client (a Services ID) with its registered redirect URIs.
    pub fn client<U: Into<String>>(
        mut self,
        client_id: impl Into<String>,
        redirect_uris: impl IntoIterator<Item = U>,
    ) -> Self {
        self.raw.clients.push(RawClient {
            id: client_id.into(),
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Adds a native app (a bundle ID): a client without redirect URIs.
    pub fn native_client(self, bundle_id: impl Into<String>) -> Self {
        self.client(bundle_id, Vec::<String>::new())
    }
}

/// A test user (`[[user]]`).
#[derive(Clone, Debug)]
pub struct UserBuilder {
    raw: RawUser,
}

impl UserBuilder {
    /// A user with the emulator's handle (`sub` is derived from it per team)
    /// and a real email; no name, and `real_user_status` 2 (LikelyReal).
    pub fn new(id: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            raw: RawUser {
                id: id.into(),
                email: email.into(),
                first_name: String::new(),
                last_name: String::new(),
                real_user_status: likely_real(),
            },
        }
    }

    /// Alice Appleseed (alice@example.com, LikelyReal): the first test user
    /// of `siwa demo` and of the tests.
    pub fn alice() -> Self {
        Self::new("alice", "alice@example.com").name("Alice", "Appleseed")
    }

    /// Bob Builder (bob@example.com, real_user_status 1, Unknown): the second.
    pub fn bob() -> Self {
        Self::new("bob", "bob@example.com")
            .name("Bob", "Builder")
            .real_user_status(1)
    }

    /// The given and family names Apple shares on a first authorization.
    pub fn name(mut self, first: impl Into<String>, last: impl Into<String>) -> Self {
        self.raw.first_name = first.into();
        self.raw.last_name = last.into();
        self
    }

    /// 0 Unsupported, 1 Unknown, 2 LikelyReal.
    pub fn real_user_status(mut self, status: u8) -> Self {
        self.raw.real_user_status = status;
        self
    }
}

#[cfg(test)]
mod tests;
