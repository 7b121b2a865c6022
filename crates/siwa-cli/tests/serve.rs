//! `siwa serve --print-new-keys`: what it prints configures a deployment.

use siwa_server::{RawSettings, Settings};

use crate::cli::{fixture, siwa_with, CLIENT, TEAM};

#[test]
fn printed_keys_configure_a_postgres_deployment_with_the_provider() {
    let run = siwa_with(&["serve", "--print-new-keys"], &[], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("session_key") && run.stdout.contains("[oidc]"),
        "{}",
        run.stdout
    );
    // The printed TOML, as an operator pastes it under their settings.
    let config = format!(
        "team_id = \"{TEAM}\"\nkey_id = \"ABC123DEFG\"\nprivate_key = \"{}\"\nclient_id = \"{CLIENT}\"\n\
         redirect_uri = \"https://login.example.com/auth/apple/callback\"\n\
         public_url = \"https://login.example.com\"\ndatabase_url = \"postgres://siwa@db.invalid/siwa\"\n\
         {}\n[[oidc.client]]\nid = \"wiki\"\nredirect_uris = [\"https://wiki.example.com/cb\"]\n",
        fixture("AuthKey_ABC123DEFG.p8").display(),
        run.stdout
    );
    let settings = Settings::load(RawSettings::from_toml(&config).unwrap())
        .expect("PostgreSQL settings with the printed keys");
    assert!(settings.oidc.is_some());
    // Two runs print different keys.
    let again = siwa_with(&["serve", "--print-new-keys"], &[], None);
    assert_ne!(again.stdout, run.stdout);
}
