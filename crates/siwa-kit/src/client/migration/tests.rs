use super::*;
use crate::client::tests::{answering, assert_form, mock, response, run, secret, WEB};
use crate::client::{AppleClient, AppleErrorCode, Endpoints, Operation};

const TOKEN: &str = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e.0.mtmig.AAAAAAAAAAAAAAAAAAAAAA";
const SUB: &str = "001234.0123456789abcdef0123456789abcdef.0123";
const TRANSFER_SUB: &str = "004321.fedcba9876543210fedcba9876543210.3210";

fn client(http: std::sync::Arc<dyn crate::http::HttpClient>) -> AppleClient {
    client_signed(http, secret(WEB))
}

fn client_signed(
    http: std::sync::Arc<dyn crate::http::HttpClient>,
    secret: crate::secret::ClientSecret,
) -> AppleClient {
    AppleClient::new(client_id(), secret, http)
}

fn client_id() -> crate::ids::ClientId {
    crate::ids::ClientId::new(WEB).unwrap()
}

fn token() -> AccessToken {
    AccessToken::new(TOKEN)
}

#[test]
fn the_access_token_is_the_client_credentials_grant_with_the_migration_scope() {
    let signed = secret(WEB);
    let secret = signed.secret().to_owned();
    let http = mock(move |request| {
        assert_form(
            &request,
            "https://appleid.apple.com/auth/token",
            &[
                ("client_id", WEB),
                ("client_secret", &secret),
                ("grant_type", "client_credentials"),
                ("scope", "user.migration"),
            ],
        );
        Ok(response(
            200,
            &format!(r#"{{"access_token":"{TOKEN}","token_type":"Bearer","expires_in":3600}}"#),
        ))
    });
    let token = run(client_signed(http, signed).migration_token()).unwrap();
    assert_eq!(token.secret(), TOKEN);
}

#[test]
fn the_sending_team_turns_a_sub_into_a_transfer_sub() {
    let signed = secret(WEB);
    let secret = signed.secret().to_owned();
    let http = mock(move |request| {
        assert_eq!(
            request.headers().get("authorization").unwrap(),
            &format!("Bearer {TOKEN}")
        );
        assert_form(
            &request,
            "https://appleid.apple.com/auth/usermigrationinfo",
            &[
                ("client_id", WEB),
                ("client_secret", &secret),
                ("sub", SUB),
                ("target", "RECEIVER01"),
            ],
        );
        Ok(response(
            200,
            &format!(r#"{{"transfer_sub":"{TRANSFER_SUB}"}}"#),
        ))
    });
    let target = TeamId::new("RECEIVER01").unwrap();
    let transfer_sub =
        run(client_signed(http, signed).transfer_sub(&token(), SUB, &target)).unwrap();
    assert_eq!(transfer_sub, TRANSFER_SUB);
}

#[test]
fn the_receiving_team_turns_a_transfer_sub_into_its_sub() {
    let signed = secret(WEB);
    let secret = signed.secret().to_owned();
    let http = mock(move |request| {
        assert_form(
            &request,
            "https://appleid.apple.com/auth/usermigrationinfo",
            &[
                ("client_id", WEB),
                ("client_secret", &secret),
                ("transfer_sub", TRANSFER_SUB),
            ],
        );
        Ok(response(
            200,
            r#"{"sub":"000999.0000.0999","email":"x1@privaterelay.appleid.com","is_private_email":"true"}"#,
        ))
    });
    let user = run(client_signed(http, signed).migrated_user(&token(), TRANSFER_SUB)).unwrap();
    assert_eq!(user.sub, "000999.0000.0999");
    assert_eq!(user.email.as_deref(), Some("x1@privaterelay.appleid.com"));
    assert!(user.is_private_email, "a string flag, as Apple writes them");
    // A user with a real email: Apple sends only the sub.
    let user = run(client(answering(200, r#"{"sub":"000999.0000.0999"}"#))
        .migrated_user(&token(), TRANSFER_SUB))
    .unwrap();
    assert_eq!((user.email, user.is_private_email), (None, false));
}

#[test]
fn refusals_are_typed_with_a_hint_for_team_transfer() {
    let refused = |body: &'static str| {
        run(client(answering(400, body)).migrated_user(&token(), TRANSFER_SUB)).unwrap_err()
    };
    let expired = refused(r#"{"error":"invalid_grant"}"#);
    assert_eq!(expired.apple_code(), Some(&AppleErrorCode::InvalidGrant));
    assert!(expired.hint().contains("60-day"), "{}", expired.hint());
    let wrong_team = refused(r#"{"error":"invalid_client"}"#);
    assert!(
        wrong_team.hint().contains("receiving team"),
        "{}",
        wrong_team.hint()
    );
    let own_team = run(
        client(answering(400, r#"{"error":"invalid_request"}"#)).transfer_sub(
            &token(),
            SUB,
            &TeamId::new("DEF123GHIJ").unwrap(),
        ),
    )
    .unwrap_err();
    assert!(
        own_team.hint().contains("not your own"),
        "{}",
        own_team.hint()
    );
    let token_refused =
        run(client(answering(400, r#"{"error":"invalid_client"}"#)).migration_token()).unwrap_err();
    assert!(matches!(
        token_refused,
        ClientError::Apple {
            operation: Operation::MigrationToken,
            ..
        }
    ));
    // Not Apple's shape: unexpected, never a panic, no token echoed.
    let odd = run(client(answering(200, r#"{"transfer":"x"}"#)).transfer_sub(
        &token(),
        SUB,
        &TeamId::new("RECEIVER01").unwrap(),
    ))
    .unwrap_err();
    assert!(matches!(odd, ClientError::Unexpected { .. }), "{odd:?}");
    let garbage = run(client(answering(200, "<html>")).migration_token()).unwrap_err();
    assert!(
        matches!(garbage, ClientError::Unexpected { .. }),
        "{garbage:?}"
    );
}

#[test]
fn endpoints_of_team_transfer() {
    let local =
        Endpoints::new("http://127.0.0.1:8081/", crate::client::Api::OrgDataSharing).unwrap();
    assert_eq!(
        local.migration_info_uri().to_string(),
        "http://127.0.0.1:8081/auth/usermigrationinfo"
    );
}
