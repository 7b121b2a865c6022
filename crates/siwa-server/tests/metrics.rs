//! `/metrics` after a sign-in: every metric the README documents is there,
//! under the names and labels it gives, in both text formats.

use crate::harness::{Backend, Browser, World};

/// The names in the README's table of metrics but those marked
/// "PostgreSQL only" (the tests' world runs on a SQLite file).
fn documented() -> Vec<&'static str> {
    let names: Vec<&str> = include_str!("../../../README.md")
        .lines()
        .filter(|line| !line.contains("PostgreSQL only"))
        .filter_map(|line| line.strip_prefix("| `siwa_"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    assert!(names.len() >= 20, "the README's table: {names:?}");
    names
}

async fn scrape(world: &World, accept: Option<&str>) -> (String, String) {
    let mut request = world.http.get(format!("{}/metrics", world.server(0)));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series}:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_metric_is_served_after_a_sign_in() {
    let world = World::start(Backend::Sqlite).await;
    let server = world.server(0);
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&server, "alice").await.status, 303);
    // A path nobody routes, as a scanner sends them.
    let probe = world
        .http
        .get(format!("{server}/wp-admin/probe-7f3a9c"))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 404);

    let (content_type, text) = scrape(&world, None).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    for name in documented() {
        let name = format!("siwa_{name}");
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} is documented but not served:\n{text}"
        );
    }
    assert_eq!(value(&text, "siwa_sign_ins_total{flow=\"web\"}"), 1.0);
    assert!(
        value(
            &text,
            "siwa_http_request_duration_seconds_count{route=\"/auth/apple/callback\",method=\"POST\",status=\"303\"}"
        ) >= 1.0
    );
    assert_eq!(
        value(
            &text,
            "siwa_http_request_duration_seconds_count{route=\"unmatched\",method=\"GET\",status=\"404\"}"
        ),
        1.0
    );
    assert!(!text.contains("probe-7f3a9c"), "no raw path in a label");
    assert_eq!(
        value(
            &text,
            "siwa_apple_requests_total{endpoint=\"token\",outcome=\"ok\"}"
        ),
        1.0
    );
    assert!(value(&text, "siwa_apple_jwks_fetches_total{outcome=\"ok\"}") >= 1.0);
    assert!(value(&text, "siwa_apple_jwks_age_seconds") >= 0.0);
    let secret_left = value(
        &text,
        "siwa_client_secret_expiry_seconds{client_id=\"com.example.web\"}",
    );
    assert!(
        (360.0..=3600.0).contains(&secret_left),
        "a live, renewed secret: {secret_left}"
    );

    let (content_type, open) = scrape(
        &world,
        Some("application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3"),
    )
    .await;
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    assert!(open.contains("# TYPE siwa_sign_ins counter\n"), "{open}");
    assert!(
        open.contains("siwa_sign_ins_total{flow=\"web\"} 1\n"),
        "{open}"
    );
    assert!(open.ends_with("# EOF\n"), "{open}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cache_is_served_on_postgresql() {
    if crate::harness::postgres_url().is_none() {
        eprintln!("skipping the PostgreSQL run: SIWA_TEST_DATABASE_URL is not set");
        return;
    }
    let world = World::start(Backend::Postgres).await;
    let server = world.server(0);
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&server, "alice").await.status, 303);
    // Until the listener is up /me reads the database; then it is a hit.
    let mut hits = 0.0;
    for _ in 0..200 {
        assert_eq!(browser.me(&server).await.0, 200);
        let (_, text) = scrape(&world, None).await;
        hits = value(&text, "siwa_session_cache_lookups_total{result=\"hit\"}");
        if hits >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(hits >= 1.0, "no /me was answered from the cache");
    let (_, text) = scrape(&world, None).await;
    let cache: Vec<&str> = documented()
        .into_iter()
        .filter(|name| name.starts_with("session_cache_"))
        .collect();
    assert!(
        cache.len() >= 3,
        "the README's session cache rows: {cache:?}"
    );
    for name in cache {
        let name = format!("siwa_{name}");
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} is documented but not served:\n{text}"
        );
    }
    assert_eq!(value(&text, "siwa_session_cache_listening"), 1.0);
    assert!(value(&text, "siwa_session_cache_listener_connects_total") >= 1.0);
}
