//! The preflight's network checks, run with `--probe` only (skipped
//! otherwise): `apple.secret:<client_id>`, Apple's verdict on a fresh
//! client_secret for every client id of the service (each Services ID, each
//! bundle ID), asked as `siwa doctor --probe` asks (a made-up code:
//! `invalid_grant` means the secret was accepted, `invalid_client` not);
//! `clock`, from the `Date` of Apple's first answer; and `notifications`,
//! the service's `<public_url>/auth/apple/notifications` reached with an
//! empty POST (a running `siwa serve` answers 400).

use siwa_kit::client::{
    form_post, parse_token_response, probe_check, ClientError, Operation, PROBE_CODE,
};
use siwa_kit::clock::{Clock, SystemClock};
use siwa_kit::http::HttpClient;
use siwa_kit::ids::ClientId;
use siwa_kit::secret::ClientSecretBuilder;
use siwa_server::Settings;

use super::clock;
use super::report::Finding;
use crate::cmd::apple::{chain, http};
use crate::failure::Failure;

const NOTIFICATIONS: &str = "notifications";
/// Lifetime of the secrets the probe signs.
const SECRET_TTL_SECS: u64 = 600;
const PROBE_HINT: &str = "run with --probe";

pub(super) async fn run(settings: &Settings, probe: bool) -> Result<Vec<Finding>, Failure> {
    let clients: Vec<&ClientId> = settings
        .web
        .iter()
        .map(|w| &w.client_id)
        .chain(&settings.bundle_ids)
        .collect();
    let notifications = format!("{}/auth/apple/notifications", settings.public_url);
    if !probe {
        let mut skipped: Vec<Finding> = clients
            .iter()
            .map(|client| {
                Finding::skip(
                    secret_id(client),
                    format!("not asked: --probe sends Apple a fresh client_secret for {client}"),
                    PROBE_HINT,
                )
            })
            .collect();
        skipped.push(Finding::skip(
            clock::ID,
            "not compared: --probe reads Apple's clock from its answer",
            PROBE_HINT,
        ));
        skipped.push(Finding::skip(
            NOTIFICATIONS,
            format!("not reached: --probe posts to {notifications}"),
            PROBE_HINT,
        ));
        return Ok(skipped);
    }
    let http = http()?;
    let mut findings = Vec::new();
    let mut apple_date = None;
    for client in clients {
        let (finding, date) = ask_apple(settings, client, http.as_ref()).await;
        apple_date = apple_date.or(date);
        findings.push(finding);
    }
    findings.push(match &apple_date {
        Some((date, at)) => clock::check(Some(date), *at),
        None => clock::check(None, 0),
    });
    findings.push(reach_notifications(&notifications, http.as_ref()).await);
    Ok(findings)
}

fn secret_id(client: &ClientId) -> String {
    format!("apple.secret:{client}")
}

/// Apple's verdict on a fresh secret for `client`; and the answer's `Date`
/// header with this machine's time when it came.
async fn ask_apple(
    settings: &Settings,
    client: &ClientId,
    http: &dyn HttpClient,
) -> (Finding, Option<(String, u64)>) {
    let id = secret_id(client);
    let secret = ClientSecretBuilder::new(
        settings.team_id.clone(),
        settings.key_id.clone(),
        client.clone(),
    )
    .ttl_secs(SECRET_TTL_SECS)
    .and_then(|b| b.sign(&settings.apple_key, SystemClock.now()));
    let secret = match secret {
        Ok(secret) => secret,
        Err(e) => {
            let message = format!("cannot sign a client_secret for {client}: {e}");
            return (Finding::fail(id, message, e.hint()), None);
        }
    };
    let token_uri = settings.apple.token_uri();
    let request = form_post(
        token_uri,
        &[
            ("client_id", client.as_str()),
            ("client_secret", secret.secret()),
            ("code", PROBE_CODE),
            ("grant_type", "authorization_code"),
        ],
    );
    let (answer, date) = match request {
        Err(e) => (Err(e), None),
        Ok(request) => match http.send(request).await {
            Err(source) => (
                Err(ClientError::Http {
                    operation: Operation::ExchangeCode,
                    source,
                }),
                None,
            ),
            Ok(response) => {
                let date = response
                    .headers()
                    .get(http::header::DATE)
                    .and_then(|v| v.to_str().ok())
                    .map(|d| (d.to_owned(), SystemClock.now().secs()));
                (
                    parse_token_response(Operation::ExchangeCode, &response),
                    date,
                )
            }
        },
    };
    let mut finding = Finding::renamed(probe_check(&answer), id);
    finding.message = format!("{client}: {} [POST {token_uri}]", finding.message);
    (finding, date)
}

/// An empty POST to the notification endpoint: siwa serve answers 400.
async fn reach_notifications(url: &str, http: &dyn HttpClient) -> Finding {
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Vec::new());
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            return Finding::fail(
                NOTIFICATIONS,
                format!("{url} is not a URL to post to: {e}"),
                "correct public_url",
            )
        }
    };
    let response = match http.send(request).await {
        Ok(response) => response,
        Err(e) => {
            return Finding::fail(
                NOTIFICATIONS,
                format!("cannot reach {url}: {}", chain(&e)),
                "start the service (siwa serve) and check that public_url reaches it from here: DNS, the TLS certificate, and the proxy's route for /auth/apple/notifications",
            )
        }
    };
    let status = response.status();
    match status.as_u16() {
        400 => Finding::pass(
            NOTIFICATIONS,
            format!("{url} answers 400 to an empty POST, as siwa serve does"),
        ),
        404 | 405 => Finding::fail(
            NOTIFICATIONS,
            format!("{url} answers {status}: no siwa serve there, or the proxy does not route this path to it"),
            "route POST /auth/apple/notifications to siwa serve; it is the endpoint to register with Apple for server-to-server notifications",
        ),
        _ if status.is_redirection() => Finding::fail(
            NOTIFICATIONS,
            format!(
                "{url} answers {status} (to {}): Apple does not follow redirects",
                response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("nowhere")
            ),
            "set public_url to the https URL the service answers at, with no redirect in between",
        ),
        _ if status.is_server_error() => Finding::fail(
            NOTIFICATIONS,
            format!("{url} answers {status}: the service behind it is down or failing"),
            "check that siwa serve runs, and its log",
        ),
        _ => Finding::warn(
            NOTIFICATIONS,
            format!("{url} answers {status} to an empty POST, where siwa serve answers 400: is it the service?"),
            "check that public_url reaches siwa serve and that no proxy or firewall refuses Apple's POSTs",
        ),
    }
}
