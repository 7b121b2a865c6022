//! The key cache against a local key server on 127.0.0.1:0, through the
//! real reqwest client. Time that the cache judges (freshness, grace, rate
//! limit) comes from a `ManualClock`; tokio's timer bounds every wait.

use std::future::Future;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use siwa_kit::clock::{ManualClock, UnixTime};
use siwa_kit::http::{HttpClient, HttpError, ReqwestClient};
use siwa_kit::id_token::VerifyError;
use siwa_kit::jwks::{FetchError, JwkSet, KeyCache, KeyLookupError};
use siwa_kit::Verifier;
use tokio::task::JoinHandle;

use crate::support::{claims_with, client, header as jws_header, key_a, key_b, TestKey, IOS};

const T0: u64 = 1_800_000_000;
/// Every test ends within this, whatever happens.
const TEST_LIMIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Served {
    jwks: Mutex<String>,
    cache_control: Mutex<Option<String>>,
    hits: AtomicUsize,
    status: AtomicU16,
    delay_ms: AtomicU64,
    redirect_hits: AtomicUsize,
}

/// A stand-in for Apple's `/auth/keys`.
struct KeyServer {
    served: Arc<Served>,
    url: http::Uri,
    task: JoinHandle<()>,
}

impl KeyServer {
    async fn start(keys: &[&TestKey]) -> Self {
        let served = Arc::new(Served::default());
        served.status.store(200, Ordering::SeqCst);
        let app = Router::new()
            .route("/auth/keys", get(keys_route))
            .route("/moved", get(moved_route))
            .route("/elsewhere", get(elsewhere_route))
            .with_state(Arc::clone(&served));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let server = Self {
            served,
            url: format!("http://{addr}/auth/keys").parse().expect("url"),
            task,
        };
        server.serve(keys);
        server
    }

    fn serve(&self, keys: &[&TestKey]) {
        *self.served.jwks.lock().unwrap() =
            JwkSet::new(keys.iter().map(|k| k.jwk()).collect()).to_json();
    }

    fn serve_body(&self, body: String) {
        *self.served.jwks.lock().unwrap() = body;
    }

    fn cache_control(&self, value: &str) {
        *self.served.cache_control.lock().unwrap() = Some(value.to_owned());
    }

    fn status(&self, status: u16) {
        self.served.status.store(status, Ordering::SeqCst);
    }

    fn delay(&self, ms: u64) {
        self.served.delay_ms.store(ms, Ordering::SeqCst);
    }

    fn hits(&self) -> usize {
        self.served.hits.load(Ordering::SeqCst)
    }

    fn url_of(&self, path: &str) -> http::Uri {
        let authority = self.url.authority().expect("authority");
        format!("http://{authority}{path}").parse().expect("url")
    }

    /// Stops accepting connections (responses say `Connection: close`, so
    /// no pooled connection outlives this).
    fn stop(&self) {
        self.task.abort();
    }
}

async fn keys_route(State(served): State<Arc<Served>>) -> Response {
    served.hits.fetch_add(1, Ordering::SeqCst);
    let delay = served.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = StatusCode::from_u16(served.status.load(Ordering::SeqCst)).expect("status");
    let mut headers = HeaderMap::new();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    if let Some(value) = served.cache_control.lock().unwrap().clone() {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(&value).expect("header"),
        );
    }
    let body = if status == StatusCode::OK {
        served.jwks.lock().unwrap().clone()
    } else {
        String::new()
    };
    (status, headers, body).into_response()
}

async fn moved_route() -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, "/elsewhere"),
            (header::CONNECTION, "close"),
        ],
    )
        .into_response()
}

async fn elsewhere_route(State(served): State<Arc<Served>>) -> Response {
    served.redirect_hits.fetch_add(1, Ordering::SeqCst);
    (StatusCode::OK, served.jwks.lock().unwrap().clone()).into_response()
}

fn reqwest_client() -> Arc<dyn HttpClient> {
    Arc::new(ReqwestClient::new().expect("client"))
}

/// A remote cache on `url` and a verifier of [`IOS`] tokens, both on `clock`.
fn remote(url: http::Uri, clock: &Arc<ManualClock>) -> (Arc<KeyCache>, Verifier) {
    remote_with(KeyCache::remote(url, reqwest_client()), clock)
}

fn remote_with(cache: KeyCache, clock: &Arc<ManualClock>) -> (Arc<KeyCache>, Verifier) {
    let cache = Arc::new(
        cache
            .clock(clock.clone())
            .stale_grace_secs(3_600)
            .refetch_interval_secs(30),
    );
    let verifier = Verifier::new(Arc::clone(&cache), [client(IOS)]).clock(clock.clone());
    (cache, verifier)
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(UnixTime::from_secs(T0)))
}

/// A token of `key`, valid from T0 for two days.
fn token(key: &TestKey) -> String {
    key.sign(&claims_with(
        json!({"aud": IOS, "iat": T0, "auth_time": T0, "exp": T0 + 2 * 86_400}),
    ))
}

/// A token signed by key A that names a kid no set has.
fn token_with_kid(kid: &str) -> String {
    let claims =
        claims_with(json!({"aud": IOS, "iat": T0, "auth_time": T0, "exp": T0 + 2 * 86_400}));
    key_a().sign_raw(jws_header(kid).as_bytes(), claims.to_string().as_bytes())
}

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, future)
        .await
        .expect("the test took too long")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_in_many_concurrent_verifications_causes_one_fetch() {
    bounded(async {
        let server = KeyServer::start(&[key_a()]).await;
        let clock = clock();
        let (cache, verifier) = remote(server.url.clone(), &clock);
        cache.refresh().await.expect("warm");
        assert_eq!(server.hits(), 1);
        // Apple adds key B; tokens signed by it arrive, 32 at once, while the
        // refetch is slow.
        server.serve(&[key_a(), key_b()]);
        server.delay(300);
        clock.advance(31);
        let verifier = Arc::new(verifier);
        let token = Arc::new(token(key_b()));
        let barrier = Arc::new(tokio::sync::Barrier::new(32));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (verifier, token, barrier) = (verifier.clone(), token.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    verifier.verify(&token).await
                })
            })
            .collect();
        for task in tasks {
            let claims = task
                .await
                .expect("task")
                .expect("key B is fetched once and verifies");
            assert_eq!(claims.audience(), IOS);
        }
        assert_eq!(server.hits(), 2, "one fetch for all 32");
    })
    .await;
}

#[tokio::test]
async fn second_unknown_kid_inside_the_interval_causes_no_fetch() {
    bounded(async {
        let server = KeyServer::start(&[key_a()]).await;
        let clock = clock();
        let (_, verifier) = remote(server.url.clone(), &clock);
        verifier.verify(&token(key_a())).await.expect("A verifies");
        assert_eq!(server.hits(), 1);
        clock.advance(31);
        // An unknown kid: one refetch, still unknown.
        let first = verifier.verify(&token_with_kid("FORGED0001")).await;
        assert!(
            matches!(
                first,
                Err(VerifyError::Key(KeyLookupError::UnknownKid { .. }))
            ),
            "{first:?}"
        );
        assert_eq!(server.hits(), 2);
        // Another unknown kid inside the interval: no fetch.
        clock.advance(29);
        for kid in ["FORGED0002", "FORGED0003", "FORGED0001"] {
            let again = verifier.verify(&token_with_kid(kid)).await;
            assert!(matches!(
                again,
                Err(VerifyError::Key(KeyLookupError::UnknownKid { .. }))
            ));
        }
        assert_eq!(server.hits(), 2, "no fetch inside the refetch interval");
        // Known keys keep verifying meanwhile, without fetches.
        verifier
            .verify(&token(key_a()))
            .await
            .expect("A still verifies");
        assert_eq!(server.hits(), 2);
        // Once the interval has passed, one more.
        clock.advance(1);
        let _ = verifier.verify(&token_with_kid("FORGED0004")).await;
        assert_eq!(server.hits(), 3);
    })
    .await;
}

#[tokio::test]
async fn server_down_cached_keys_verify_within_grace_then_fail() {
    bounded(async {
        let server = KeyServer::start(&[key_a()]).await;
        server.cache_control("public, max-age=600");
        let clock = clock();
        let (_, verifier) = remote(server.url.clone(), &clock);
        let token = token(key_a());
        verifier.verify(&token).await.expect("fresh");
        server.stop();
        // Stale, and Apple is down: the keys in hand serve.
        clock.advance(601);
        verifier
            .verify(&token)
            .await
            .expect("stale-if-error, just after expiry");
        clock.set(UnixTime::from_secs(T0 + 600 + 3_599));
        verifier
            .verify(&token)
            .await
            .expect("stale-if-error, end of the grace period");
        assert_eq!(server.hits(), 1);
        // Past the grace period: no key.
        clock.set(UnixTime::from_secs(T0 + 600 + 3_600));
        match verifier.verify(&token).await {
            Err(
                e @ VerifyError::Key(KeyLookupError::Expired {
                    expired_at,
                    source: Some(_),
                }),
            ) => {
                assert_eq!(expired_at.secs(), T0 + 600 + 3_600);
                assert!(e.is_unavailable());
            }
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn server_errors_keep_cached_keys_within_grace_then_fail() {
    bounded(async {
        let server = KeyServer::start(&[key_a()]).await;
        server.cache_control("max-age=600");
        let clock = clock();
        let (_, verifier) = remote(server.url.clone(), &clock);
        let token = token(key_a());
        verifier.verify(&token).await.expect("fresh");
        server.status(503);
        clock.advance(700);
        verifier.verify(&token).await.expect("stale-if-error");
        assert_eq!(server.hits(), 2, "a refresh was tried");
        // Failed refreshes are retried at most once per interval.
        clock.advance(10);
        verifier.verify(&token).await.expect("stale-if-error");
        assert_eq!(server.hits(), 2);
        clock.set(UnixTime::from_secs(T0 + 600 + 3_600 + 1));
        match verifier.verify(&token).await {
            Err(VerifyError::Key(KeyLookupError::Expired {
                source: Some(source),
                ..
            })) => {
                assert!(
                    matches!(*source, FetchError::Status { status: 503, .. }),
                    "{source:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        // Apple is back: verification resumes without a restart.
        server.status(200);
        clock.advance(31);
        verifier.verify(&token).await.expect("recovered");
    })
    .await;
}

#[tokio::test]
async fn key_rotation_is_picked_up_without_restart() {
    bounded(async {
        let server = KeyServer::start(&[key_a()]).await;
        server.cache_control("max-age=86400");
        let clock = clock();
        let (cache, verifier) = remote(server.url.clone(), &clock);
        verifier.verify(&token(key_a())).await.expect("A verifies");
        // Apple rotates: B in, A out.
        server.serve(&[key_b()]);
        clock.advance(60);
        verifier
            .verify(&token(key_b()))
            .await
            .expect("B is picked up on its first token");
        assert_eq!(server.hits(), 2);
        assert_eq!(cache.kids(), [key_b().kid]);
        // A is gone from the fresh set; inside the interval, no fetch for it.
        let gone = verifier.verify(&token(key_a())).await;
        assert!(
            matches!(
                gone,
                Err(VerifyError::Key(KeyLookupError::UnknownKid { .. }))
            ),
            "{gone:?}"
        );
        assert_eq!(server.hits(), 2);
    })
    .await;
}

#[tokio::test]
async fn max_age_sets_freshness_within_bounds() {
    bounded(async {
        let server = KeyServer::start(&[key_a()]).await;
        server.cache_control("max-age=120");
        let clock = clock();
        let (_, verifier) = remote(server.url.clone(), &clock);
        let token = token(key_a());
        verifier.verify(&token).await.expect("verifies");
        clock.advance(119);
        verifier.verify(&token).await.expect("verifies");
        assert_eq!(server.hits(), 1, "fresh for 120 s");
        clock.advance(1);
        verifier.verify(&token).await.expect("verifies");
        assert_eq!(server.hits(), 2, "stale at 120 s: refetched");
        // A huge max-age is capped at 24 h.
        server.cache_control("max-age=99999999");
        clock.advance(120);
        verifier.verify(&token).await.expect("verifies");
        assert_eq!(server.hits(), 3);
        clock.advance(86_399);
        verifier.verify(&token).await.expect("verifies");
        assert_eq!(server.hits(), 3);
        clock.advance(1);
        verifier.verify(&token).await.expect("verifies");
        assert_eq!(server.hits(), 4);
    })
    .await;
}

#[tokio::test]
async fn fetch_times_out() {
    bounded(async {
        let server = KeyServer::start(&[key_a()]).await;
        server.delay(10_000);
        let clock = clock();
        let cache = KeyCache::remote(server.url.clone(), reqwest_client())
            .fetch_timeout(Duration::from_millis(300));
        let (_, verifier) = remote_with(cache, &clock);
        let started = std::time::Instant::now();
        match verifier.verify(&token(key_a())).await {
            Err(e @ VerifyError::Key(KeyLookupError::Unavailable { .. })) => {
                let VerifyError::Key(KeyLookupError::Unavailable { source }) = &e else {
                    unreachable!()
                };
                assert!(matches!(**source, FetchError::Timeout { .. }), "{source:?}");
                assert!(e.is_unavailable());
            }
            other => panic!("{other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    })
    .await;
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    bounded(async {
        let server = KeyServer::start(&[]).await;
        let padding = "x".repeat(300 * 1024);
        server.serve_body(format!(r#"{{"keys":[],"padding":"{padding}"}}"#));
        let clock = clock();
        // The cache's own limit (256 KiB).
        let (cache, _) = remote(server.url.clone(), &clock);
        match cache.refresh().await {
            Err(KeyLookupError::Unavailable { source }) => {
                assert!(
                    matches!(*source, FetchError::TooLarge { max: 262_144, .. }),
                    "{source:?}"
                )
            }
            other => panic!("{other:?}"),
        }
        // The HTTP client's cap, enforced while reading.
        let small = ReqwestClient::with_limits(Duration::from_secs(5), 64 * 1024).expect("client");
        let (cache, _) = remote_with(
            KeyCache::remote(server.url.clone(), Arc::new(small)),
            &clock,
        );
        match cache.refresh().await {
            Err(KeyLookupError::Unavailable { source }) => assert!(
                matches!(
                    *source,
                    FetchError::Http {
                        source: HttpError::BodyTooLarge { limit: 65_536 },
                        ..
                    }
                ),
                "{source:?}"
            ),
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    bounded(async {
        let server = KeyServer::start(&[key_a()]).await;
        let clock = clock();
        let (cache, _) = remote(server.url_of("/moved"), &clock);
        match cache.refresh().await {
            Err(KeyLookupError::Unavailable { source }) => {
                assert!(
                    matches!(*source, FetchError::Status { status: 302, .. }),
                    "{source:?}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(server.served.redirect_hits.load(Ordering::SeqCst), 0);
    })
    .await;
}

#[tokio::test]
async fn first_fetch_failing_is_retried_once_per_interval() {
    bounded(async {
        let server = KeyServer::start(&[key_a()]).await;
        server.status(500);
        let clock = clock();
        let (_, verifier) = remote(server.url.clone(), &clock);
        let token = token(key_a());
        for _ in 0..3 {
            let result = verifier.verify(&token).await;
            assert!(
                matches!(
                    &result,
                    Err(VerifyError::Key(KeyLookupError::Unavailable { .. }))
                ),
                "{result:?}"
            );
        }
        assert_eq!(server.hits(), 1);
        server.status(200);
        clock.advance(30);
        verifier
            .verify(&token)
            .await
            .expect("verifies once Apple answers");
        assert_eq!(server.hits(), 2);
    })
    .await;
}

#[tokio::test]
async fn malformed_key_sets_are_refused_and_the_old_one_kept() {
    bounded(async {
        let server = KeyServer::start(&[key_a()]).await;
        server.cache_control("max-age=60");
        let clock = clock();
        let (_, verifier) = remote(server.url.clone(), &clock);
        let token = token(key_a());
        verifier.verify(&token).await.expect("fresh");
        server.serve_body(r#"{"keys":[],"keys":[]}"#.to_owned());
        clock.advance(61);
        verifier
            .verify(&token)
            .await
            .expect("the previous set serves");
        assert_eq!(server.hits(), 2);
    })
    .await;
}

#[tokio::test]
async fn an_abandoned_fetch_still_counts_and_says_so() {
    bounded(async {
        let server = KeyServer::start(&[key_a()]).await;
        server.delay(5_000);
        let clock = clock();
        let (_, verifier) = remote(server.url.clone(), &clock);
        let verifier = Arc::new(verifier);
        let token = Arc::new(token(key_a()));
        let task = {
            let (verifier, token) = (verifier.clone(), token.clone());
            tokio::spawn(async move { verifier.verify(&token).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        task.abort();
        let _ = task.await;
        // Inside the interval: no second fetch, and the reason is given.
        match verifier.verify(&token).await {
            Err(VerifyError::Key(KeyLookupError::Unavailable { source })) => {
                assert!(
                    matches!(*source, FetchError::Interrupted { .. }),
                    "{source:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(server.hits(), 1);
    })
    .await;
}
