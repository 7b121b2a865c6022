#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use siwa_kit::p8::PublicKey;

use super::{ConfigBuilder, TeamBuilder, UserBuilder};
use crate::config::{Config, ConfigError, RawConfig, APPLE_ISSUER};

const TEAM: &str = "DEF123GHIJ";
const KID: &str = "ABC123DEFG";
const WEB: &str = "com.example.web";
const REDIRECT: &str = "https://app.example.com/auth/apple/callback";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../siwa-kit/tests/fixtures")
}

/// One team with one key and one client, one user: the least the emulator takes.
fn minimal() -> ConfigBuilder {
    ConfigBuilder::new()
        .team(
            TeamBuilder::new(TEAM)
                .key_file(KID, "AuthKey_ABC123DEFG.pub.pem")
                .client(WEB, [REDIRECT]),
        )
        .user(UserBuilder::new("alice", "alice@example.com"))
}

/// The configuration both ways: read from the TOML the builder writes, and built in process.
fn both(builder: &ConfigBuilder) -> [Config; 2] {
    let toml = builder.to_toml();
    let read = Config::from_toml(&toml, &fixtures()).unwrap_or_else(|e| panic!("{e}:\n{toml}"));
    [read, builder.build(&fixtures()).unwrap()]
}

fn public_key_point(file: &str) -> Vec<u8> {
    let pem = std::fs::read_to_string(fixtures().join(file)).unwrap();
    PublicKey::from_pem(&pem).unwrap().point().to_vec()
}

#[test]
fn the_toml_reads_back_as_what_was_built() {
    let builder = minimal()
        .issuer("https://issuer.example")
        .notification_url("http://127.0.0.1:9/auth/apple/notifications")
        .notify_on_revoke(false)
        .boolean_email_claims(true)
        .team(
            TeamBuilder::new("OTHER12345")
                .key_file("ZZZ999YYYX", "AuthKey_ZZZ999YYYX.p8")
                .key_pem(
                    "PEM1234567",
                    std::fs::read_to_string(fixtures().join("AuthKey_ABC123DEFG.pub.pem")).unwrap(),
                )
                .client("com.other.web", [REDIRECT, "http://localhost:8080/cb"])
                .native_client("com.other.ios"),
        )
        .users([
            UserBuilder::new("bob", "bob@example.com")
                .name("Bob", "Builder")
                .real_user_status(1),
            UserBuilder::new("carol", "carol@example.com").real_user_status(0),
        ]);
    let toml = builder.to_toml();
    let read: RawConfig = toml::from_str(&toml).unwrap();
    assert_eq!(read, builder.raw, "{toml}");
    both(&builder);
}

#[test]
fn left_out_options_default_as_in_a_file() {
    let file = format!(
        r#"
[[team]]
id = "{TEAM}"
  [[team.key]]
  id = "{KID}"
  public_key = "AuthKey_ABC123DEFG.pub.pem"
  [[team.client]]
  id = "{WEB}"
  redirect_uris = ["{REDIRECT}"]
[[user]]
id = "alice"
email = "alice@example.com"
"#
    );
    let read: RawConfig = toml::from_str(&file).unwrap();
    assert_eq!(read, minimal().raw);
    for config in both(&minimal()) {
        assert_eq!(config.issuer, APPLE_ISSUER);
        assert_eq!(config.notification_url, None);
        assert!(config.notify_on_revoke);
        assert!(!config.boolean_email_claims);
    }
}

#[test]
fn sets_the_issuer() {
    for config in both(&minimal().issuer("https://issuer.example")) {
        assert_eq!(config.issuer, "https://issuer.example");
    }
}

#[test]
fn sets_the_notification_url() {
    let url = "http://127.0.0.1:8080/auth/apple/notifications";
    for config in both(&minimal().notification_url(url)) {
        assert_eq!(config.notification_url(), Some(url));
    }
}

#[test]
fn turns_notify_on_revoke_off() {
    for config in both(&minimal().notify_on_revoke(false)) {
        assert!(!config.notify_on_revoke);
    }
}

#[test]
fn turns_boolean_email_claims_on() {
    for config in both(&minimal().boolean_email_claims(true)) {
        assert!(config.boolean_email_claims);
    }
}

#[test]
fn key_file_is_read_relative_to_the_base() {
    for config in both(&minimal()) {
        let (kid, key) = &config.teams[0].keys[0];
        assert_eq!(kid.as_str(), KID);
        assert_eq!(key.point(), public_key_point("AuthKey_ABC123DEFG.pub.pem"));
    }
}

#[test]
fn key_pem_keeps_the_text_whole() {
    let pem = std::fs::read_to_string(fixtures().join("AuthKey_ZZZ999YYYX.p8")).unwrap();
    let builder = ConfigBuilder::new()
        .team(TeamBuilder::new(TEAM).key_pem("ZZZ999YYYX", pem))
        .user(UserBuilder::new("alice", "alice@example.com"));
    for config in both(&builder) {
        let (kid, key) = &config.teams[0].keys[0];
        assert_eq!(kid.as_str(), "ZZZ999YYYX");
        assert_eq!(key.point(), public_key_point("AuthKey_ZZZ999YYYX.p8"));
    }
}

#[test]
fn a_team_holds_several_keys_and_clients() {
    let builder = minimal().team(
        TeamBuilder::new("OTHER12345")
            .key_file("ZZZ999YYYX", "AuthKey_ZZZ999YYYX.p8")
            .key_file(KID, "AuthKey_ABC123DEFG.p8")
            .client("com.other.web", [REDIRECT])
            .native_client("com.other.ios"),
    );
    for config in both(&builder) {
        assert_eq!(config.teams.len(), 2);
        assert_eq!(config.teams[1].id.as_str(), "OTHER12345");
        assert_eq!(config.teams[1].keys.len(), 2);
        let (team, _) = config.client("com.other.ios").unwrap();
        assert_eq!(team.id.as_str(), "OTHER12345");
    }
}

#[test]
fn client_redirect_uris_in_order() {
    let uris = [REDIRECT, "http://localhost:8080/auth/apple/callback"];
    let builder = ConfigBuilder::new()
        .team(
            TeamBuilder::new(TEAM)
                .key_file(KID, "AuthKey_ABC123DEFG.pub.pem")
                .client(WEB, uris),
        )
        .user(UserBuilder::new("alice", "alice@example.com"));
    for config in both(&builder) {
        let (_, client) = config.client(WEB).unwrap();
        assert_eq!(client.redirect_uris, uris);
    }
}

#[test]
fn native_client_has_no_redirect_uri() {
    let builder = minimal().team(
        TeamBuilder::new("OTHER12345")
            .key_file("ZZZ999YYYX", "AuthKey_ZZZ999YYYX.p8")
            .native_client("com.example.ios"),
    );
    for config in both(&builder) {
        let (_, client) = config.client("com.example.ios").unwrap();
        assert!(client.redirect_uris.is_empty());
    }
}

#[test]
fn user_names_and_real_user_status() {
    let builder = minimal().user(
        UserBuilder::new("bob", "bob@example.com")
            .name("Bob \"the\" Builder", "O'Neil\\")
            .real_user_status(1),
    );
    for config in both(&builder) {
        let alice = config.user("alice").unwrap();
        assert_eq!((alice.first_name.as_str(), alice.real_user_status), ("", 2));
        let bob = config.user("bob").unwrap();
        assert_eq!(bob.email, "bob@example.com");
        assert_eq!(bob.first_name, "Bob \"the\" Builder");
        assert_eq!(bob.last_name, "O'Neil\\");
        assert_eq!(bob.real_user_status, 1);
    }
}

#[test]
fn alice_and_bob_are_the_demo_users() {
    for config in both(
        &ConfigBuilder::new()
            .team(TeamBuilder::new(TEAM).key_file(KID, "AuthKey_ABC123DEFG.pub.pem"))
            .user(UserBuilder::alice())
            .user(UserBuilder::bob()),
    ) {
        let users: Vec<_> = config
            .users
            .iter()
            .map(|u| {
                (
                    u.id.as_str(),
                    u.email.as_str(),
                    u.first_name.as_str(),
                    u.last_name.as_str(),
                    u.real_user_status,
                )
            })
            .collect();
        assert_eq!(
            users,
            [
                ("alice", "alice@example.com", "Alice", "Appleseed", 2),
                ("bob", "bob@example.com", "Bob", "Builder", 1),
            ]
        );
    }
}

#[test]
fn users_keep_their_order() {
    let builder = minimal()
        .users((0..3).map(|i| UserBuilder::new(format!("u{i}"), format!("u{i}@example.com"))));
    for config in both(&builder) {
        let ids: Vec<&str> = config.users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["alice", "u0", "u1", "u2"]);
    }
}

#[test]
fn build_refuses_what_the_file_refuses() {
    let refusals = [
        ConfigBuilder::new().user(UserBuilder::new("alice", "alice@example.com")),
        minimal().team(TeamBuilder::new("not a team")),
        minimal().user(UserBuilder::new("alice", "again@example.com")),
        minimal().user(UserBuilder::new("bob", "bob@example.com").real_user_status(3)),
    ];
    for builder in refusals {
        let read = Config::from_toml(&builder.to_toml(), &fixtures()).unwrap_err();
        let built = builder.build(&fixtures()).unwrap_err();
        assert!(matches!(built, ConfigError::Invalid(_)), "{built}");
        assert_eq!(read.to_string(), built.to_string());
    }
}
