//! The baseline of bench/load.sh: an axum service on the same runtime as
//! `siwa serve` (tokio's multi-threaded default, HTTP/1), whose every route
//! answers a fixed JSON user of the size `GET /me` returns, doing no work.
//!
//! `trivial-server ADDR` (e.g. 127.0.0.1:0) prints `listening on http://ADDR`
//! and serves until SIGTERM or Ctrl-C.

use axum::http::header;
use axum::response::IntoResponse;
use axum::Router;

const USER: &str = r#"{"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","email":"k7xq2mv9pd@privaterelay.appleid.com","email_verified":true,"is_private_email":true,"first_name":"Alice","last_name":"Appleseed","real_user_status":2,"created_at":"2026-11-21T23:22:43Z","last_login_at":"2026-11-21T23:22:43Z"}"#;

async fn user() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], USER)
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("trivial-server: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    if let Ok(bound) = listener.local_addr() {
        println!("listening on http://{bound}");
    }
    let app = Router::new().fallback(user);
    let stop = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {},
        }
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        eprintln!("trivial-server: {e}");
    }
}
