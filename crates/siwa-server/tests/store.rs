//! The store suite: written once, run on SQLite always and on PostgreSQL when
//! `SIWA_TEST_DATABASE_URL` is set (each PostgreSQL test in a fresh schema,
//! dropped afterwards).

use std::collections::HashSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Once};

use sqlx::Connection as _;
use tokio::task::JoinSet;

use std::future::Future;

use siwa_server::store::{
    AppleProfile, AppleToken, Name, NewLogin, NewSession, Notification, NotificationEffect,
    NotificationSource, PostgresStore, Relink, Rotate, Rotation, SealedAppleToken, SessionStart,
    SignIn, SignInOutcome, SpentIdentityToken, SqliteStore, Store, StoreResult, User,
};

/// Runs each named test body on SQLite, and on PostgreSQL when configured.
macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                }
            )*
        }
    };
}

store_suite!(
    sign_ins_record_created_updated_and_signed_in_events,
    events_are_leased_one_per_user_in_order_and_once,
    failed_events_are_listed_requeued_and_finished_ones_purged,
    apple_tokens_come_due_once_per_interval,
    take_login_is_single_use,
    take_login_refuses_expired_and_purges,
    concurrent_take_login_has_one_winner,
    sign_in_creates_then_updates,
    sign_in_writes_a_name_only_where_there_is_none,
    pending_names_are_kept_first_wins_and_applied_once,
    an_identity_token_completes_one_sign_in,
    a_sign_in_writes_its_session_and_apple_token_with_it,
    issued_nonces_are_single_use_and_expire,
    team_transfer_exports_resumably_and_relinks_keeping_the_user,
    a_sign_in_with_a_transfer_sub_relinks_the_exported_identity,
    sign_in_updates_email_only_when_given,
    concurrent_first_sign_in_creates_one_user,
    concurrent_operations_on_one_user_never_fail,
    email_association_is_off_unless_asked,
    email_association_joins_verified_email_case_insensitively,
    email_association_never_for_private_relay_or_unverified,
    apple_tokens_are_kept_per_identity_and_client,
    rotation_and_reuse_detection,
    rotation_with_its_user_gives_the_active_sessions_user,
    rotation_refuses_unknown_expired_and_revoked,
    concurrent_rotation_has_one_winner,
    rotation_within_the_reuse_grace_repeats_the_successor,
    rotation_stops_at_the_absolute_lifetime,
    a_family_is_purged_after_its_last_token_not_its_first,
    session_user_after_ending_sessions,
    first_seen_event_is_idempotent,
    notification_ids_are_purged_after_they_expire,
    email_forwarding_events,
    deletion_queue_lease_retry_finish,
    concurrent_due_deletions_never_share_a_job,
    finish_deletion_keeps_user_until_last_job,
    erase_user_cascades,
    lookups_use_indexes_at_10k_users,
    codes_are_kept_and_redeemed_once,
    expired_codes_open_nothing_and_spoiling_revokes,
    concurrent_code_redemption_has_one_winner,
    grants_and_sessions_never_mix,
    erasing_a_user_takes_their_codes_and_grants,
);

mod outbox;
use outbox::{
    apple_tokens_come_due_once_per_interval, events_are_leased_one_per_user_in_order_and_once,
    failed_events_are_listed_requeued_and_finished_ones_purged,
    sign_ins_record_created_updated_and_signed_in_events,
};

mod oidc;
use oidc::{
    codes_are_kept_and_redeemed_once, concurrent_code_redemption_has_one_winner,
    erasing_a_user_takes_their_codes_and_grants, expired_codes_open_nothing_and_spoiling_revokes,
    grants_and_sessions_never_mix,
};

// ---------------------------------------------------------------- the suite

async fn take_login_is_single_use(db: &TestDb) {
    let s = db.store();
    s.put_login(&login("state-1", NOW + 600)).await.unwrap();
    let taken = s
        .take_login(&hash("state-1"), NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.nonce, "nonce-state-1");
    assert_eq!(taken.browser_hash, hash("browser-state-1"));
    assert_eq!(taken.return_to, "https://example.com/after");
    assert_eq!(taken.client_id.as_deref(), Some("com.example.web2"));
    assert_eq!(
        taken.redirect_uri.as_deref(),
        Some("https://example.com/popup/state-1")
    );
    assert!(s
        .take_login(&hash("state-1"), NOW + 2)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .take_login(&hash("never-put"), NOW)
        .await
        .unwrap()
        .is_none());
}

async fn take_login_refuses_expired_and_purges(db: &TestDb) {
    let s = db.store();
    s.put_login(&login("old", NOW + 600)).await.unwrap();
    s.put_login(&login("fresh", NOW + 600)).await.unwrap();
    // The expiry is exclusive: at `expires_at` it is already refused.
    assert!(s
        .take_login(&hash("old"), NOW + 600)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .take_login(&hash("fresh"), NOW + 599)
        .await
        .unwrap()
        .is_some());
    assert_eq!(db.count("SELECT COUNT(*) FROM logins").await, 1);
    // A later sign-in start purges what has expired.
    let mut later = login("later", NOW + 1200);
    later.created_at = NOW + 700;
    s.put_login(&later).await.unwrap();
    assert_eq!(db.count("SELECT COUNT(*) FROM logins").await, 1);
    assert!(s
        .take_login(&hash("later"), NOW + 701)
        .await
        .unwrap()
        .is_some());
}

async fn concurrent_take_login_has_one_winner(db: &TestDb) {
    for round in 0..5 {
        let state = format!("contested-{round}");
        db.store()
            .put_login(&login(&state, NOW + 600))
            .await
            .unwrap();
        let mut tasks = JoinSet::new();
        for _ in 0..16 {
            let store = Arc::clone(&db.store);
            let state_hash = hash(&state);
            tasks.spawn(async move { store.take_login(&state_hash, NOW).await.unwrap() });
        }
        let winners = tasks.join_all().await.into_iter().flatten().count();
        assert_eq!(winners, 1, "round {round}");
    }
}

async fn sign_in_creates_then_updates(db: &TestDb) {
    let s = db.store();
    let mut first = profile("sub-1");
    first.email = Some("ann@example.com".into());
    first.email_verified = true;
    first.first_name = Some("Ann".into());
    first.last_name = Some("Lee".into());
    let created = s.sign_in(&first, NOW, false).await.unwrap();
    assert_eq!(created.id.len(), 32);
    assert!(created.id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(created.email.as_deref(), Some("ann@example.com"));
    assert!(created.email_verified && !created.is_private_email && created.email_forwarding);
    assert_eq!(created.first_name.as_deref(), Some("Ann"));
    assert_eq!(created.last_name.as_deref(), Some("Lee"));
    assert_eq!(created.real_user_status, None);
    assert_eq!((created.created_at, created.last_login_at), (NOW, NOW));
    assert_eq!(s.user(&created.id).await.unwrap(), Some(created.clone()));
    let link = s.apple_link(TEAM, "sub-1").await.unwrap().unwrap();
    assert_eq!(link.user_id, created.id);
    assert!(!link.revoked);
    assert!(s.user_apple_tokens(&created.id).await.unwrap().is_empty());

    // The second sign-in: Apple sends no `user`, a native one adds real_user_status.
    let mut second = profile("sub-1");
    second.real_user_status = Some(2);
    let updated = s.sign_in(&second, NOW + 60, false).await.unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.created_at, NOW);
    assert_eq!(updated.last_login_at, NOW + 60);
    assert_eq!(updated.first_name.as_deref(), Some("Ann"));
    assert_eq!(updated.last_name.as_deref(), Some("Lee"));
    assert_eq!(updated.email.as_deref(), Some("ann@example.com"));
    assert!(updated.email_verified);
    assert_eq!(updated.real_user_status, Some(2));
    // Not given again: kept.
    let third = s
        .sign_in(&profile("sub-1"), NOW + 120, false)
        .await
        .unwrap();
    assert_eq!(third.real_user_status, Some(2));
    assert_eq!(db.count("SELECT COUNT(*) FROM apple_identities").await, 1);
    assert!(s.user("no-such-user").await.unwrap().is_none());
    assert!(s.apple_link(TEAM, "no-such-sub").await.unwrap().is_none());
}

async fn sign_in_writes_a_name_only_where_there_is_none(db: &TestDb) {
    let s = db.store();
    // The user JSON lost on the first sign-in, sent on a later one: written then.
    let nameless = s.sign_in(&profile("sub-n"), NOW, false).await.unwrap();
    assert_eq!(nameless.first_name, None);
    let mut named = profile("sub-n");
    named.first_name = Some("Émile".into());
    let first = s.sign_in(&named, NOW + 1, false).await.unwrap();
    assert_eq!(first.first_name.as_deref(), Some("Émile"));
    assert_eq!(first.last_name, None);
    // Neither None nor a blank string erases it.
    let mut blank = profile("sub-n");
    blank.first_name = Some("  ".into());
    blank.last_name = Some(String::new());
    let kept = s.sign_in(&blank, NOW + 2, false).await.unwrap();
    assert_eq!(kept.first_name.as_deref(), Some("Émile"));
    // A stored part is never overwritten (the `user` JSON is unsigned); a missing part is filled.
    let mut other = profile("sub-n");
    other.first_name = Some("Mallory".into());
    other.last_name = Some("Zola".into());
    let updated = s.sign_in(&other, NOW + 3, false).await.unwrap();
    assert_eq!(updated.first_name.as_deref(), Some("Émile"));
    assert_eq!(updated.last_name.as_deref(), Some("Zola"));
    let mut again = profile("sub-n");
    again.last_name = Some("Zola-Martin".into());
    let updated = s.sign_in(&again, NOW + 4, false).await.unwrap();
    assert_eq!(updated.last_name.as_deref(), Some("Zola"));
    assert_eq!(s.user(&updated.id).await.unwrap(), Some(updated));
}

async fn pending_names_are_kept_first_wins_and_applied_once(db: &TestDb) {
    let s = db.store();
    let ann = Name {
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
    };
    let other = Name {
        first_name: Some("Mallory".into()),
        last_name: None,
    };
    s.keep_pending_name(TEAM, "sub-p", &ann, NOW).await.unwrap();
    s.keep_pending_name(TEAM, "sub-p", &other, NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        s.pending_name(TEAM, "sub-p").await.unwrap(),
        Some(ann.clone()),
        "the first name kept wins"
    );
    // Nothing about an account exists until a sign-in completes.
    assert!(s.apple_link(TEAM, "sub-p").await.unwrap().is_none());
    // The completed sign-in (no user JSON of its own this time) takes the pending name.
    let user = s.sign_in(&profile("sub-p"), NOW + 2, false).await.unwrap();
    assert_eq!(user.first_name.as_deref(), Some("Ann"));
    assert_eq!(user.last_name.as_deref(), Some("Lee"));
    assert_eq!(
        s.pending_name(TEAM, "sub-p").await.unwrap(),
        None,
        "applied once"
    );
    // A later pending name (someone holding a newer identity token) changes nothing stored.
    s.keep_pending_name(TEAM, "sub-p", &other, NOW + 3)
        .await
        .unwrap();
    let again = s.sign_in(&profile("sub-p"), NOW + 4, false).await.unwrap();
    assert_eq!(again.first_name.as_deref(), Some("Ann"));
    // A sign-in's own name wins over a pending one.
    s.keep_pending_name(TEAM, "sub-q", &other, NOW)
        .await
        .unwrap();
    let mut own = profile("sub-q");
    own.first_name = Some("Quinn".into());
    let q = s.sign_in(&own, NOW + 1, false).await.unwrap();
    assert_eq!(q.first_name.as_deref(), Some("Quinn"));
    assert_eq!(q.last_name, None);
}

async fn an_identity_token_completes_one_sign_in(db: &TestDb) {
    let s = db.store();
    let token = SpentIdentityToken {
        hash: hash("id-token-1"),
        expires_at: NOW + 600,
    };
    assert!(!s.identity_token_spent(&token.hash, NOW).await.unwrap());
    let first = s
        .complete_sign_in(&SignIn {
            identity_token: Some(token.clone()),
            session: Some(start("fam-once-1", "once-1")),
            ..sign_in_of(profile("sub-once"), NOW)
        })
        .await
        .unwrap();
    let SignInOutcome::SignedIn(user) = first else {
        panic!("{first:?}")
    };
    assert!(s.identity_token_spent(&token.hash, NOW + 1).await.unwrap());
    let mut named = profile("sub-once");
    named.first_name = Some("Late".into());
    let second = s
        .complete_sign_in(&SignIn {
            identity_token: Some(token.clone()),
            session: Some(start("fam-once-2", "once-2")),
            ..sign_in_of(named, NOW + 5)
        })
        .await
        .unwrap();
    assert_eq!(second, SignInOutcome::TokenAlreadySpent);
    // Nothing of the second one was written: no session, no name, no login time.
    assert!(s
        .active_user("fam-once-2", &user.id)
        .await
        .unwrap()
        .is_none());
    let stored = s.user(&user.id).await.unwrap().unwrap();
    assert_eq!((stored.first_name, stored.last_login_at), (None, NOW));
    // Concurrent completions of one token: one wins.
    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&db.store);
        tasks.spawn(async move {
            store
                .complete_sign_in(&SignIn {
                    identity_token: Some(SpentIdentityToken {
                        hash: hash("id-token-race"),
                        expires_at: NOW + 600,
                    }),
                    session: Some(start(&format!("fam-race-{i}"), &format!("race-{i}"))),
                    ..sign_in_of(profile("sub-once"), NOW + 10)
                })
                .await
                .unwrap()
        });
    }
    let wins = tasks
        .join_all()
        .await
        .into_iter()
        .filter(|o| matches!(o, SignInOutcome::SignedIn(_)))
        .count();
    assert_eq!(wins, 1);
    // Past its expiry (and the leeway), a spent token is forgotten.
    assert!(!s
        .identity_token_spent(&token.hash, NOW + 600 + 301)
        .await
        .unwrap());
}

async fn a_sign_in_writes_its_session_and_apple_token_with_it(db: &TestDb) {
    let s = db.store();
    let outcome = s
        .complete_sign_in(&SignIn {
            apple_token: Some(SealedAppleToken {
                client_id: IOS.into(),
                ciphertext: b"ct-ios".to_vec(),
            }),
            session: Some(start("fam-all", "all-0")),
            ..sign_in_of(profile("sub-all"), NOW)
        })
        .await
        .unwrap();
    let SignInOutcome::SignedIn(user) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(s.active_user("fam-all", &user.id).await.unwrap().is_some());
    let tokens = s.user_apple_tokens(&user.id).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        (
            tokens[0].team_id.as_str(),
            tokens[0].sub.as_str(),
            tokens[0].client_id.as_str(),
            tokens[0].ciphertext.as_slice()
        ),
        (TEAM, "sub-all", IOS, &b"ct-ios"[..])
    );
    // The session's client is what rotation reports (the access token's client_id).
    match s
        .rotate(&hash("all-0"), &hash("all-1"), NOW + 1, NOW + 500)
        .await
        .unwrap()
    {
        Rotation::Rotated { client_id, .. } => assert_eq!(client_id, WEB),
        other => panic!("{other:?}"),
    }
}

async fn team_transfer_exports_resumably_and_relinks_keeping_the_user(db: &TestDb) {
    let s = db.store();
    const TARGET: &str = "RECEIVER01";
    let relay = |i: usize| (i == 3).then_some("r3@privaterelay.appleid.com");
    let mut users = Vec::new();
    for i in 0..5 {
        let mut p = verified(&format!("sub-x{i}"), &format!("x{i}@example.com"));
        p.first_name = Some(format!("X{i}"));
        let user = s
            .sign_in_holding(&p, NOW, WEB, b"ct-old-team")
            .await
            .unwrap();
        users.push(user);
    }
    // Another team's identity is not exported.
    let mut other = profile("sub-elsewhere");
    other.team_id = "OTHERTEAM1".into();
    s.sign_in(&other, NOW, false).await.unwrap();
    let progress = s.export_progress(TEAM, TARGET).await.unwrap();
    assert_eq!((progress.total, progress.done), (5, 0));
    // A page at a time, from a cursor: the first run stops after two.
    let page = s.identities_to_export(TEAM, TARGET, "", 2).await.unwrap();
    assert_eq!(page, ["sub-x0", "sub-x1"]);
    for sub in &page {
        s.set_transfer_sub(TEAM, sub, TARGET, &format!("t-{sub}"))
            .await
            .unwrap();
    }
    // A second run (killed in between) finds only what is left.
    let rest = s.identities_to_export(TEAM, TARGET, "", 100).await.unwrap();
    assert_eq!(rest, ["sub-x2", "sub-x3", "sub-x4"]);
    for sub in &rest {
        s.set_transfer_sub(TEAM, sub, TARGET, &format!("t-{sub}"))
            .await
            .unwrap();
    }
    assert!(s
        .identities_to_export(TEAM, TARGET, "", 100)
        .await
        .unwrap()
        .is_empty());
    let progress = s.export_progress(TEAM, TARGET).await.unwrap();
    assert_eq!((progress.total, progress.done), (5, 5));
    // Exported for another target: that one is still to do.
    assert_eq!(
        s.identities_to_export(TEAM, "THIRDTEAM1", "", 100)
            .await
            .unwrap()
            .len(),
        5
    );

    // The import, after the transfer: each exported identity, by transfer_sub.
    let to_import = s.identities_to_import(TARGET, "", 100).await.unwrap();
    assert_eq!(to_import.len(), 5);
    assert_eq!(to_import[0].transfer_sub, "t-sub-x0");
    assert_eq!(to_import[0].user_id, users[0].id);
    for (i, exported) in to_import.iter().enumerate() {
        let relink = s
            .relink_identity(
                &exported.transfer_sub,
                TARGET,
                &format!("new-{i}"),
                relay(i),
            )
            .await
            .unwrap();
        assert_eq!(
            relink,
            Relink::Relinked {
                user_id: users[i].id.clone()
            }
        );
    }
    // Idempotent; unknown transfer_subs say so.
    assert_eq!(
        s.relink_identity("t-sub-x0", TARGET, "new-0", None)
            .await
            .unwrap(),
        Relink::Relinked {
            user_id: users[0].id.clone()
        }
    );
    assert_eq!(
        s.relink_identity("t-never-exported", TARGET, "new-9", None)
            .await
            .unwrap(),
        Relink::Unknown
    );
    assert!(s
        .identities_to_import(TARGET, "", 100)
        .await
        .unwrap()
        .is_empty());
    let progress = s.import_progress(TARGET).await.unwrap();
    assert_eq!((progress.total, progress.done), (5, 5));
    // The user is the same (name, email), now under the receiving team's sub;
    // the sending team's Apple tokens are gone (sealed to the old identity).
    let link = s.apple_link(TARGET, "new-1").await.unwrap().unwrap();
    assert_eq!(link.user_id, users[1].id);
    assert!(s.apple_link(TEAM, "sub-x1").await.unwrap().is_none());
    let user = s.user(&users[1].id).await.unwrap().unwrap();
    assert_eq!(user.first_name.as_deref(), Some("X1"));
    assert_eq!(user.email.as_deref(), Some("x1@example.com"));
    // A relay address of the receiving team replaces the sending team's.
    let relayed = s.user(&users[3].id).await.unwrap().unwrap();
    assert_eq!(
        relayed.email.as_deref(),
        Some("r3@privaterelay.appleid.com")
    );
    assert!(relayed.is_private_email && relayed.email_verified);
    assert!(s.user_apple_tokens(&users[1].id).await.unwrap().is_empty());
    // A receiving-team sub that already belongs to someone else is not taken over.
    s.set_transfer_sub("OTHERTEAM1", "sub-elsewhere", TARGET, "t-elsewhere")
        .await
        .unwrap();
    assert!(matches!(
        s.relink_identity("t-elsewhere", TARGET, "new-2", None).await.unwrap(),
        Relink::Taken { user_id } if user_id == users[2].id
    ));
}

async fn a_sign_in_with_a_transfer_sub_relinks_the_exported_identity(db: &TestDb) {
    let s = db.store();
    const TARGET: &str = "RECEIVER01";
    let mut first = verified("sub-early", "early@example.com");
    first.first_name = Some("Early".into());
    let user = s.sign_in(&first, NOW, false).await.unwrap();
    s.set_transfer_sub(TEAM, "sub-early", TARGET, "t-early")
        .await
        .unwrap();
    // After the transfer, before the import: the receiving team's token
    // carries the new sub and the transfer_sub.
    let mut after = profile("sub-early-new");
    after.team_id = TARGET.into();
    after.transfer_sub = Some("t-early".into());
    let signed_in = s.sign_in(&after, NOW + 10, false).await.unwrap();
    assert_eq!(signed_in.id, user.id, "the same user, not a new account");
    assert_eq!(signed_in.first_name.as_deref(), Some("Early"));
    assert_eq!(db.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(
        s.apple_link(TARGET, "sub-early-new")
            .await
            .unwrap()
            .unwrap()
            .user_id,
        user.id
    );
    // The import then finds it done.
    assert!(s
        .identities_to_import(TARGET, "", 10)
        .await
        .unwrap()
        .is_empty());
    // A transfer_sub nobody exported does not join anyone: a new user.
    let mut stranger = profile("sub-stranger");
    stranger.team_id = TARGET.into();
    stranger.transfer_sub = Some("t-unknown".into());
    let new_user = s.sign_in(&stranger, NOW + 20, false).await.unwrap();
    assert_ne!(new_user.id, user.id);
}

async fn issued_nonces_are_single_use_and_expire(db: &TestDb) {
    let s = db.store();
    s.put_nonce(&hash("n-1"), NOW, NOW + 300).await.unwrap();
    s.put_nonce(&hash("n-2"), NOW, NOW + 300).await.unwrap();
    assert!(!s.take_nonce(&hash("never-issued"), NOW).await.unwrap());
    assert!(s.take_nonce(&hash("n-1"), NOW + 1).await.unwrap());
    assert!(!s.take_nonce(&hash("n-1"), NOW + 2).await.unwrap(), "once");
    assert!(
        !s.take_nonce(&hash("n-2"), NOW + 300).await.unwrap(),
        "expired"
    );
    // Concurrent takers of one nonce: one wins.
    s.put_nonce(&hash("n-race"), NOW, NOW + 300).await.unwrap();
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = Arc::clone(&db.store);
        tasks.spawn(async move { store.take_nonce(&hash("n-race"), NOW).await.unwrap() });
    }
    assert_eq!(tasks.join_all().await.into_iter().filter(|t| *t).count(), 1);
    // Expired ones are purged when new ones are issued.
    s.put_nonce(&hash("n-3"), NOW + 1_000, NOW + 1_300)
        .await
        .unwrap();
    assert_eq!(db.count("SELECT COUNT(*) FROM native_nonces").await, 1);
}

async fn sign_in_updates_email_only_when_given(db: &TestDb) {
    let s = db.store();
    let mut p = profile("sub-e");
    p.email = Some("x1@privaterelay.appleid.com".into());
    p.email_verified = true;
    p.is_private_email = true;
    let user = s.sign_in(&p, NOW, false).await.unwrap();
    assert!(user.is_private_email);
    // No email in this token: the stored one and its flags stay.
    let kept = s.sign_in(&profile("sub-e"), NOW + 1, false).await.unwrap();
    assert_eq!(kept.email.as_deref(), Some("x1@privaterelay.appleid.com"));
    assert!(kept.email_verified && kept.is_private_email);
    // A new email comes with its own flags.
    let mut changed = profile("sub-e");
    changed.email = Some("real@example.com".into());
    changed.email_verified = true;
    let changed = s.sign_in(&changed, NOW + 2, false).await.unwrap();
    assert_eq!(changed.email.as_deref(), Some("real@example.com"));
    assert!(changed.email_verified && !changed.is_private_email);
}

async fn concurrent_first_sign_in_creates_one_user(db: &TestDb) {
    for round in 0..8 {
        let sub = format!("sub-race-{round}");
        let email = format!("race{round}@example.com");
        let mut tasks = JoinSet::new();
        for i in 0..12 {
            let store = Arc::clone(&db.store);
            let mut p = verified(&sub, &email);
            p.first_name = Some("Race".into());
            // Half of them may join by email: the user another task just made.
            tasks.spawn(async move { store.sign_in(&p, NOW + i, i % 2 == 0).await.unwrap() });
        }
        let users = tasks.join_all().await;
        let ids: HashSet<_> = users.iter().map(|u| u.id.clone()).collect();
        assert_eq!(ids.len(), 1, "one sub, one user: {ids:?}");
        assert!(users
            .iter()
            .all(|u| u.first_name.as_deref() == Some("Race")));
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM users").await, 8);
    assert_eq!(db.count("SELECT COUNT(*) FROM apple_identities").await, 8);
}

/// Everything that can happen to one user at once (sign-ins, refreshes, a
/// consent-revoked event, a logout, an erasure, a finished deletion) only
/// ever waits: no operation fails, e.g. with a deadlock.
async fn concurrent_operations_on_one_user_never_fail(db: &TestDb) {
    for round in 0..10 {
        let sub = format!("sub-busy-{round}");
        let email = format!("busy{round}@example.com");
        let s = db.store();
        let user = s
            .sign_in_holding(&verified(&sub, &email), NOW, WEB, b"ct")
            .await
            .unwrap();
        let family = format!("fam-busy-{round}");
        s.create_session(&session(&family, &user.id, &family))
            .await
            .unwrap();
        s.enqueue(&user.id, IOS, b"ct", NOW).await.unwrap();
        let job = s.due_deletions(NOW, 1, 60).await.unwrap().remove(0);

        let mut tasks: JoinSet<()> = JoinSet::new();
        for i in 0..4 {
            let (store, sub, email) = (Arc::clone(&db.store), sub.clone(), email.clone());
            tasks.spawn(async move {
                // The same identity, and another one joining by email.
                store
                    .sign_in(&verified(&sub, &email), NOW + 1, i % 2 == 0)
                    .await
                    .unwrap();
                let mut other = verified(&format!("{sub}-{i}"), &email);
                other.team_id = format!("TEAM{i}");
                store.sign_in(&other, NOW + 1, true).await.unwrap();
            });
        }
        for i in 0..3 {
            let (store, family) = (Arc::clone(&db.store), family.clone());
            tasks.spawn(async move {
                let new = hash(&format!("{family}-{i}"));
                store
                    .rotate(&hash(&family), &new, NOW + 1, NOW + 500)
                    .await
                    .unwrap();
            });
        }
        let (store, id, sub2) = (Arc::clone(&db.store), user.id.clone(), sub.clone());
        tasks.spawn(async move {
            store.revoke_consent(TEAM, &sub2).await.unwrap();
            store.end_user_sessions(&id).await.unwrap();
            store
                .set_email_forwarding(TEAM, &sub2, None, false)
                .await
                .unwrap();
        });
        let (store, id) = (Arc::clone(&db.store), user.id.clone());
        tasks.spawn(async move { store.erase_user(&id, NOW).await.unwrap() });
        let store = Arc::clone(&db.store);
        tasks.spawn(async move { store.finish_deletion(job.id, NOW).await.unwrap() });
        tasks.join_all().await;
    }
}

async fn email_association_is_off_unless_asked(db: &TestDb) {
    let s = db.store();
    let a = s
        .sign_in(&verified("sub-a", "same@example.com"), NOW, false)
        .await
        .unwrap();
    let b = s
        .sign_in(&verified("sub-b", "same@example.com"), NOW, false)
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
}

async fn email_association_joins_verified_email_case_insensitively(db: &TestDb) {
    let s = db.store();
    let mut first = verified("sub-a", "Bob@Example.COM");
    first.first_name = Some("Bob".into());
    let a = s.sign_in(&first, NOW, true).await.unwrap();
    let mut other_team = verified("sub-b", "bob@example.com");
    other_team.team_id = "OTHERTEAM1".into();
    let b = s.sign_in(&other_team, NOW + 5, true).await.unwrap();
    assert_eq!(a.id, b.id);
    // The join is a sign-in of that user: the name stays, the email is the newest.
    assert_eq!(b.first_name.as_deref(), Some("Bob"));
    assert_eq!(b.email.as_deref(), Some("bob@example.com"));
    assert_eq!(b.last_login_at, NOW + 5);
    for (team, sub) in [(TEAM, "sub-a"), ("OTHERTEAM1", "sub-b")] {
        let link = s.apple_link(team, sub).await.unwrap().unwrap();
        assert_eq!(link.user_id, a.id);
    }
    // Each identity stays its own link afterwards.
    let again = s.sign_in(&profile("sub-a"), NOW + 10, true).await.unwrap();
    assert_eq!(again.id, a.id);
}

async fn email_association_never_for_private_relay_or_unverified(db: &TestDb) {
    let s = db.store();
    let relay = "abc123@privaterelay.appleid.com";
    let mut private = verified("sub-p1", relay);
    private.is_private_email = true;
    let p1 = s.sign_in(&private, NOW, true).await.unwrap();
    private.sub = "sub-p2".into();
    let p2 = s.sign_in(&private, NOW, true).await.unwrap();
    assert_ne!(p1.id, p2.id, "private relay addresses never associate");
    // A relay address without Apple's flag is still a relay address.
    let p3 = s
        .sign_in(&verified("sub-p3", relay), NOW, true)
        .await
        .unwrap();
    assert_ne!(p3.id, p1.id);

    let v = s
        .sign_in(&verified("sub-v", "carol@example.com"), NOW, true)
        .await
        .unwrap();
    let mut unverified = verified("sub-u", "carol@example.com");
    unverified.email_verified = false;
    let u = s.sign_in(&unverified, NOW, true).await.unwrap();
    assert_ne!(u.id, v.id, "an unverified email never joins");
    // Nor does a verified one join a user whose own copy is unverified.
    let mut unverified_first = verified("sub-w1", "dave@example.com");
    unverified_first.email_verified = false;
    let w1 = s.sign_in(&unverified_first, NOW, true).await.unwrap();
    let w2 = s
        .sign_in(&verified("sub-w2", "dave@example.com"), NOW, true)
        .await
        .unwrap();
    assert_ne!(w1.id, w2.id);
}

async fn apple_tokens_are_kept_per_identity_and_client(db: &TestDb) {
    let s = db.store();
    let user = s
        .sign_in_holding(&profile("sub-t"), NOW, WEB, b"ct-web-1")
        .await
        .unwrap();
    s.sign_in_holding(&profile("sub-t"), NOW + 1, IOS, b"ct-ios-1")
        .await
        .unwrap();
    s.sign_in_holding(&profile("sub-t"), NOW + 2, WEB, b"ct-web-2")
        .await
        .unwrap();
    let held = |tokens: Vec<AppleToken>| {
        tokens
            .into_iter()
            .map(|t| (t.client_id, t.ciphertext))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        held(s.user_apple_tokens(&user.id).await.unwrap()),
        [
            (IOS.to_owned(), b"ct-ios-1".to_vec()),
            (WEB.to_owned(), b"ct-web-2".to_vec())
        ],
        "one per client, the newest"
    );
    // consent-revoked: revoked, every token forgotten; twice changes nothing more.
    s.revoke_consent(TEAM, "sub-t").await.unwrap();
    s.revoke_consent(TEAM, "sub-t").await.unwrap();
    let link = s.apple_link(TEAM, "sub-t").await.unwrap().unwrap();
    assert!(link.revoked);
    assert!(s.user_apple_tokens(&user.id).await.unwrap().is_empty());
    // Signing in again restores the link.
    s.sign_in(&profile("sub-t"), NOW + 3, false).await.unwrap();
    let link = s.apple_link(TEAM, "sub-t").await.unwrap().unwrap();
    assert!(!link.revoked);
    assert_eq!(link.user_id, user.id);
    // Unknown identities are no-ops.
    s.revoke_consent(TEAM, "nobody").await.unwrap();
}

async fn rotation_and_reuse_detection(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-r"), NOW, false).await.unwrap();
    s.create_session(&session("fam-1", &user.id, "rt-0"))
        .await
        .unwrap();
    let rotated = |expires_at| Rotation::Rotated {
        user_id: user.id.clone(),
        family_id: "fam-1".into(),
        client_id: WEB.into(),
        expires_at,
    };
    assert_eq!(
        s.rotate(&hash("rt-0"), &hash("rt-1"), NOW + 1, NOW + 90_000)
            .await
            .unwrap(),
        rotated(NOW + 90_000)
    );
    assert_eq!(
        s.rotate(&hash("rt-1"), &hash("rt-2"), NOW + 2, NOW + 90_001)
            .await
            .unwrap(),
        rotated(NOW + 90_001)
    );
    assert!(s.active_user("fam-1", &user.id).await.unwrap().is_some());
    // rt-0 again: stolen. The whole family goes, rt-2 included.
    assert_eq!(
        s.rotate(&hash("rt-0"), &hash("rt-x"), NOW + 3, NOW + 90_000)
            .await
            .unwrap(),
        Rotation::Reused {
            family_id: "fam-1".into()
        }
    );
    assert!(s.active_user("fam-1", &user.id).await.unwrap().is_none());
    assert_eq!(
        s.rotate(&hash("rt-2"), &hash("rt-3"), NOW + 4, NOW + 90_000)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    // Another family of the same user is untouched.
    s.create_session(&session("fam-2", &user.id, "other-0"))
        .await
        .unwrap();
    assert!(s.active_user("fam-2", &user.id).await.unwrap().is_some());
}

async fn rotation_with_its_user_gives_the_active_sessions_user(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-ru"), NOW, false).await.unwrap();
    s.create_session(&session("fam-ru", &user.id, "ru-0"))
        .await
        .unwrap();
    let (rotation, read) = s
        .rotate_session_with_user(&rotate_of("ru-0", "ru-1", NOW + 1, NOW + 90_000))
        .await
        .unwrap();
    assert!(matches!(rotation, Rotation::Rotated { .. }), "{rotation:?}");
    // SQLite reads it with the rotation; PostgreSQL leaves it to `session_user`.
    assert_eq!(
        read.is_some(),
        matches!(db.backend, Backend::Sqlite { .. }),
        "{read:?}"
    );
    if let Some(read) = read {
        assert_eq!(Some(read), s.active_user("fam-ru", &user.id).await.unwrap());
    }
    // Refusals and reuses carry no user.
    let (rotation, read) = s
        .rotate_session_with_user(&rotate_of("ru-0", "ru-x", NOW + 2, NOW + 90_000))
        .await
        .unwrap();
    assert_eq!(
        rotation,
        Rotation::Reused {
            family_id: "fam-ru".into()
        }
    );
    assert!(read.is_none());
    let (rotation, read) = s
        .rotate_session_with_user(&rotate_of("nobody", "ru-y", NOW + 3, NOW + 90_000))
        .await
        .unwrap();
    assert_eq!(rotation, Rotation::Invalid);
    assert!(read.is_none());
}

async fn rotation_refuses_unknown_expired_and_revoked(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-x"), NOW, false).await.unwrap();
    assert_eq!(
        s.rotate(&hash("unknown"), &hash("n"), NOW, NOW + 10)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    let mut short = session("fam-short", &user.id, "short-0");
    short.expires_at = NOW + 100;
    s.create_session(&short).await.unwrap();
    assert_eq!(
        s.rotate(&hash("short-0"), &hash("short-1"), NOW + 100, NOW + 200)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    s.create_session(&session("fam-out", &user.id, "out-0"))
        .await
        .unwrap();
    s.end_session("fam-out").await.unwrap();
    assert_eq!(
        s.rotate(&hash("out-0"), &hash("out-1"), NOW + 1, NOW + 200)
            .await
            .unwrap(),
        Rotation::Invalid
    );
}

async fn a_family_is_purged_after_its_last_token_not_its_first(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-p"), NOW, false).await.unwrap();
    // Families whose first tokens expire at NOW + 100: more live ones (each
    // rotated to a token that lives until NOW + 10,000) than one purge
    // batch takes, and a dead one.
    let live: Vec<String> = (0..120).map(|n| format!("fam-live-{n:03}")).collect();
    for family in live.iter().map(String::as_str).chain(["fam-dead"]) {
        let mut first = session(family, &user.id, &format!("{family}-0"));
        first.expires_at = NOW + 100;
        s.create_session(&first).await.unwrap();
    }
    for family in &live {
        let (old, new) = (format!("{family}-0"), format!("{family}-1"));
        assert!(matches!(
            s.rotate_session(&rotate_of(&old, &new, NOW + 10, NOW + 10_000))
                .await
                .unwrap(),
            Rotation::Rotated { .. }
        ));
    }
    let live_left = "SELECT COUNT(*) FROM session_families WHERE family_id LIKE 'fam-live-%'";
    // A sign-in that opens a session purges what has expired at its time.
    let sign_in_at = |at: i64, family: &'static str| SignIn {
        session: Some(SessionStart {
            created_at: at,
            expires_at: at + 30 * 86_400,
            ..start(family, &format!("{family}-0"))
        }),
        ..sign_in_of(profile("sub-p"), at)
    };
    let families =
        |id: &str| format!("SELECT COUNT(*) FROM session_families WHERE family_id = '{id}'");
    s.complete_sign_in(&sign_in_at(NOW + 500, "fam-next"))
        .await
        .unwrap();
    assert_eq!(
        db.count(&families("fam-dead")).await,
        0,
        "no live token left: purged"
    );
    assert_eq!(db.count(live_left).await, 120, "their newest tokens live");
    // Again later: no live family is taken for a dead one (whether or not a
    // purge has caught up its expiry yet), and their tokens still rotate.
    s.complete_sign_in(&sign_in_at(NOW + 600, "fam-next-2"))
        .await
        .unwrap();
    assert_eq!(db.count(live_left).await, 120);
    assert!(matches!(
        s.rotate_session(&rotate_of(
            "fam-live-119-1",
            "fam-live-119-2",
            NOW + 700,
            NOW + 20_000
        ))
        .await
        .unwrap(),
        Rotation::Rotated { .. }
    ));
    // Once their newest tokens have expired too, they go, a batch at a time.
    for (n, family) in ["fam-next-3", "fam-next-4"].into_iter().enumerate() {
        s.complete_sign_in(&sign_in_at(NOW + 15_000 + n as i64, family))
            .await
            .unwrap();
    }
    assert_eq!(
        db.count(live_left).await,
        1,
        "the one rotated again lives on"
    );
    s.complete_sign_in(&sign_in_at(NOW + 20_000, "fam-next-5"))
        .await
        .unwrap();
    assert_eq!(db.count(live_left).await, 0, "every token expired: purged");
    assert_eq!(db.count(&families("fam-next-5")).await, 1);
}

async fn rotation_within_the_reuse_grace_repeats_the_successor(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-g"), NOW, false).await.unwrap();
    s.create_session(&session("fam-g", &user.id, "g-0"))
        .await
        .unwrap();
    let graced = |old: &str, new: &str, now: i64| Rotate {
        successor_sealed: Some(format!("sealed-{new}").into_bytes()),
        reuse_grace_secs: 10,
        ..rotate_of(old, new, now, now + 1_000)
    };
    assert!(matches!(
        s.rotate_session(&graced("g-0", "g-1", NOW + 1))
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    // The same token again within the grace: the same successor, the family intact.
    match s
        .rotate_session(&graced("g-0", "g-1b", NOW + 5))
        .await
        .unwrap()
    {
        Rotation::Repeated {
            successor_sealed,
            family_id,
            ..
        } => {
            assert_eq!(successor_sealed, b"sealed-g-1");
            assert_eq!(family_id, "fam-g");
        }
        other => panic!("{other:?}"),
    }
    assert!(s.active_user("fam-g", &user.id).await.unwrap().is_some());
    // Once the successor itself is spent, the old token is a reuse after all.
    assert!(matches!(
        s.rotate_session(&graced("g-1", "g-2", NOW + 6))
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    assert!(matches!(
        s.rotate_session(&graced("g-0", "g-x", NOW + 7))
            .await
            .unwrap(),
        Rotation::Reused { .. }
    ));
    assert!(s.active_user("fam-g", &user.id).await.unwrap().is_none());

    // Past the grace: a reuse.
    s.create_session(&session("fam-h", &user.id, "h-0"))
        .await
        .unwrap();
    assert!(matches!(
        s.rotate_session(&graced("h-0", "h-1", NOW + 1))
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    assert!(matches!(
        s.rotate_session(&graced("h-0", "h-x", NOW + 12))
            .await
            .unwrap(),
        Rotation::Reused { .. }
    ));
    // Without a grace (the default), the second use is a reuse at once.
    s.create_session(&session("fam-i", &user.id, "i-0"))
        .await
        .unwrap();
    assert!(matches!(
        s.rotate(&hash("i-0"), &hash("i-1"), NOW + 1, NOW + 500)
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    assert!(matches!(
        s.rotate(&hash("i-0"), &hash("i-x"), NOW + 1, NOW + 500)
            .await
            .unwrap(),
        Rotation::Reused { .. }
    ));
}

async fn rotation_stops_at_the_absolute_lifetime(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-m"), NOW, false).await.unwrap();
    s.create_session(&session("fam-m", &user.id, "m-0"))
        .await
        .unwrap();
    let max_age = 1_000;
    let capped = |old: &str, new: &str, now: i64| Rotate {
        max_age_secs: max_age,
        ..rotate_of(old, new, now, now + 800)
    };
    match s
        .rotate_session(&capped("m-0", "m-1", NOW + 100))
        .await
        .unwrap()
    {
        Rotation::Rotated { expires_at, .. } => assert_eq!(expires_at, NOW + 900),
        other => panic!("{other:?}"),
    }
    // The successor's expiry is capped by the session's limit, not extended by rotation.
    match s
        .rotate_session(&capped("m-1", "m-2", NOW + 500))
        .await
        .unwrap()
    {
        Rotation::Rotated { expires_at, .. } => assert_eq!(expires_at, NOW + 1_000),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.rotate_session(&capped("m-2", "m-3", NOW + 1_000))
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert!(s
        .session_user("fam-m", &user.id, NOW + 1_000 - max_age)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .session_user("fam-m", &user.id, NOW - 1)
        .await
        .unwrap()
        .is_some());
}

async fn concurrent_rotation_has_one_winner(db: &TestDb) {
    let user = db
        .store()
        .sign_in(&profile("sub-cr"), NOW, false)
        .await
        .unwrap();
    for round in 0..3 {
        let family = format!("fam-cr-{round}");
        let old = format!("cr-{round}");
        db.store()
            .create_session(&session(&family, &user.id, &old))
            .await
            .unwrap();
        let mut tasks = JoinSet::new();
        for i in 0..12 {
            let store = Arc::clone(&db.store);
            let (old, new) = (hash(&old), hash(&format!("{old}-next-{i}")));
            tasks.spawn(async move { store.rotate(&old, &new, NOW + 1, NOW + 500).await.unwrap() });
        }
        let results = tasks.join_all().await;
        let wins = results
            .iter()
            .filter(|r| matches!(r, Rotation::Rotated { .. }))
            .count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        // The others presented a token already spent: the family is revoked.
        assert!(results.iter().all(|r| match r {
            Rotation::Rotated { family_id, .. } | Rotation::Reused { family_id } =>
                family_id == &family,
            Rotation::Invalid | Rotation::Repeated { .. } => false,
        }));
        assert!(db
            .store()
            .active_user(&family, &user.id)
            .await
            .unwrap()
            .is_none());
    }
}

async fn session_user_after_ending_sessions(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-s"), NOW, false).await.unwrap();
    let other = s.sign_in(&profile("sub-s2"), NOW, false).await.unwrap();
    for f in ["f-1", "f-2", "f-3"] {
        s.create_session(&session(f, &user.id, &format!("{f}-token")))
            .await
            .unwrap();
    }
    s.create_session(&session("f-other", &other.id, "f-other-token"))
        .await
        .unwrap();
    assert_eq!(
        s.active_user("f-1", &user.id).await.unwrap(),
        Some(user.clone())
    );
    assert!(
        s.active_user("f-1", &other.id).await.unwrap().is_none(),
        "not their family"
    );
    assert!(s
        .active_user("no-family", &user.id)
        .await
        .unwrap()
        .is_none());

    s.end_session("f-1").await.unwrap();
    s.end_session("f-1").await.unwrap();
    assert!(s.active_user("f-1", &user.id).await.unwrap().is_none());
    assert!(s.active_user("f-2", &user.id).await.unwrap().is_some());

    s.end_user_sessions(&user.id).await.unwrap();
    assert!(s.active_user("f-2", &user.id).await.unwrap().is_none());
    assert!(s.active_user("f-3", &user.id).await.unwrap().is_none());
    assert!(s.active_user("f-other", &other.id).await.unwrap().is_some());

    s.create_session(&session("f-4", &user.id, "f-4-token"))
        .await
        .unwrap();
    assert!(s.active_user("f-4", &user.id).await.unwrap().is_some());
    s.revoke_consent(TEAM, "sub-s").await.unwrap();
    assert!(s.active_user("f-4", &user.id).await.unwrap().is_none());
    assert!(s.active_user("f-other", &other.id).await.unwrap().is_some());
}

async fn first_seen_event_is_idempotent(db: &TestDb) {
    let s = db.store();
    assert!(s.first_seen_event("jti-1", NOW).await.unwrap());
    assert!(!s.first_seen_event("jti-1", NOW).await.unwrap());
    assert!(!s.first_seen_event("jti-1", NOW + 3600).await.unwrap());
    assert!(s.first_seen_event("jti-2", NOW).await.unwrap());
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = Arc::clone(&db.store);
        tasks.spawn(async move { store.first_seen_event("jti-race", NOW).await.unwrap() });
    }
    assert_eq!(
        tasks
            .join_all()
            .await
            .into_iter()
            .filter(|first| *first)
            .count(),
        1
    );
}

async fn notification_ids_are_purged_after_they_expire(db: &TestDb) {
    let s = db.store();
    let event = |jti: &str, now: i64| Notification {
        jti: jti.into(),
        expires_at: NOW + 86_400,
        team_id: TEAM.into(),
        sub: "sub-purge".into(),
        effect: NotificationEffect::Nothing,
        now,
        source: NotificationSource::Apple,
    };
    assert!(s.apply_notification(&event("jti-old", NOW)).await.unwrap());
    assert!(!s
        .apply_notification(&event("jti-old", NOW + 10))
        .await
        .unwrap());
    assert_eq!(db.count("SELECT COUNT(*) FROM seen_events").await, 1);
    // Past the notification's exp (and the leeway), its id is purged: a replay
    // now fails verification anyway, so nothing is lost by forgetting it.
    let later = NOW + 86_400 + 301;
    let mut fresh = event("jti-new", later);
    fresh.expires_at = later + 86_400;
    assert!(s.apply_notification(&fresh).await.unwrap());
    assert_eq!(db.count("SELECT COUNT(*) FROM seen_events").await, 1);
}

async fn email_forwarding_events(db: &TestDb) {
    let s = db.store();
    let mut p = verified("sub-f", "r1@privaterelay.appleid.com");
    p.is_private_email = true;
    let user = s.sign_in(&p, NOW, false).await.unwrap();
    assert!(user.email_forwarding);
    s.set_email_forwarding(TEAM, "sub-f", None, false)
        .await
        .unwrap();
    s.set_email_forwarding(TEAM, "sub-f", None, false)
        .await
        .unwrap();
    let off = s.user(&user.id).await.unwrap().unwrap();
    assert!(!off.email_forwarding);
    assert_eq!(off.email, user.email);
    s.set_email_forwarding(TEAM, "sub-f", Some("r2@privaterelay.appleid.com"), true)
        .await
        .unwrap();
    let on = s.user(&user.id).await.unwrap().unwrap();
    assert!(on.email_forwarding);
    assert_eq!(on.email.as_deref(), Some("r2@privaterelay.appleid.com"));
    // A sign-in does not turn forwarding back on; it is Apple's to say.
    s.set_email_forwarding(TEAM, "sub-f", None, false)
        .await
        .unwrap();
    assert!(
        !s.sign_in(&p, NOW + 1, false)
            .await
            .unwrap()
            .email_forwarding
    );
    s.set_email_forwarding(TEAM, "unknown-sub", None, false)
        .await
        .unwrap();
}

async fn deletion_queue_lease_retry_finish(db: &TestDb) {
    let s = db.store();
    let user = s
        .sign_in_holding(&profile("sub-d"), NOW, WEB, b"ct-old")
        .await
        .unwrap();
    s.create_session(&session("fam-d", &user.id, "d-0"))
        .await
        .unwrap();
    assert_eq!(s.pending_deletions().await.unwrap(), 0);

    s.enqueue(&user.id, WEB, b"ct-old", NOW).await.unwrap();
    // Asked twice: still one job, holding the newest token.
    s.enqueue(&user.id, WEB, b"ct-new", NOW).await.unwrap();
    assert_eq!(s.pending_deletions().await.unwrap(), 1);
    assert!(
        s.active_user("fam-d", &user.id).await.unwrap().is_none(),
        "sessions end at once"
    );
    assert!(
        s.user(&user.id).await.unwrap().is_some(),
        "the user stays until Apple revokes"
    );

    assert!(
        s.due_deletions(NOW - 1, 10, 60).await.unwrap().is_empty(),
        "not due yet"
    );
    assert!(s.due_deletions(NOW, 0, 60).await.unwrap().is_empty());
    let jobs = s.due_deletions(NOW, 10, 60).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(
        (
            job.user_id.as_str(),
            job.token.client_id.as_str(),
            job.attempts
        ),
        (user.id.as_str(), WEB, 0)
    );
    assert_eq!(job.token.ciphertext, b"ct-new");
    // Leased: nobody else gets it until the lease runs out...
    assert!(s.due_deletions(NOW + 59, 10, 60).await.unwrap().is_empty());
    // ...then it comes back (the worker died).
    let again = s.due_deletions(NOW + 60, 10, 60).await.unwrap();
    assert_eq!(again.iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);

    s.retry_deletion(job.id, NOW + 300, &"Apple unreachable: ".repeat(100))
        .await
        .unwrap();
    assert!(s.due_deletions(NOW + 299, 10, 60).await.unwrap().is_empty());
    let retried = s.due_deletions(NOW + 300, 10, 60).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(s.pending_deletions().await.unwrap(), 1);

    s.finish_deletion(job.id, NOW).await.unwrap();
    s.finish_deletion(job.id, NOW).await.unwrap();
    assert_eq!(s.pending_deletions().await.unwrap(), 0);
    assert!(s.user(&user.id).await.unwrap().is_none());
    assert!(s.apple_link(TEAM, "sub-d").await.unwrap().is_none());
    assert!(s
        .due_deletions(NOW + 10_000, 10, 60)
        .await
        .unwrap()
        .is_empty());
}

async fn concurrent_due_deletions_never_share_a_job(db: &TestDb) {
    let s = db.store();
    for i in 0..40 {
        let user = s
            .sign_in(&profile(&format!("sub-q{i}")), NOW, false)
            .await
            .unwrap();
        s.enqueue(&user.id, WEB, b"ct", NOW + i).await.unwrap();
    }
    let mut seen = HashSet::new();
    for round in 0..10 {
        let mut tasks = JoinSet::new();
        for _ in 0..8 {
            let store = Arc::clone(&db.store);
            tasks.spawn(async move { store.due_deletions(NOW + 100, 3, 600).await.unwrap() });
        }
        for jobs in tasks.join_all().await {
            assert!(jobs.len() <= 3);
            for job in jobs {
                assert!(
                    seen.insert(job.id),
                    "job {} handed out twice (round {round})",
                    job.id
                );
            }
        }
        if seen.len() == 40 {
            break;
        }
    }
    assert_eq!(seen.len(), 40);
}

async fn finish_deletion_keeps_user_until_last_job(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-two"), NOW, false).await.unwrap();
    s.enqueue(&user.id, WEB, b"ct-web", NOW).await.unwrap();
    s.enqueue(&user.id, IOS, b"ct-ios", NOW).await.unwrap();
    let jobs = s.due_deletions(NOW, 10, 60).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(jobs[0].id < jobs[1].id, "oldest first");
    s.finish_deletion(jobs[0].id, NOW).await.unwrap();
    assert!(
        s.user(&user.id).await.unwrap().is_some(),
        "another revoke is still waiting"
    );
    assert_eq!(s.pending_deletions().await.unwrap(), 1);
    s.finish_deletion(jobs[1].id, NOW).await.unwrap();
    assert!(s.user(&user.id).await.unwrap().is_none());
    assert_eq!(s.pending_deletions().await.unwrap(), 0);
}

async fn erase_user_cascades(db: &TestDb) {
    let s = db.store();
    let user = s
        .sign_in(&verified("sub-gone", "gone@example.com"), NOW, true)
        .await
        .unwrap();
    let mut second = verified("sub-gone-2", "gone@example.com");
    second.team_id = "OTHERTEAM1".into();
    s.sign_in(&second, NOW, true).await.unwrap();
    s.sign_in_holding(&verified("sub-gone", "gone@example.com"), NOW, WEB, b"ct")
        .await
        .unwrap();
    s.create_session(&session("fam-gone", &user.id, "g-0"))
        .await
        .unwrap();
    s.rotate(&hash("g-0"), &hash("g-1"), NOW + 1, NOW + 500)
        .await
        .unwrap();
    s.enqueue(&user.id, WEB, b"ct", NOW).await.unwrap();
    let keep = s.sign_in(&profile("sub-keep"), NOW, false).await.unwrap();
    s.create_session(&session("fam-keep", &keep.id, "k-0"))
        .await
        .unwrap();

    s.erase_user(&user.id, NOW).await.unwrap();
    s.erase_user(&user.id, NOW).await.unwrap();
    assert!(s.user(&user.id).await.unwrap().is_none());
    assert!(s.apple_link(TEAM, "sub-gone").await.unwrap().is_none());
    assert!(s.user_apple_tokens(&user.id).await.unwrap().is_empty());
    assert_eq!(db.count("SELECT COUNT(*) FROM apple_tokens").await, 0);
    assert!(s.active_user("fam-gone", &user.id).await.unwrap().is_none());
    assert_eq!(s.pending_deletions().await.unwrap(), 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM apple_identities").await, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM session_families").await, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM sessions").await, 1);
    // The token is gone with the family: presenting it is merely invalid.
    assert_eq!(
        s.rotate(&hash("g-1"), &hash("g-2"), NOW + 2, NOW + 500)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    // A new sign-in of that identity is a new user.
    let back = s
        .sign_in(&profile("sub-gone"), NOW + 3, false)
        .await
        .unwrap();
    assert_ne!(back.id, user.id);
    assert_eq!(back.first_name, None);
    assert!(s.active_user("fam-keep", &keep.id).await.unwrap().is_some());
}

async fn lookups_use_indexes_at_10k_users(db: &TestDb) {
    const USERS: i64 = 10_000;
    const WRITERS: i64 = 8;
    let mut tasks = JoinSet::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&db.store);
        tasks.spawn(async move {
            for i in (w..USERS).step_by(WRITERS as usize) {
                let mut p = verified(&format!("sub-{i:05}"), &format!("user{i}@example.com"));
                p.first_name = Some(format!("First{i}"));
                let user = store.sign_in(&p, NOW + i, false).await.unwrap();
                if i % 10 == 0 {
                    let family = format!("fam-{i}");
                    store
                        .create_session(&session(&family, &user.id, &family))
                        .await
                        .unwrap();
                }
                if i % 10 == 1 {
                    store
                        .put_login(&login(&format!("state-{i}"), NOW + 600))
                        .await
                        .unwrap();
                }
                if i % 10 == 5 {
                    store.enqueue(&user.id, WEB, b"ct", NOW + i).await.unwrap();
                }
            }
        });
    }
    tasks.join_all().await;
    assert_eq!(db.count("SELECT COUNT(*) FROM users").await, USERS);

    // Lookups by the API still answer...
    let link = db
        .store()
        .apple_link(TEAM, "sub-04321")
        .await
        .unwrap()
        .unwrap();
    let user = db.store().user(&link.user_id).await.unwrap().unwrap();
    assert_eq!(user.first_name.as_deref(), Some("First4321"));
    assert!(db
        .store()
        .active_user(
            "fam-4320",
            &db.store()
                .apple_link(TEAM, "sub-04320")
                .await
                .unwrap()
                .unwrap()
                .user_id
        )
        .await
        .unwrap()
        .is_some());

    // ...and the planner answers them from an index, never a table scan.
    let lookups: [(&str, &str, Vec<Param>); 11] = [
        ("user by id", "SELECT * FROM users WHERE id = {1}", vec![Param::Text(user.id.clone())]),
        (
            "identity by team and sub",
            "SELECT * FROM apple_identities WHERE team_id = {1} AND sub = {2}",
            vec![Param::Text(TEAM.into()), Param::Text("sub-04321".into())],
        ),
        ("identities of a user", "SELECT * FROM apple_identities WHERE user_id = {1}", vec![Param::Text(user.id.clone())]),
        ("session by token hash", "SELECT * FROM sessions WHERE token_hash = {1}", vec![Param::Bytes(hash("fam-4320"))]),
        ("tokens of a family", "SELECT * FROM sessions WHERE family_id = {1}", vec![Param::Text("fam-4320".into())]),
        ("families of a user", "SELECT * FROM session_families WHERE user_id = {1}", vec![Param::Text(user.id.clone())]),
        ("user by email", "SELECT id FROM users WHERE email_key = {1}", vec![Param::Text("user4321@example.com".into())]),
        (
            "take a login",
            "DELETE FROM logins WHERE state_hash = {1} AND expires_at > {2}",
            vec![Param::Bytes(hash("state-4321")), Param::Int(NOW)],
        ),
        (
            "family of a refresh token",
            "SELECT user_id, revoked FROM session_families WHERE family_id = {1}",
            vec![Param::Text("fam-4320".into())],
        ),
        (
            "user of an active session",
            "SELECT id FROM users WHERE id = {2} AND EXISTS (SELECT 1 FROM session_families \
             WHERE family_id = {1} AND user_id = {2} AND NOT revoked)",
            vec![Param::Text("fam-4320".into()), Param::Text(user.id.clone())],
        ),
        (
            "due deletions",
            "SELECT id FROM deletion_jobs WHERE next_attempt_at <= {1} ORDER BY next_attempt_at, id LIMIT 10",
            vec![Param::Int(NOW + 100)],
        ),
    ];
    for (what, sql, params) in lookups {
        let plan = db.plan(sql, &params).await;
        println!("{what}:\n{plan}");
        assert!(db.uses_index(&plan), "{what}: {sql}\nplan:\n{plan}");
    }
}

// ------------------------------------------------------- backend-specific

#[tokio::test]
async fn sqlite_creates_the_file_in_wal_mode() {
    let path = temp_path("settings");
    let url = format!("sqlite://{}", path.display());
    let store = siwa_server::store::connect(&url).await.unwrap();
    assert!(path.exists());
    store.ping().await.unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // Migrating again is a no-op.
    store.migrate().await.unwrap();
    drop(conn);
    drop(store);
    remove_sqlite(&path);
}

/// Issue 19: a write that failed because the disk was full (here: the
/// database's page budget) left its pooled connection inside a transaction
/// that SQLite had already rolled back, and every later write on it failed
/// ("attempted to call begin_with at non-zero transaction depth") until a
/// restart. Writes must work again as soon as there is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writes_heal_once_the_full_disk_has_room() {
    use std::str::FromStr;
    let path = temp_path("full");
    let url = format!("sqlite://{}", path.display());
    drop(siwa_server::store::connect(&url).await.unwrap());
    let pages: i64 = {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .pragma("max_page_count", (pages + 40).to_string());
    let store = SqliteStore::connect_with(options).await.unwrap();
    let big = |i: usize| {
        let mut p = profile(&format!("sub-full-{i}"));
        p.first_name = Some(format!("{i}-{}", "x".repeat(2_000)));
        p
    };
    let mut users = Vec::new();
    let mut i = 0;
    let full = loop {
        match store.sign_in(&big(i), NOW, false).await {
            Ok(user) => users.push(user),
            Err(e) => break e,
        }
        i += 1;
        assert!(i < 10_000, "the page budget never ran out");
    };
    assert_eq!(
        full.outage(),
        Some(siwa_server::store::Outage::DiskFull),
        "{full}"
    );
    // Full: every write fails, each connection of the pool meeting it.
    for j in 0..12 {
        let e = store
            .sign_in(&big(10_000 + j), NOW, false)
            .await
            .unwrap_err();
        assert_eq!(
            e.outage(),
            Some(siwa_server::store::Outage::DiskFull),
            "{e}"
        );
    }
    // Room again (erasing users frees their pages): writes work, with no restart.
    for user in users.iter().take(users.len() / 2 + 1) {
        store.erase_user(&user.id, NOW).await.unwrap();
    }
    for j in 0..12 {
        store
            .sign_in(&profile(&format!("sub-after-{j}")), NOW, false)
            .await
            .unwrap();
    }
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    drop((store, conn));
    remove_sqlite(&path);
}

/// Finding 8 of the security review: `siwa serve` created its database readable by everyone.
#[tokio::test]
async fn sqlite_database_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let path = temp_path("modes");
    let url = format!("sqlite://{}", path.display());
    let store = siwa_server::store::connect(&url).await.unwrap();
    store
        .sign_in(&profile("sub-mode"), NOW, false)
        .await
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = PathBuf::from(file);
        if file.exists() {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
    drop(store);
    // An existing database others can read is tightened at start.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = siwa_server::store::connect(&url).await.unwrap();
    assert_eq!(mode(&path), 0o600);
    drop(store);
    remove_sqlite(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_memory_is_one_database() {
    let store: Arc<dyn Store> = Arc::from(
        siwa_server::store::connect("sqlite::memory:")
            .await
            .unwrap(),
    );
    let user = store
        .sign_in(&profile("sub-mem"), NOW, false)
        .await
        .unwrap();
    store.put_login(&login("mem", NOW + 600)).await.unwrap();
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        let id = user.id.clone();
        tasks.spawn(async move {
            let user = store.user(&id).await.unwrap();
            let login = store.take_login(&hash("mem"), NOW).await.unwrap();
            (user.is_some(), login.is_some())
        });
    }
    let results = tasks.join_all().await;
    assert!(
        results.iter().all(|(found, _)| *found),
        "every connection sees the same database"
    );
    assert_eq!(results.iter().filter(|(_, taken)| *taken).count(), 1);
    // A second in-memory store is another database.
    let other = siwa_server::store::connect("sqlite::memory:")
        .await
        .unwrap();
    assert!(other.user(&user.id).await.unwrap().is_none());
}

#[tokio::test]
async fn postgres_errors_and_debug_hide_the_password() {
    let Err(err) = PostgresStore::connect("postgres://app:s3cret-pw@127.0.0.1:1/siwa").await else {
        panic!("nothing listens on port 1");
    };
    assert!(!format!("{err} {err:?}").contains("s3cret-pw"), "{err}");
    let Err(err) = siwa_server::store::connect("mysql://app:s3cret-pw@db/siwa").await else {
        panic!("mysql is not supported");
    };
    assert!(!err.to_string().contains("s3cret-pw"), "{err}");

    let Some(base) = postgres_url() else { return };
    // With trust authentication any password is accepted, so one can be shown not to leak.
    let Some((scheme, rest)) = base.split_once("://") else {
        return;
    };
    let Some((user, host)) = rest.split_once('@') else {
        return;
    };
    if user.contains(':') {
        return;
    }
    let store = PostgresStore::connect(&format!("{scheme}://{user}:s3cret-pw@{host}"))
        .await
        .unwrap();
    // Unmigrated here (the probe's table is missing): its error must not show the password either.
    if let Err(e) = store.ping().await {
        assert!(!format!("{e} {e:?}").contains("s3cret-pw"), "{e}");
    }
    let shown = format!("{store:?}");
    assert!(
        !shown.contains("s3cret-pw") && shown.contains("***"),
        "{shown}"
    );
}

#[test]
fn sqlite_store_debug_is_printable() {
    // Compile-time: both stores are Debug (missing_debug_implementations).
    fn is_debug<T: std::fmt::Debug>() {}
    is_debug::<SqliteStore>();
    is_debug::<PostgresStore>();
}

// -------------------------------------------------------------- the rig

const NOW: i64 = 1_700_000_000;
const TEAM: &str = "DEF123GHIJ";
const WEB: &str = "com.example.web";
const IOS: &str = "com.example.ios";

/// A store under test, with a side door for inspecting its database.
struct TestDb {
    store: Arc<dyn Store>,
    backend: Backend,
}

enum Backend {
    Sqlite {
        path: PathBuf,
        url: String,
    },
    Postgres {
        base: String,
        schema: String,
        url: String,
    },
}

/// A bind parameter for [`TestDb::plan`].
enum Param {
    Bytes(Vec<u8>),
    Int(i64),
    Text(String),
}

impl TestDb {
    async fn sqlite() -> Self {
        let path = temp_path("suite");
        let url = format!("sqlite://{}", path.display());
        let store = siwa_server::store::connect(&url).await.unwrap();
        Self {
            store: Arc::from(store),
            backend: Backend::Sqlite { path, url },
        }
    }

    /// A store in a fresh schema, or `None` (said once) without a database.
    async fn postgres() -> Option<Self> {
        let Some(base) = postgres_url() else {
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                // Straight to stderr: the test harness captures `eprintln!`.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping PostgreSQL store tests: SIWA_TEST_DATABASE_URL is not set"
                );
            });
            return None;
        };
        let schema = format!("siwa_test_{}", random_hex(8));
        let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let store = siwa_server::store::connect(&url).await.unwrap();
        Some(Self {
            store: Arc::from(store),
            backend: Backend::Postgres { base, schema, url },
        })
    }

    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// A count, straight from the database.
    async fn count(&self, sql: &str) -> i64 {
        match &self.backend {
            Backend::Sqlite { url, .. } => {
                let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
            Backend::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
        }
    }

    /// The query plan of `sql`, whose `{n}` are bind parameters, as text.
    async fn plan(&self, sql: &str, params: &[Param]) -> String {
        match &self.backend {
            Backend::Sqlite { url, .. } => {
                let mut sql = sql.to_string();
                for n in 1..=params.len() {
                    sql = sql.replace(&format!("{{{n}}}"), &format!("?{n}"));
                }
                let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
                let explain = format!("EXPLAIN QUERY PLAN {sql}");
                let mut q = sqlx::query(&explain);
                for p in params {
                    q = match p {
                        Param::Bytes(b) => q.bind(b.clone()),
                        Param::Int(i) => q.bind(*i),
                        Param::Text(t) => q.bind(t.clone()),
                    };
                }
                let rows = q.fetch_all(&mut conn).await.unwrap();
                rows.iter()
                    .map(|row| sqlx::Row::get::<String, _>(row, "detail"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Backend::Postgres { url, .. } => {
                let mut sql = sql.to_string();
                for n in 1..=params.len() {
                    sql = sql.replace(&format!("{{{n}}}"), &format!("${n}"));
                }
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
                let explain = format!("EXPLAIN {sql}");
                let mut q = sqlx::query(&explain);
                for p in params {
                    q = match p {
                        Param::Bytes(b) => q.bind(b.clone()),
                        Param::Int(i) => q.bind(*i),
                        Param::Text(t) => q.bind(t.clone()),
                    };
                }
                let rows = q.fetch_all(&mut conn).await.unwrap();
                rows.iter()
                    .map(|row| sqlx::Row::get::<String, _>(row, 0))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
    }

    /// Whether a plan reads through an index and never scans a table.
    fn uses_index(&self, plan: &str) -> bool {
        match self.backend {
            // "SEARCH users USING PRIMARY KEY (id=?)", "... USING INDEX ...",
            // never "SCAN users".
            Backend::Sqlite { .. } => {
                plan.contains("SEARCH") && plan.contains("USING") && !plan.contains("SCAN")
            }
            // "Index Scan", "Index Only Scan", "Bitmap Index Scan"; never "Seq Scan".
            Backend::Postgres { .. } => plan.contains("Index") && !plan.contains("Seq Scan"),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.backend {
            Backend::Sqlite { path, .. } => remove_sqlite(path),
            Backend::Postgres { base, schema, .. } => {
                // Drop runs inside the test's runtime (or while unwinding): a
                // thread of its own with its own runtime does the async part.
                let (base, schema) = (base.clone(), schema.clone());
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
                        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .execute(&mut admin)
                            .await
                            .unwrap();
                    });
                });
                let _ = dropped.join();
            }
        }
    }
}

fn postgres_url() -> Option<String> {
    std::env::var("SIWA_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

fn temp_path(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("siwa-store-{what}-{}.db", random_hex(8)))
}

fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a test secret, as the server stores states and tokens.
fn hash(secret: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

fn profile(sub: &str) -> AppleProfile {
    AppleProfile {
        team_id: TEAM.into(),
        sub: sub.into(),
        client_id: WEB.into(),
        ..AppleProfile::default()
    }
}

fn verified(sub: &str, email: &str) -> AppleProfile {
    AppleProfile {
        email: Some(email.into()),
        email_verified: true,
        ..profile(sub)
    }
}

fn login(state: &str, expires_at: i64) -> NewLogin {
    NewLogin {
        state_hash: hash(state),
        nonce: format!("nonce-{state}"),
        browser_hash: hash(&format!("browser-{state}")),
        return_to: "https://example.com/after".into(),
        client_id: Some("com.example.web2".into()),
        redirect_uri: Some(format!("https://example.com/popup/{state}")),
        created_at: NOW,
        expires_at,
    }
}

fn session(family: &str, user_id: &str, token: &str) -> NewSession {
    start(family, token).of(user_id)
}

fn start(family: &str, token: &str) -> SessionStart {
    SessionStart {
        family_id: family.into(),
        client_id: WEB.into(),
        token_hash: hash(token),
        created_at: NOW,
        expires_at: NOW + 30 * 86_400,
    }
}

/// A sign-in of `profile` at `now` with nothing else (no token, no session).
fn sign_in_of(profile: AppleProfile, now: i64) -> SignIn {
    SignIn {
        profile,
        now,
        link_by_email: false,
        apple_token: None,
        identity_token: None,
        session: None,
    }
}

/// A strict rotation (no grace) with a long absolute lifetime.
fn rotate_of(old: &str, new: &str, now: i64, expires_at: i64) -> Rotate {
    Rotate {
        old_hash: hash(old),
        new_hash: hash(new),
        successor_sealed: None,
        now,
        expires_at,
        max_age_secs: 365 * 86_400,
        reuse_grace_secs: 0,
        grant_client: None,
    }
}

/// The suite's shorthands over the store's operations.
trait StoreExt: Store {
    /// A completed sign-in with nothing but the profile.
    fn sign_in<'a>(
        &'a self,
        profile: &'a AppleProfile,
        now: i64,
        link_by_email: bool,
    ) -> impl Future<Output = StoreResult<User>> + Send + 'a {
        async move {
            let sign_in = SignIn {
                link_by_email,
                ..sign_in_of(profile.clone(), now)
            };
            match self.complete_sign_in(&sign_in).await? {
                SignInOutcome::SignedIn(user) => Ok(user),
                other => panic!("{other:?}"),
            }
        }
    }

    /// A completed sign-in that brought Apple's refresh token of `client_id`.
    fn sign_in_holding<'a>(
        &'a self,
        profile: &'a AppleProfile,
        now: i64,
        client_id: &'a str,
        ciphertext: &'a [u8],
    ) -> impl Future<Output = StoreResult<User>> + Send + 'a {
        async move {
            let sign_in = SignIn {
                apple_token: Some(SealedAppleToken {
                    client_id: client_id.into(),
                    ciphertext: ciphertext.to_vec(),
                }),
                ..sign_in_of(profile.clone(), now)
            };
            match self.complete_sign_in(&sign_in).await? {
                SignInOutcome::SignedIn(user) => Ok(user),
                other => panic!("{other:?}"),
            }
        }
    }

    /// A notification of its own id.
    fn notify<'a>(
        &'a self,
        sub: &'a str,
        effect: NotificationEffect,
    ) -> impl Future<Output = StoreResult<bool>> + Send + 'a {
        async move {
            self.apply_notification(&Notification {
                jti: random_hex(8),
                expires_at: NOW + 86_400,
                team_id: TEAM.into(),
                sub: sub.into(),
                effect,
                now: NOW,
                source: NotificationSource::Apple,
            })
            .await
        }
    }

    fn revoke_consent<'a>(
        &'a self,
        team: &'a str,
        sub: &'a str,
    ) -> impl Future<Output = StoreResult<bool>> + Send + 'a {
        assert_eq!(team, TEAM);
        self.notify(sub, NotificationEffect::ConsentRevoked)
    }

    fn set_email_forwarding<'a>(
        &'a self,
        team: &'a str,
        sub: &'a str,
        email: Option<&'a str>,
        enabled: bool,
    ) -> impl Future<Output = StoreResult<bool>> + Send + 'a {
        assert_eq!(team, TEAM);
        let effect = NotificationEffect::EmailForwarding {
            email: email.map(str::to_owned),
            enabled,
        };
        self.notify(sub, effect)
    }

    /// Whether a notification id is new (recording it).
    fn first_seen_event<'a>(
        &'a self,
        jti: &'a str,
        now: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send + 'a {
        async move {
            self.apply_notification(&Notification {
                jti: jti.into(),
                expires_at: NOW + 86_400,
                team_id: TEAM.into(),
                sub: "sub-none".into(),
                effect: NotificationEffect::Nothing,
                now,
                source: NotificationSource::Apple,
            })
            .await
        }
    }

    /// A strict rotation (see [`rotate_of`]).
    fn rotate<'a>(
        &'a self,
        old: &'a [u8],
        new: &'a [u8],
        now: i64,
        expires_at: i64,
    ) -> impl Future<Output = StoreResult<Rotation>> + Send + 'a {
        async move {
            self.rotate_session(&Rotate {
                old_hash: old.to_vec(),
                new_hash: new.to_vec(),
                ..rotate_of("", "", now, expires_at)
            })
            .await
        }
    }

    /// The user of an active session, whatever its age.
    fn active_user<'a>(
        &'a self,
        family: &'a str,
        user_id: &'a str,
    ) -> impl Future<Output = StoreResult<Option<User>>> + Send + 'a {
        self.session_user(family, user_id, i64::MIN)
    }

    /// Queues a deletion for the user's token of `client_id` (one identity).
    fn enqueue<'a>(
        &'a self,
        user_id: &'a str,
        client_id: &'a str,
        ciphertext: &'a [u8],
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send + 'a {
        async move {
            let token = AppleToken {
                team_id: TEAM.into(),
                sub: format!("sub-of-{user_id}"),
                client_id: client_id.into(),
                ciphertext: ciphertext.to_vec(),
            };
            self.enqueue_deletion(user_id, &token, now).await
        }
    }
}

impl<T: Store + ?Sized> StoreExt for T {}
