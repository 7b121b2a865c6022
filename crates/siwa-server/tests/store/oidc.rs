//! The OpenID provider's codes and grants, on both backends.

use std::sync::Arc;

use siwa_server::store::{NewOidcCode, NewSession, OidcGrant, Redemption, Rotate, Rotation, Store};
use tokio::task::JoinSet;

use super::{hash, profile, rotate_of, session, StoreExt as _, TestDb, NOW};

const CLIENT: &str = "wiki";

fn code(name: &str, user_id: &str) -> NewOidcCode {
    NewOidcCode {
        code_hash: hash(name),
        client_id: CLIENT.into(),
        redirect_uri: "https://wiki.example.com/cb".into(),
        user_id: user_id.into(),
        scope: "openid email".into(),
        nonce: Some("n-1".into()),
        code_challenge: Some("challenge".into()),
        auth_time: NOW - 5,
        created_at: NOW,
        expires_at: NOW + 60,
    }
}

fn grant(family: &str, user_id: &str, token: &str) -> NewSession {
    NewSession {
        grant: Some(OidcGrant {
            client_id: CLIENT.into(),
            scope: "openid email".into(),
            auth_time: NOW - 5,
        }),
        ..session(family, user_id, token)
    }
}

fn rotate_grant(old: &str, new: &str, client: Option<&str>) -> Rotate {
    Rotate {
        grant_client: client.map(str::to_owned),
        ..rotate_of(old, new, NOW + 1, NOW + 1_000)
    }
}

pub(super) async fn codes_are_kept_and_redeemed_once(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-oc"), NOW, false).await.unwrap();
    s.put_oidc_code(&code("c-1", &user.id)).await.unwrap();
    let kept = s.oidc_code(&hash("c-1")).await.unwrap().unwrap();
    assert!(!kept.used);
    assert_eq!(kept.code.redirect_uri, "https://wiki.example.com/cb");
    assert_eq!(kept.code.nonce.as_deref(), Some("n-1"));
    assert_eq!(kept.code.code_challenge.as_deref(), Some("challenge"));
    assert_eq!(kept.code.auth_time, NOW - 5);
    assert!(s.oidc_code(&hash("c-unknown")).await.unwrap().is_none());

    assert_eq!(
        s.redeem_oidc_code(&hash("c-1"), NOW + 1, &grant("g-1", &user.id, "grt-0"))
            .await
            .unwrap(),
        Redemption::Granted
    );
    let opened = s.grant("g-1").await.unwrap().unwrap();
    assert_eq!(opened.user_id, user.id);
    assert!(!opened.revoked);
    assert_eq!(
        opened.oidc,
        Some(OidcGrant {
            client_id: CLIENT.into(),
            scope: "openid email".into(),
            auth_time: NOW - 5
        })
    );
    assert!(s.oidc_code(&hash("c-1")).await.unwrap().unwrap().used);
    assert_eq!(
        s.grant_of_refresh_token(&hash("grt-0"))
            .await
            .unwrap()
            .map(|g| g.family_id),
        Some("g-1".into())
    );

    // The second use opens nothing and revokes what the first opened.
    assert_eq!(
        s.redeem_oidc_code(&hash("c-1"), NOW + 2, &grant("g-2", &user.id, "grt-x"))
            .await
            .unwrap(),
        Redemption::Refused
    );
    assert!(s.grant("g-2").await.unwrap().is_none());
    assert!(s.grant("g-1").await.unwrap().unwrap().revoked);
}

pub(super) async fn expired_codes_open_nothing_and_spoiling_revokes(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-oe"), NOW, false).await.unwrap();
    s.put_oidc_code(&code("c-exp", &user.id)).await.unwrap();
    assert_eq!(
        s.redeem_oidc_code(&hash("c-exp"), NOW + 60, &grant("g-e", &user.id, "e-0"))
            .await
            .unwrap(),
        Redemption::Refused,
        "expired at NOW + 60"
    );
    assert!(s.grant("g-e").await.unwrap().is_none());
    assert_eq!(
        s.redeem_oidc_code(&hash("c-none"), NOW, &grant("g-n", &user.id, "n-0"))
            .await
            .unwrap(),
        Redemption::Refused
    );

    s.put_oidc_code(&code("c-sp", &user.id)).await.unwrap();
    s.redeem_oidc_code(&hash("c-sp"), NOW + 1, &grant("g-sp", &user.id, "sp-0"))
        .await
        .unwrap();
    s.spoil_oidc_code(&hash("c-sp")).await.unwrap();
    assert!(s.grant("g-sp").await.unwrap().unwrap().revoked);
    // Spoiling a code never redeemed revokes nothing (it opened nothing).
    s.put_oidc_code(&code("c-fresh", &user.id)).await.unwrap();
    s.spoil_oidc_code(&hash("c-fresh")).await.unwrap();
    assert_eq!(
        s.redeem_oidc_code(&hash("c-fresh"), NOW + 1, &grant("g-f", &user.id, "f-0"))
            .await
            .unwrap(),
        Redemption::Granted
    );

    // Codes long past their expiry are purged by a later put.
    s.put_oidc_code(&NewOidcCode {
        created_at: NOW + 10_000,
        expires_at: NOW + 10_060,
        ..code("c-later", &user.id)
    })
    .await
    .unwrap();
    assert!(s.oidc_code(&hash("c-exp")).await.unwrap().is_none());
}

pub(super) async fn concurrent_code_redemption_has_one_winner(db: &TestDb) {
    let user = db
        .store()
        .sign_in(&profile("sub-ocr"), NOW, false)
        .await
        .unwrap();
    db.store()
        .put_oidc_code(&code("c-race", &user.id))
        .await
        .unwrap();
    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let store: Arc<dyn Store> = Arc::clone(&db.store);
        let user_id = user.id.clone();
        tasks.spawn(async move {
            let family = format!("g-race-{i}");
            let result = store
                .redeem_oidc_code(
                    &hash("c-race"),
                    NOW + 1,
                    &grant(&family, &user_id, &format!("race-{i}")),
                )
                .await
                .unwrap();
            (family, result)
        });
    }
    let results = tasks.join_all().await;
    let winners: Vec<_> = results
        .iter()
        .filter(|(_, r)| *r == Redemption::Granted)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    // The losers were second uses: the winner's grant is revoked too.
    assert!(
        db.store()
            .grant(&winners[0].0)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    for (family, result) in &results {
        if *result == Redemption::Refused {
            assert!(db.store().grant(family).await.unwrap().is_none());
        }
    }
}

pub(super) async fn grants_and_sessions_never_mix(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-mix"), NOW, false).await.unwrap();
    s.create_session(&session("own", &user.id, "own-0"))
        .await
        .unwrap();
    s.create_session(&grant("rp", &user.id, "rp-0"))
        .await
        .unwrap();
    assert!(s.grant("own").await.unwrap().unwrap().oidc.is_none());

    // A grant is no session of the service's own (GET /me refuses its tokens).
    assert!(s.active_user("rp", &user.id).await.unwrap().is_none());
    assert!(s.active_user("own", &user.id).await.unwrap().is_some());

    // Each refresh token rotates only at its own kind's endpoint; a wrong
    // one writes nothing (the token still works where it belongs).
    for (token, wrong) in [
        ("own-0", Some(CLIENT)),
        ("rp-0", None),
        ("rp-0", Some("other")),
    ] {
        assert_eq!(
            s.rotate_session(&rotate_grant(token, "never", wrong))
                .await
                .unwrap(),
            Rotation::Invalid,
            "{token} presented as {wrong:?}"
        );
    }
    assert!(matches!(
        s.rotate_session(&rotate_grant("own-0", "own-1", None))
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    assert!(matches!(
        s.rotate_session(&rotate_grant("rp-0", "rp-1", Some(CLIENT)))
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    // A spent grant token presented at the session route is refused without
    // revoking the grant (only its own endpoint judges its reuse).
    assert_eq!(
        s.rotate_session(&rotate_grant("rp-0", "x", None))
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert!(!s.grant("rp").await.unwrap().unwrap().revoked);
    assert!(matches!(
        s.rotate_session(&rotate_grant("rp-0", "x", Some(CLIENT)))
            .await
            .unwrap(),
        Rotation::Reused { .. }
    ));
    assert!(s.grant("rp").await.unwrap().unwrap().revoked);
}

pub(super) async fn erasing_a_user_takes_their_codes_and_grants(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-oer"), NOW, false).await.unwrap();
    s.put_oidc_code(&code("c-er", &user.id)).await.unwrap();
    s.create_session(&grant("g-er", &user.id, "er-0"))
        .await
        .unwrap();
    s.erase_user(&user.id, NOW).await.unwrap();
    assert!(s.oidc_code(&hash("c-er")).await.unwrap().is_none());
    assert!(s.grant("g-er").await.unwrap().is_none());
    assert!(s
        .grant_of_refresh_token(&hash("er-0"))
        .await
        .unwrap()
        .is_none());
}
