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

/// `siwa serve --print-openapi`: the document of every route, the OpenID
/// Provider's too, with no configuration (scripts/interop/openapi_schemathesis.py
/// validates it and checks a running service against it).
#[test]
fn print_openapi_is_the_document_of_every_route() {
    let run = siwa_with(&["serve", "--print-openapi"], &[], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    for route in [
        "/auth/apple/login",
        "/auth/apple/callback",
        "/auth/apple/native",
        "/me",
        "/openapi.json",
        "/docs",
        "/.well-known/openid-configuration",
        "/oauth2/authorize",
        "/oauth2/authorize/resume",
        "/oauth2/token",
        "/oauth2/userinfo",
        "/oauth2/revoke",
        "/oauth2/logout",
    ] {
        assert!(paths.contains_key(route), "{route}");
    }
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    let errors = &document["components"]["schemas"];
    assert!(errors["Error"]["properties"]["request_id"].is_object());
    assert!(errors["OAuthError"]["properties"]["error_description"].is_object());
}
