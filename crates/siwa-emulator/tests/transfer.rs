//! Team transfer on the emulator: `/auth/usermigrationinfo` in both
//! directions, `/emulator/transfer`, and every refusal Apple makes.

use serde_json::json;
use siwa_kit::clock::UnixTime;
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::p8::SigningKey;
use siwa_kit::secret::ClientSecretBuilder;

use crate::support::{claims, fixtures, Apple, Reply, IOS, KID, TEAM};

/// The second configured team, which receives the app.
const RECEIVER: &str = "OTHER12345";
const RECEIVER_KID: &str = "ZZZ999YYYX";
const SIXTY_DAYS: u64 = 60 * 86_400;

impl Apple {
    /// A client secret for `client_id` signed by `team`'s key.
    fn secret_of(&self, team: &str, client_id: &str) -> String {
        let (kid, file) = if team == TEAM {
            (KID, "AuthKey_ABC123DEFG.p8")
        } else {
            (RECEIVER_KID, "AuthKey_ZZZ999YYYX.p8")
        };
        let key =
            SigningKey::from_pem(&std::fs::read_to_string(fixtures().join(file)).unwrap()).unwrap();
        ClientSecretBuilder::new(
            TeamId::new(team).unwrap(),
            KeyId::new(kid).unwrap(),
            ClientId::new(client_id).unwrap(),
        )
        .sign(&key, UnixTime::from_secs(self.now()))
        .unwrap()
        .secret()
        .to_owned()
    }

    /// `team`'s `user.migration` access token for the app.
    async fn migration_token(&self, team: &str) -> Reply {
        let secret = self.secret_of(team, IOS);
        self.post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "user.migration"),
                ("client_id", IOS),
                ("client_secret", &secret),
            ],
        )
        .await
    }

    async fn migration_info(&self, team: &str, token: &str, fields: &[(&str, &str)]) -> Reply {
        let secret = self.secret_of(team, IOS);
        let mut form = vec![("client_id", IOS), ("client_secret", secret.as_str())];
        form.extend_from_slice(fields);
        let response = self
            .http
            .post(self.url("/auth/usermigrationinfo"))
            .bearer_auth(token)
            .form(&form)
            .send()
            .await
            .unwrap();
        Reply::read(response).await
    }

    /// A native sign-in: the identity token's claims.
    async fn native_claims(&self, user: &str, consent: &str) -> serde_json::Value {
        let credential: serde_json::Value = self
            .http
            .post(self.url("/emulator/native"))
            .json(&json!({"client_id": IOS, "user": user, "consent": consent}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        claims(credential["identity_token"].as_str().unwrap())
    }

    async fn transfer(&self, to_team: &str) -> u16 {
        self.http
            .post(self.url("/emulator/transfer"))
            .json(&json!({"client_id": IOS, "to_team": to_team}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

#[tokio::test]
async fn users_move_to_the_receiving_team_within_the_window() {
    let apple = Apple::start().await;
    let alice = apple.native_claims("alice", "share").await;
    let bob = apple.native_claims("bob", "hide").await;

    // The sending team, before the transfer: a transfer_sub per user.
    let token = apple.migration_token(TEAM).await;
    assert_eq!(token.status, 200, "{token:?}");
    assert_eq!(token.json()["token_type"], "Bearer");
    let token = token.json()["access_token"].as_str().unwrap().to_owned();
    let mut transfer_subs = Vec::new();
    for who in [&alice, &bob] {
        let reply = apple
            .migration_info(
                TEAM,
                &token,
                &[("sub", who["sub"].as_str().unwrap()), ("target", RECEIVER)],
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        transfer_subs.push(reply.json()["transfer_sub"].as_str().unwrap().to_owned());
    }
    assert_ne!(transfer_subs[0], transfer_subs[1]);

    // The app moves; its tokens now carry the receiving team's subjects and the transfer_sub.
    assert_eq!(apple.transfer(RECEIVER).await, 200);
    let alice_after = apple.native_claims("alice", "share").await;
    assert_ne!(alice_after["sub"], alice["sub"], "subs are per team");
    assert_eq!(alice_after["transfer_sub"], transfer_subs[0].as_str());
    assert_eq!(
        apple.native_claims("alice", "share").await["sub"],
        alice_after["sub"],
        "stable within a team"
    );

    // The sending team's secrets are refused for the app now.
    apple
        .migration_token(TEAM)
        .await
        .assert_error("invalid_client");

    // The receiving team: transfer_sub -> its sub (and the relay email, for bob).
    let token = apple.migration_token(RECEIVER).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = apple
        .migration_info(RECEIVER, &token, &[("transfer_sub", &transfer_subs[0])])
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["sub"], alice_after["sub"]);
    assert!(
        reply.json().get("email").is_none(),
        "a real email is not sent: {reply:?}"
    );
    let reply = apple
        .migration_info(RECEIVER, &token, &[("transfer_sub", &transfer_subs[1])])
        .await;
    let bob_after = reply.json();
    assert!(bob_after["email"]
        .as_str()
        .unwrap()
        .ends_with("@privaterelay.appleid.com"));
    assert_eq!(bob_after["is_private_email"], true);
    assert_ne!(
        bob_after["email"], bob["email"],
        "relay addresses are per team"
    );

    // Past the 60 days: refused, and tokens no longer carry the transfer_sub.
    apple.clock.advance(SIXTY_DAYS);
    let token = apple.migration_token(RECEIVER).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = apple
        .migration_info(RECEIVER, &token, &[("transfer_sub", &transfer_subs[0])])
        .await;
    reply.assert_error("invalid_grant");
    assert!(reply.reason.unwrap().contains("60-day"));
    assert!(apple
        .native_claims("alice", "share")
        .await
        .get("transfer_sub")
        .is_none());
}

#[tokio::test]
async fn what_apple_refuses_the_emulator_refuses() {
    let apple = Apple::start().await;
    let alice = apple.native_claims("alice", "share").await;
    let sub = alice["sub"].as_str().unwrap();
    let token = apple.migration_token(TEAM).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The grant takes user.migration only.
    let secret = apple.secret_of(TEAM, IOS);
    apple
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "name"),
                ("client_id", IOS),
                ("client_secret", &secret),
            ],
        )
        .await
        .assert_error("invalid_scope");
    // A target equal to the sending team.
    let reply = apple
        .migration_info(TEAM, &token, &[("sub", sub), ("target", TEAM)])
        .await;
    reply.assert_error("invalid_request");
    assert!(reply.reason.unwrap().contains("sending team"));
    // Without the bearer token, or with a made-up one.
    let response = apple
        .http
        .post(apple.url("/auth/usermigrationinfo"))
        .form(&[
            ("client_id", IOS),
            ("client_secret", &secret),
            ("sub", sub),
            ("target", RECEIVER),
        ])
        .send()
        .await
        .unwrap();
    Reply::read(response).await.assert_error("invalid_request");
    apple
        .migration_info(TEAM, "a0000", &[("sub", sub), ("target", RECEIVER)])
        .await
        .assert_error("invalid_client");
    // A sub that is not a user of this app.
    apple
        .migration_info(
            TEAM,
            &token,
            &[
                ("sub", "000000.00000000000000000000000000000000.0000"),
                ("target", RECEIVER),
            ],
        )
        .await
        .assert_error("invalid_grant");
    // A transfer_sub before the app moved: the requesting team does not own it.
    let transfer_sub = apple
        .migration_info(TEAM, &token, &[("sub", sub), ("target", "THIRDTEAM1")])
        .await
        .json()["transfer_sub"]
        .as_str()
        .unwrap()
        .to_owned();
    apple
        .migration_info(RECEIVER, &token, &[("transfer_sub", &transfer_sub)])
        .await
        .assert_error("invalid_client");
    // Made for THIRDTEAM1, presented by the team the app really moved to.
    assert_eq!(apple.transfer(RECEIVER).await, 200);
    let receiver_token = apple.migration_token(RECEIVER).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    apple
        .migration_info(
            RECEIVER,
            &receiver_token,
            &[("transfer_sub", &transfer_sub)],
        )
        .await
        .assert_error("invalid_grant");
    // The sending team's token, after the move.
    apple
        .migration_info(RECEIVER, &token, &[("transfer_sub", &transfer_sub)])
        .await
        .assert_error("invalid_client");
    // Transfers to an unknown team, or to the team that owns the app, are refused.
    assert_eq!(apple.transfer("NOSUCHTEAM").await, 400);
    assert_eq!(apple.transfer(RECEIVER).await, 400);
}
