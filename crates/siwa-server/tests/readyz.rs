//! `GET /readyz?deep=1`: the service's own checks as JSON, 200 when every
//! one is ok, 503 when the database lost a migration or cannot take a write;
//! the verdict is reused for a few seconds; plain `/readyz` is unchanged.

use axum::body::to_bytes;
use axum::response::Response;
use serde_json::Value;

use crate::harness::{on_both_stores, Backend, Service};

on_both_stores!(
    deep_readiness_reports_every_check,
    deep_readiness_fails_when_a_migration_is_missing,
    deep_readiness_fails_when_the_database_takes_no_write,
    deep_verdict_is_reused_for_a_while,
);

async fn deep_readiness_reports_every_check(backend: Backend) {
    let service = Service::start(backend, |_| {}).await;
    let (status, report) = deep(&service).await;
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["ready"], true);
    let ids: Vec<&str> = checks(&report).map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["database", "service_keys", "client_secret", "apple_keys"]
    );
    assert!(checks(&report).all(|c| c["ok"] == true), "{report:#}");
    let secret = check(&report, "client_secret")["message"].as_str().unwrap();
    assert!(secret.contains("2 client id"), "{secret}");
    // No call to Apple: its keys are not fetched by this route.
    let keys = check(&report, "apple_keys")["message"].as_str().unwrap();
    assert!(keys.contains("not fetched yet"), "{keys}");

    // Plain /readyz is the text it always was.
    let response = service.get("/readyz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(body(response).await, "ready");
    // Only deep=1 (or true/yes) asks for the deep checks.
    let response = service.get("/readyz?deep=0").await;
    assert_eq!(body(response).await, "ready");
}

async fn deep_readiness_fails_when_a_migration_is_missing(backend: Backend) {
    let service = Service::start(backend, |_| {}).await;
    execute(
        service.database_url(),
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .await;
    let (status, report) = deep(&service).await;
    assert_eq!(status, 503, "{report:#}");
    assert_eq!(report["ready"], false);
    let database = check(&report, "database");
    assert_eq!(database["ok"], false);
    let message = database["message"].as_str().unwrap();
    // The newest migration, named by its version and description.
    assert!(message.contains("1 of this build's"), "{message}");
    assert!(message.contains("not applied: 2"), "{message}");
    // The other checks still say what they found.
    assert_eq!(check(&report, "service_keys")["ok"], true);
}

async fn deep_readiness_fails_when_the_database_takes_no_write(backend: Backend) {
    let service = Service::start(backend, |_| {}).await;
    execute(service.database_url(), "DROP TABLE readiness").await;
    let response = service.get("/readyz?deep=1").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let report: Value = serde_json::from_str(&body(response).await).unwrap();
    let database = check(&report, "database");
    assert_eq!(database["ok"], false, "{report:#}");
    let message = database["message"].as_str().unwrap();
    assert!(message.contains("did not take a write"), "{message}");
    // No internals: not the database's error text, not its URL.
    assert!(!message.contains("readiness"), "{message}");
    assert!(!message.contains("siwa.db"), "{message}");
    assert_eq!(service.get("/readyz").await.status(), 503);
}

async fn deep_verdict_is_reused_for_a_while(backend: Backend) {
    let service = Service::start(backend, |_| {}).await;
    assert_eq!(deep(&service).await.0, 200);
    execute(service.database_url(), "DROP TABLE readiness").await;
    // Within its few seconds, the verdict is the remembered one: polling the
    // route costs the database nothing.
    for _ in 0..5 {
        assert_eq!(deep(&service).await.0, 200);
    }
}

async fn deep(service: &Service) -> (u16, Value) {
    let response = service.get("/readyz?deep=1").await;
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "deep answers JSON"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = body(response).await;
    (status, serde_json::from_str(&text).unwrap())
}

fn checks(report: &Value) -> impl Iterator<Item = &Value> {
    report["checks"].as_array().unwrap().iter()
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    checks(report)
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report:#}"))
}

async fn body(response: Response) -> String {
    String::from_utf8(
        to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

/// One statement on the service's database, from outside the service.
async fn execute(url: &str, sql: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}
