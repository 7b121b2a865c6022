//! The webhooks' outbox and the daily check's token queue, on both backends.

use siwa_server::store::{EventFilter, EventState, SealedAppleToken, SignIn, Store};

use super::{profile, sign_in_of, StoreExt as _, TestDb, IOS, NOW};

/// The types recorded so far, oldest first.
async fn types(s: &dyn Store) -> Vec<String> {
    let mut events = s
        .list_events(&EventFilter {
            limit: 100,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    events.reverse();
    events.into_iter().map(|e| e.kind).collect()
}

pub(super) async fn sign_ins_record_created_updated_and_signed_in_events(db: &TestDb) {
    let s = db.store();
    let user = s.sign_in(&profile("sub-w"), NOW, false).await.unwrap();
    assert_eq!(types(s).await, ["user.created", "user.signed_in"]);
    // The name sent on a later sign-in changes the user: user.updated, naming the fields.
    let mut named = profile("sub-w");
    named.first_name = Some("Ada".into());
    s.sign_in(&named, NOW + 1, false).await.unwrap();
    // The same again changes nothing: no user.updated.
    s.sign_in(&named, NOW + 2, false).await.unwrap();
    assert_eq!(
        types(s).await,
        [
            "user.created",
            "user.signed_in",
            "user.updated",
            "user.signed_in",
            "user.signed_in"
        ]
    );
    let updated = s
        .list_events(&EventFilter {
            limit: 100,
            ..EventFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "user.updated")
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&updated.body).unwrap();
    assert_eq!(body["data"]["changed"], serde_json::json!(["first_name"]));
    assert_eq!(body["data"]["user"]["first_name"], "Ada");
    assert_eq!(updated.user_id, user.id);
    // Erasing the account records user.deleted, without the user.
    s.erase_user(&user.id, NOW + 3).await.unwrap();
    assert_eq!(
        types(s).await.last().map(String::as_str),
        Some("user.deleted")
    );
    // Erasing again (nobody left) records nothing more.
    s.erase_user(&user.id, NOW + 4).await.unwrap();
    assert_eq!(types(s).await.len(), 6);
}

pub(super) async fn events_are_leased_one_per_user_in_order_and_once(db: &TestDb) {
    let s = db.store();
    let a = s.sign_in(&profile("sub-a"), NOW, false).await.unwrap();
    let b = s.sign_in(&profile("sub-b"), NOW, false).await.unwrap();
    // Each user's oldest pending event only: one in flight per user.
    let leased = s.lease_events(NOW, 10, 60).await.unwrap();
    let mut users: Vec<&str> = leased.iter().map(|e| e.user_id.as_str()).collect();
    users.sort_unstable();
    let mut expected = [a.id.as_str(), b.id.as_str()];
    expected.sort_unstable();
    assert_eq!(users, expected);
    assert!(leased.iter().all(|e| e.kind == "user.created"));
    // Leased: no other worker takes them, and the users' next events wait.
    assert!(s.lease_events(NOW, 10, 60).await.unwrap().is_empty());
    // One delivered, one retried later: only the delivered user's next event is due.
    let (done, failed) = (&leased[0], &leased[1]);
    s.mark_delivered_to(done.seq, "https://app.example/h", NOW)
        .await
        .unwrap();
    assert_eq!(
        s.delivered_endpoints(done.seq).await.unwrap(),
        ["https://app.example/h"]
    );
    s.finish_event(done.seq, EventState::Delivered, NOW, None)
        .await
        .unwrap();
    s.retry_event(failed.seq, NOW + 30, "answered HTTP 503")
        .await
        .unwrap();
    let next = s.lease_events(NOW + 1, 10, 60).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].user_id.as_str(), next[0].kind.as_str()),
        (done.user_id.as_str(), "user.signed_in")
    );
    assert_eq!(s.event_backlog().await.unwrap(), 3);
    // Past the lease, an unfinished event is due again (a worker died holding it).
    let again = s.lease_events(NOW + 62, 10, 60).await.unwrap();
    let kinds: Vec<(&str, &str)> = again
        .iter()
        .map(|e| (e.user_id.as_str(), e.kind.as_str()))
        .collect();
    assert!(
        kinds.contains(&(done.user_id.as_str(), "user.signed_in")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(failed.user_id.as_str(), "user.created")),
        "{kinds:?}"
    );
    let retried = s.event(&failed.event_id).await.unwrap().unwrap();
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.last_error.as_deref(), Some("answered HTTP 503"));
}

pub(super) async fn failed_events_are_listed_requeued_and_finished_ones_purged(db: &TestDb) {
    let s = db.store();
    s.sign_in(&profile("sub-f"), NOW, false).await.unwrap();
    let leased = s.lease_events(NOW, 10, 60).await.unwrap();
    let event = &leased[0];
    s.mark_delivered_to(event.seq, "https://one.example/h", NOW)
        .await
        .unwrap();
    s.finish_event(
        event.seq,
        EventState::Failed,
        NOW,
        Some("https://two.example/h: cannot connect"),
    )
    .await
    .unwrap();
    let failed = s
        .list_events(&EventFilter {
            state: Some(EventState::Failed),
            limit: 10,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].event_id, event.event_id);
    // A retry sends it again to every endpoint, from now.
    assert!(s.requeue_event(&event.event_id, NOW + 5).await.unwrap());
    assert!(!s.requeue_event("msg_unknown", NOW + 5).await.unwrap());
    assert!(s.delivered_endpoints(event.seq).await.unwrap().is_empty());
    let requeued = s.event(&event.event_id).await.unwrap().unwrap();
    assert_eq!(
        (requeued.state, requeued.attempts, requeued.last_error),
        (EventState::Pending, 0, None)
    );
    // Finished events are purged once old enough; pending ones never.
    s.finish_event(event.seq, EventState::Delivered, NOW + 6, None)
        .await
        .unwrap();
    s.purge_events(NOW + 6).await.unwrap();
    assert!(
        s.event(&event.event_id).await.unwrap().is_some(),
        "not yet past the cutoff"
    );
    s.purge_events(NOW + 7).await.unwrap();
    assert!(s.event(&event.event_id).await.unwrap().is_none());
    assert_eq!(
        s.event_backlog().await.unwrap(),
        1,
        "the pending user.signed_in stays"
    );
}

pub(super) async fn apple_tokens_come_due_once_per_interval(db: &TestDb) {
    let s = db.store();
    // Two users, each with an Apple token stored at NOW by their sign-in.
    for sub in ["sub-t1", "sub-t2"] {
        s.complete_sign_in(&SignIn {
            apple_token: Some(SealedAppleToken {
                client_id: IOS.into(),
                ciphertext: b"ct".to_vec(),
            }),
            ..sign_in_of(profile(sub), NOW)
        })
        .await
        .unwrap();
    }
    let day = 86_400;
    assert_eq!(s.token_check_counts(NOW - day).await.unwrap(), (2, 0));
    assert!(
        s.take_token_checks(NOW - day, 10, NOW)
            .await
            .unwrap()
            .is_empty(),
        "fresh tokens wait a day"
    );
    // A day later both are due; a quota of one takes one, then the other.
    let later = NOW + day;
    assert_eq!(s.token_check_counts(later - day).await.unwrap(), (2, 2));
    let first = s.take_token_checks(later - day, 1, later).await.unwrap();
    assert_eq!(first.len(), 1);
    let second = s.take_token_checks(later - day, 10, later).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].sub, second[0].sub);
    assert!(
        s.take_token_checks(later - day, 10, later)
            .await
            .unwrap()
            .is_empty(),
        "each once per interval"
    );
    // A failed check counts as made an hour before the interval ends: due again within the hour.
    s.reschedule_token_check(&first[0], later + 3_600 - day)
        .await
        .unwrap();
    assert!(s
        .take_token_checks(later + 3_599 - day, 10, later + 3_599)
        .await
        .unwrap()
        .is_empty());
    let retried = s
        .take_token_checks(later + 3_600 - day, 10, later + 3_600)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].sub, first[0].sub);
}
