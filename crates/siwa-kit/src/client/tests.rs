use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::claims::Nonce;
use crate::clock::{FixedClock, UnixTime};
use crate::doctor::{CheckId, Status};
use crate::http::{HttpError, HttpFuture};
use crate::ids::{KeyId, TeamId};
use crate::p8::SigningKey;
use crate::secret::ClientSecretBuilder;

pub(super) const WEB: &str = "com.example.web";
pub(super) const NOW: u64 = 1_700_000_000;
const REDIRECT: &str = "https://example.com/auth/apple/callback";
const CODE: &str = "c7a061f7c639a4a079b7005969f17d853.0.rryxs.9P6Uup8Lxr6mMFO169OnlA";
const ACCESS: &str = "a8725df60b37c4894af23724edbd3a15c.0.rsqsu.mzsChoTGGE9JJSYDeRKPww";
const REFRESH: &str = "rb2ae81cc3283454cbc9e8f010530a7dd.0.rsqsu.fi7hx7kpvMDrwWQrBrJmhA";
const ID_TOKEN: &str = "eyJraWQiOiJZdXlYb1kiLCJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwcGxlaWQuYXBwbGUuY29tIn0.c2lnbmF0dXJlc2lnbmF0dXJl";

type Handler =
    dyn Fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, HttpError> + Send + Sync;

/// An HttpClient that hands each request to a closure, which asserts it.
pub(super) struct Mock {
    handler: Box<Handler>,
    calls: AtomicUsize,
}

impl fmt::Debug for Mock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mock")
    }
}

impl HttpClient for Mock {
    fn send(&self, request: http::Request<Vec<u8>>) -> HttpFuture<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = (self.handler)(request);
        Box::pin(async move { answer })
    }
}

pub(super) fn mock(
    handler: impl Fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, HttpError>
        + Send
        + Sync
        + 'static,
) -> Arc<Mock> {
    Arc::new(Mock {
        handler: Box::new(handler),
        calls: AtomicUsize::new(0),
    })
}

/// A mock that answers every request with `status` and `body`.
pub(super) fn answering(status: u16, body: &str) -> Arc<Mock> {
    let body = body.to_owned();
    mock(move |_| Ok(response(status, &body)))
}

pub(super) fn response(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json;charset=UTF-8")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

pub(super) fn key() -> SigningKey {
    SigningKey::from_pem(include_str!("../../tests/fixtures/AuthKey_ABC123DEFG.p8")).unwrap()
}

pub(super) fn builder(client_id: &str) -> ClientSecretBuilder {
    ClientSecretBuilder::new(
        TeamId::new("DEF123GHIJ").unwrap(),
        KeyId::new("ABC123DEFG").unwrap(),
        ClientId::new(client_id).unwrap(),
    )
}

pub(super) fn secret(client_id: &str) -> ClientSecret {
    builder(client_id)
        .sign(&key(), UnixTime::from_secs(NOW))
        .unwrap()
}

pub(super) fn client_id(id: &str) -> ClientId {
    ClientId::new(id).unwrap()
}

fn token_body(with_refresh: bool) -> String {
    let refresh = if with_refresh {
        format!(r#""refresh_token":"{REFRESH}","#)
    } else {
        String::new()
    };
    format!(
        r#"{{"access_token":"{ACCESS}","token_type":"Bearer","expires_in":3600,{refresh}"id_token":"{ID_TOKEN}"}}"#
    )
}

/// Asserts a form POST to `uri` with exactly these fields, in this order.
#[track_caller]
pub(super) fn assert_form(request: &http::Request<Vec<u8>>, uri: &str, fields: &[(&str, &str)]) {
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(request.uri().to_string(), uri);
    assert_eq!(
        request.headers().get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(request.headers().get("accept").unwrap(), "application/json");
    let sent: Vec<(String, String)> = form_urlencoded::parse(request.body())
        .into_owned()
        .collect();
    let expected: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(sent, expected);
}

pub(super) fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

// ---- endpoints ------------------------------------------------------------

#[test]
fn apple_endpoints_of_both_families() {
    let siwa = Endpoints::apple(Api::SignInWithApple);
    assert_eq!(
        siwa.authorize_endpoint(),
        "https://appleid.apple.com/auth/authorize"
    );
    assert_eq!(
        siwa.token_uri().to_string(),
        "https://appleid.apple.com/auth/token"
    );
    assert_eq!(
        siwa.keys_uri().to_string(),
        "https://appleid.apple.com/auth/keys"
    );
    assert_eq!(
        siwa.revoke_uri().to_string(),
        "https://appleid.apple.com/auth/revoke"
    );
    let org = Endpoints::apple(Api::OrgDataSharing);
    assert_eq!(
        org.authorize_endpoint(),
        "https://appleid.apple.com/auth/oauth2/v2/authorize"
    );
    assert_eq!(
        org.token_uri().to_string(),
        "https://appleid.apple.com/auth/oauth2/v2/token"
    );
    assert_eq!(
        org.keys_uri().to_string(),
        "https://appleid.apple.com/auth/oauth2/v2/keys"
    );
    assert_eq!(
        org.revoke_uri().to_string(),
        "https://appleid.apple.com/auth/oauth2/v2/revoke"
    );
    assert_eq!(Endpoints::default(), siwa);
    // The static table agrees with the general constructor.
    for api in [Api::SignInWithApple, Api::OrgDataSharing] {
        assert_eq!(
            Endpoints::new(APPLE_BASE_URL, api).unwrap(),
            Endpoints::apple(api)
        );
    }
}

#[test]
fn custom_base_url_with_port_prefix_and_trailing_slash() {
    let e = Endpoints::new("http://127.0.0.1:8123/", Api::SignInWithApple).unwrap();
    assert_eq!(e.base_url(), "http://127.0.0.1:8123");
    assert_eq!(
        e.token_uri().to_string(),
        "http://127.0.0.1:8123/auth/token"
    );
    let e = Endpoints::new("https://proxy.example/apple", Api::OrgDataSharing).unwrap();
    assert_eq!(
        e.keys_uri().to_string(),
        "https://proxy.example/apple/auth/oauth2/v2/keys"
    );
    assert_eq!(e.api(), Api::OrgDataSharing);
}

#[test]
fn bad_base_urls_are_refused_without_echoing_passwords() {
    for (url, reason) in [
        ("appleid.apple.com", "absolute"),
        ("ftp://appleid.apple.com", "scheme"),
        ("https://appleid.apple.com/?x=1", "query"),
        ("not a url", "not a URL"),
        ("https://user:hunter2@appleid.apple.com", "user name"),
    ] {
        let err = Endpoints::new(url, Api::SignInWithApple).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(reason), "{url}: {text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!err.hint().is_empty());
    }
}

#[test]
fn api_names() {
    assert_eq!(Api::default(), Api::SignInWithApple);
    for api in [Api::SignInWithApple, Api::OrgDataSharing] {
        assert_eq!(api.as_str().parse::<Api>().unwrap(), api);
        assert_eq!(api.to_string(), api.as_str());
    }
    assert_eq!(Api::OrgDataSharing.path_prefix(), "/auth/oauth2/v2");
    let err = "oauth".parse::<Api>().unwrap_err();
    assert!(
        err.to_string()
            .contains("sign-in-with-apple, org-data-sharing"),
        "{err}"
    );
}

// ---- authorize URL --------------------------------------------------------

fn redirect() -> RedirectUri {
    RedirectUri::new(REDIRECT).unwrap()
}

#[test]
fn authorize_url_minimal_is_code_in_query() {
    let url = Endpoints::default()
        .authorize_url(&client_id(WEB), &AuthorizeRequest::new(redirect()))
        .unwrap();
    assert_eq!(
        url,
        "https://appleid.apple.com/auth/authorize?client_id=com.example.web\
         &redirect_uri=https%3A%2F%2Fexample.com%2Fauth%2Fapple%2Fcallback\
         &response_type=code&response_mode=query"
    );
}

#[test]
fn authorize_url_with_scope_forces_form_post_and_encodes_everything() {
    let request = AuthorizeRequest::new(redirect())
        .response_type(ResponseType::CodeIdToken)
        .scopes([Scope::Name, Scope::Email, Scope::Name])
        .state(State::new("a b&c=d/é"))
        .nonce(Nonce::new("n+1~x"));
    let url = Endpoints::apple(Api::OrgDataSharing)
        .authorize_url(&client_id(WEB), &request)
        .unwrap();
    assert_eq!(
        url,
        "https://appleid.apple.com/auth/oauth2/v2/authorize?client_id=com.example.web\
         &redirect_uri=https%3A%2F%2Fexample.com%2Fauth%2Fapple%2Fcallback\
         &response_type=code%20id_token&response_mode=form_post&scope=name%20email\
         &state=a%20b%26c%3Dd%2F%C3%A9&nonce=n%2B1~x"
    );
}

#[test]
fn response_mode_rules() {
    let base = AuthorizeRequest::new(redirect());
    assert_eq!(base.effective_response_mode().unwrap(), ResponseMode::Query);
    let with_id = base.clone().response_type(ResponseType::CodeIdToken);
    assert_eq!(
        with_id.effective_response_mode().unwrap(),
        ResponseMode::Fragment
    );
    assert!(matches!(
        with_id
            .response_mode(ResponseMode::Query)
            .effective_response_mode(),
        Err(ConfigError::ResponseMode { mode: "query", .. })
    ));
    let scoped = base.clone().scope(Scope::Email);
    assert_eq!(
        scoped.effective_response_mode().unwrap(),
        ResponseMode::FormPost
    );
    for mode in [ResponseMode::Query, ResponseMode::Fragment] {
        let err = scoped
            .clone()
            .response_mode(mode)
            .effective_response_mode()
            .unwrap_err();
        assert!(err.to_string().contains("form_post"), "{err}");
        assert!(err.hint().contains("form_post"));
        assert!(Endpoints::default()
            .authorize_url(&client_id(WEB), &scoped.clone().response_mode(mode))
            .is_err());
    }
    assert_eq!(
        base.response_mode(ResponseMode::Fragment)
            .effective_response_mode()
            .unwrap(),
        ResponseMode::Fragment
    );
}

#[test]
fn authorize_url_from_the_client_uses_its_client_id() {
    let client = AppleClient::new(
        client_id("com.example.ios"),
        secret("com.example.ios"),
        answering(500, ""),
    );
    let url = client
        .authorize_url(&AuthorizeRequest::new(redirect()))
        .unwrap();
    assert!(url.contains("client_id=com.example.ios&"), "{url}");
}

#[test]
fn scopes_and_modes_parse() {
    assert_eq!(
        Scope::parse_list("name email").unwrap(),
        vec![Scope::Name, Scope::Email]
    );
    assert_eq!(
        Scope::parse_list(" email,name email ").unwrap(),
        vec![Scope::Email, Scope::Name]
    );
    assert!(Scope::parse_list("").unwrap().is_empty());
    assert!(Scope::parse_list("name openid").is_err());
    assert_eq!(
        "form_post".parse::<ResponseMode>().unwrap(),
        ResponseMode::FormPost
    );
    assert_eq!(
        "fragment".parse::<ResponseMode>().unwrap(),
        ResponseMode::Fragment
    );
    assert!("post".parse::<ResponseMode>().is_err());
    assert_eq!(
        "code id_token".parse::<ResponseType>().unwrap(),
        ResponseType::CodeIdToken
    );
    assert!("id_token".parse::<ResponseType>().is_err());
}

#[test]
fn redirect_uris_are_checked_and_kept_verbatim() {
    // No normalization: Apple compares character for character.
    assert_eq!(
        RedirectUri::new("https://example.com").unwrap().as_str(),
        "https://example.com"
    );
    assert!(RedirectUri::new("http://127.0.0.1:8080/cb").is_ok());
    for bad in [
        "/auth/apple/callback",
        "example.com/cb",
        "ftp://example.com/cb",
        "https://example.com/cb#x",
        "https://exa mple.com/cb",
        "https://user:pw@example.com/cb",
        "",
    ] {
        let err = RedirectUri::new(bad).unwrap_err();
        assert!(
            matches!(err, ConfigError::RedirectUri { .. }),
            "{bad}: {err}"
        );
    }
}

// ---- code exchange --------------------------------------------------------

#[test]
fn exchange_code_sends_apples_fields_and_reads_the_tokens() {
    for api in [Api::SignInWithApple, Api::OrgDataSharing] {
        let secret = secret(WEB);
        let jwt = secret.secret().to_owned();
        let token_url = format!("https://appleid.apple.com{}/token", api.path_prefix());
        let http = mock(move |request| {
            assert_form(
                &request,
                &token_url,
                &[
                    ("client_id", WEB),
                    ("client_secret", &jwt),
                    ("code", CODE),
                    ("grant_type", "authorization_code"),
                    ("redirect_uri", REDIRECT),
                ],
            );
            Ok(response(200, &token_body(true)))
        });
        let client =
            AppleClient::new(client_id(WEB), secret, http.clone()).endpoints(Endpoints::apple(api));
        let tokens =
            run(client.exchange_code(&AuthorizationCode::new(CODE), Some(&redirect()))).unwrap();
        assert_eq!(tokens.access_token.secret(), ACCESS);
        assert_eq!(tokens.token_type, "Bearer");
        assert_eq!(tokens.expires_in, 3600);
        assert_eq!(tokens.refresh_token.as_ref().unwrap().secret(), REFRESH);
        assert_eq!(tokens.id_token.secret(), ID_TOKEN);
        assert_eq!(http.calls.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn exchange_code_without_redirect_uri_sends_none() {
    let secret = secret(WEB);
    let jwt = secret.secret().to_owned();
    let http = mock(move |request| {
        assert_form(
            &request,
            "http://127.0.0.1:9/auth/token",
            &[
                ("client_id", WEB),
                ("client_secret", &jwt),
                ("code", CODE),
                ("grant_type", "authorization_code"),
            ],
        );
        Ok(response(200, &token_body(true)))
    });
    let client = AppleClient::new(client_id(WEB), secret, http)
        .endpoints(Endpoints::new("http://127.0.0.1:9", Api::SignInWithApple).unwrap());
    run(client.exchange_code(&AuthorizationCode::new(CODE), None)).unwrap();
}

#[test]
fn request_builders_are_pure() {
    let secret = secret(WEB);
    let jwt = secret.secret().to_owned();
    let client = AppleClient::new(client_id(WEB), secret, answering(500, ""));
    let request = client
        .exchange_code_request(&AuthorizationCode::new("c&=+ x"), Some(&redirect()))
        .unwrap();
    assert_form(
        &request,
        "https://appleid.apple.com/auth/token",
        &[
            ("client_id", WEB),
            ("client_secret", &jwt),
            ("code", "c&=+ x"),
            ("grant_type", "authorization_code"),
            ("redirect_uri", REDIRECT),
        ],
    );
    // Special characters are form-encoded, not passed raw.
    let body = String::from_utf8(request.body().clone()).unwrap();
    assert!(body.contains("code=c%26%3D%2B+x&"), "{body}");
}

// ---- refresh ---------------------------------------------------------------

#[test]
fn refresh_sends_apples_fields_and_has_no_refresh_token_in_the_answer() {
    for api in [Api::SignInWithApple, Api::OrgDataSharing] {
        let secret = secret(WEB);
        let jwt = secret.secret().to_owned();
        let token_url = format!("https://appleid.apple.com{}/token", api.path_prefix());
        let http = mock(move |request| {
            assert_form(
                &request,
                &token_url,
                &[
                    ("client_id", WEB),
                    ("client_secret", &jwt),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", REFRESH),
                ],
            );
            Ok(response(200, &token_body(false)))
        });
        let client =
            AppleClient::new(client_id(WEB), secret, http).endpoints(Endpoints::apple(api));
        let tokens = run(client.refresh(&RefreshToken::new(REFRESH))).unwrap();
        assert!(tokens.refresh_token.is_none());
        assert_eq!(tokens.access_token.secret(), ACCESS);
        assert_eq!(tokens.id_token.secret(), ID_TOKEN);
    }
}

// ---- revoke ----------------------------------------------------------------

#[test]
fn revoke_sends_the_token_and_its_type_hint() {
    for api in [Api::SignInWithApple, Api::OrgDataSharing] {
        for (token, hint) in [(REFRESH, "refresh_token"), (ACCESS, "access_token")] {
            let secret = secret(WEB);
            let jwt = secret.secret().to_owned();
            let revoke_url = format!("https://appleid.apple.com{}/revoke", api.path_prefix());
            let http = mock(move |request| {
                assert_form(
                    &request,
                    &revoke_url,
                    &[
                        ("client_id", WEB),
                        ("client_secret", &jwt),
                        ("token", token),
                        ("token_type_hint", hint),
                    ],
                );
                Ok(response(200, ""))
            });
            let client =
                AppleClient::new(client_id(WEB), secret, http).endpoints(Endpoints::apple(api));
            if hint == "refresh_token" {
                run(client.revoke(&RefreshToken::new(token))).unwrap();
            } else {
                run(client.revoke(&AccessToken::new(token))).unwrap();
            }
        }
    }
}

#[test]
fn revoke_is_success_on_200_whatever_the_body_and_apples_error_otherwise() {
    let client = AppleClient::new(client_id(WEB), secret(WEB), answering(200, "{}"));
    run(client.revoke(&RefreshToken::new(REFRESH))).unwrap();
    let client = AppleClient::new(
        client_id(WEB),
        secret(WEB),
        answering(400, r#"{"error":"invalid_client"}"#),
    );
    let err = run(client.revoke(&RefreshToken::new(REFRESH))).unwrap_err();
    assert_eq!(err.apple_code(), Some(&AppleErrorCode::InvalidClient));
    assert!(matches!(
        err,
        ClientError::Apple {
            operation: Operation::Revoke,
            status: 400,
            ..
        }
    ));
}

// ---- error shapes ----------------------------------------------------------

#[test]
fn each_apple_error_code_is_typed_with_a_hint() {
    let cases = [
        ("invalid_request", AppleErrorCode::InvalidRequest),
        ("invalid_client", AppleErrorCode::InvalidClient),
        ("invalid_grant", AppleErrorCode::InvalidGrant),
        ("unauthorized_client", AppleErrorCode::UnauthorizedClient),
        (
            "unsupported_grant_type",
            AppleErrorCode::UnsupportedGrantType,
        ),
        ("invalid_scope", AppleErrorCode::InvalidScope),
        (
            "invalid_dpop_proof",
            AppleErrorCode::Other("invalid_dpop_proof".into()),
        ),
    ];
    for (wire, code) in cases {
        for operation in [Operation::ExchangeCode, Operation::Refresh] {
            let body = format!(r#"{{"error":"{wire}"}}"#);
            let err = parse_token_response(operation, &response(400, &body)).unwrap_err();
            assert_eq!(err.apple_code(), Some(&code), "{wire}");
            assert_eq!(err.status(), Some(400));
            assert_eq!(code.as_str(), wire);
            assert_eq!(AppleErrorCode::parse(wire), code);
            assert!(err.to_string().contains(wire), "{err}");
            assert!(!err.hint().is_empty() && !code.hint().is_empty());
        }
    }
}

#[test]
fn hints_point_at_the_fix() {
    let err = |op, code: &str| {
        parse_token_response(op, &response(400, &format!(r#"{{"error":"{code}"}}"#))).unwrap_err()
    };
    let hint = err(Operation::ExchangeCode, "invalid_client").hint();
    assert!(hint.contains("siwa doctor"), "{hint}");
    let hint = err(Operation::ExchangeCode, "invalid_grant").hint();
    for cause in ["already used", "5 minutes", "redirect_uri", "client_id"] {
        assert!(hint.contains(cause), "{cause}: {hint}");
    }
    let hint = err(Operation::Refresh, "invalid_grant").hint();
    assert!(
        hint.contains("revoked") && hint.contains("sign the user in again"),
        "{hint}"
    );
    assert!(
        parse_revoke_response(&response(400, r#"{"error":"invalid_grant"}"#))
            .unwrap_err()
            .hint()
            .contains("client_id")
    );
}

#[test]
fn description_and_emulator_reason_are_kept_short_and_masked() {
    let mut answer = response(
        400,
        &format!(r#"{{"error":"invalid_client","error_description":"bad secret {ACCESS}"}}"#),
    );
    answer
        .headers_mut()
        .insert("x-emulator-reason", "iat is in the future".parse().unwrap());
    let err = parse_token_response(Operation::ExchangeCode, &answer).unwrap_err();
    let ClientError::Apple {
        description,
        reason,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(description.as_deref(), Some("bad secret […]"));
    assert_eq!(reason.as_deref(), Some("iat is in the future"));
    assert_eq!(
        err.to_string(),
        "Apple refused the code exchange: invalid_client (HTTP 400): iat is in the future"
    );
}

#[test]
fn a_401_with_an_error_member_is_still_apples_error() {
    let err = parse_token_response(
        Operation::ExchangeCode,
        &response(401, r#"{"error":"invalid_client"}"#),
    )
    .unwrap_err();
    assert_eq!(err.apple_code(), Some(&AppleErrorCode::InvalidClient));
    assert_eq!(err.status(), Some(401));
}

#[test]
fn unexpected_answers_keep_the_status_and_no_token() {
    let html = format!("<html><body>502 Bad Gateway {REFRESH} upstream</body></html>");
    let shapes: Vec<(u16, String, &str)> = vec![
        (502, html, "Bad Gateway"),
        (500, String::new(), "an empty body"),
        (302, String::new(), "an empty body"),
        (400, "not json".into(), "not json"),
        (400, r#"{"message":"nope"}"#.into(), "members [message]"),
        (200, "<html>hello</html>".into(), "not JSON"),
        (200, "[1,2]".into(), "an array"),
        (
            200,
            format!(r#"{{"access_token":"{ACCESS}","token_type":"Bearer","expires_in":3600}}"#),
            "`id_token` is missing",
        ),
        (
            200,
            format!(
                r#"{{"access_token":"{ACCESS}","token_type":"Bearer","expires_in":"3600","id_token":"{ID_TOKEN}"}}"#
            ),
            "`expires_in` is a string",
        ),
        (
            200,
            format!(
                r#"{{"access_token":7,"token_type":"Bearer","expires_in":3600,"id_token":"{ID_TOKEN}"}}"#
            ),
            "`access_token` is a number",
        ),
        (
            200,
            format!(
                r#"{{"access_token":"{ACCESS}","token_type":"Bearer","expires_in":-1,"id_token":"{ID_TOKEN}"}}"#
            ),
            "whole number",
        ),
        (
            200,
            format!(
                r#"{{"access_token":"{ACCESS}","token_type":"Bearer","expires_in":1,"refresh_token":1,"id_token":"{ID_TOKEN}"}}"#
            ),
            "`refresh_token` is a number",
        ),
        (
            200,
            format!(
                r#"{{"access_token":"","token_type":"Bearer","expires_in":1,"id_token":"{ID_TOKEN}"}}"#
            ),
            "`access_token` is empty",
        ),
    ];
    for (status, body, says) in shapes {
        let err = parse_token_response(Operation::Refresh, &response(status, &body)).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ClientError::Unexpected { .. }),
            "{status} {body}: {err:?}"
        );
        assert_eq!(err.status(), Some(status));
        assert!(text.contains(&format!("HTTP {status}")), "{text}");
        assert!(text.contains(says), "{says}: {text}");
        for secret in [ACCESS, REFRESH, ID_TOKEN, "3600\""] {
            assert!(!text.contains(secret), "{text}");
            assert!(!format!("{err:?}").contains(secret));
        }
        assert!(!err.hint().is_empty());
    }
}

#[test]
fn a_server_error_hints_at_retrying() {
    let err = parse_revoke_response(&response(503, "")).unwrap_err();
    assert!(err.hint().contains("retry"), "{}", err.hint());
}

#[test]
fn transport_errors_keep_their_source() {
    let http = mock(|_| {
        Err(HttpError::Timeout {
            after: Duration::from_secs(10),
        })
    });
    let client = AppleClient::new(client_id(WEB), secret(WEB), http);
    let err = run(client.refresh(&RefreshToken::new(REFRESH))).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Http {
                operation: Operation::Refresh,
                ..
            }
        ),
        "{err:?}"
    );
    let source = std::error::Error::source(&err).unwrap();
    assert!(source.to_string().contains("10000 ms"), "{source}");
    assert_eq!(
        err.hint(),
        HttpError::Timeout {
            after: Duration::ZERO
        }
        .hint()
    );
    assert_eq!(err.status(), None);
}

#[test]
fn unknown_codes_that_look_like_tokens_are_masked() {
    let body = format!(r#"{{"error":"{REFRESH}"}}"#);
    let err = parse_token_response(Operation::ExchangeCode, &response(400, &body)).unwrap_err();
    assert_eq!(err.apple_code(), Some(&AppleErrorCode::Other("[…]".into())));
}

#[test]
fn mask_keeps_words_and_hides_tokens() {
    assert_eq!(
        wire::mask("invalid_client unsupported_grant_type"),
        "invalid_client unsupported_grant_type"
    );
    assert_eq!(wire::mask(&format!("x {ACCESS}, y")), "x […], y");
    assert_eq!(wire::mask(ID_TOKEN), "[…]");
    assert_eq!(
        wire::mask("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
        "[…]"
    );
}

// ---- secret sources --------------------------------------------------------

#[test]
fn a_renewing_cache_supplies_the_secret_and_the_client_id() {
    let cache = Arc::new(SecretCache::new(
        builder(WEB),
        Arc::new(key()),
        Arc::new(FixedClock(UnixTime::from_secs(NOW))),
    ));
    let seen = Arc::new(Mutex::new(String::new()));
    let seen_in = Arc::clone(&seen);
    let http = mock(move |request| {
        let fields: Vec<(String, String)> = form_urlencoded::parse(request.body())
            .into_owned()
            .collect();
        assert_eq!(fields[0], ("client_id".into(), WEB.into()));
        *seen_in.lock().unwrap() = fields[1].1.clone();
        Ok(response(200, ""))
    });
    let client = AppleClient::from_cache(Arc::clone(&cache), http);
    assert_eq!(client.client_id().as_str(), WEB);
    run(client.revoke(&AccessToken::new(ACCESS))).unwrap();
    assert_eq!(*seen.lock().unwrap(), cache.current().unwrap().secret());
}

#[test]
fn a_cache_for_another_client_id_is_refused_before_sending() {
    let cache = Arc::new(SecretCache::new(
        builder(WEB),
        Arc::new(key()),
        Arc::new(FixedClock(UnixTime::from_secs(NOW))),
    ));
    let http = mock(|_| panic!("nothing may be sent"));
    let client = AppleClient::new(client_id("com.example.ios"), cache, http);
    let err = run(client.exchange_code(&AuthorizationCode::new(CODE), None)).unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::Config(ConfigError::SecretClientMismatch { .. })
        ),
        "{err:?}"
    );
    assert!(err.hint().contains("sub"), "{}", err.hint());
}

#[test]
fn a_native_apps_code_goes_out_with_its_bundle_id() {
    let web = AppleClient::new(client_id(WEB), secret(WEB), answering(500, ""))
        .endpoints(Endpoints::apple(Api::OrgDataSharing));
    let ios_secret = secret("com.example.ios");
    let jwt = ios_secret.secret().to_owned();
    let ios = web.for_client(client_id("com.example.ios"), ios_secret);
    assert_eq!(ios.current_endpoints().api(), Api::OrgDataSharing);
    let request = ios
        .exchange_code_request(&AuthorizationCode::new(CODE), None)
        .unwrap();
    assert_form(
        &request,
        "https://appleid.apple.com/auth/oauth2/v2/token",
        &[
            ("client_id", "com.example.ios"),
            ("client_secret", &jwt),
            ("code", CODE),
            ("grant_type", "authorization_code"),
        ],
    );
}

#[test]
fn a_text_secret_is_sent_as_is() {
    let client = AppleClient::new(
        client_id(WEB),
        ClientSecretText::new("not.a.jwt"),
        answering(500, ""),
    );
    let request = client.refresh_request(&RefreshToken::new(REFRESH)).unwrap();
    let fields: Vec<(String, String)> = form_urlencoded::parse(request.body())
        .into_owned()
        .collect();
    assert_eq!(fields[1], ("client_secret".into(), "not.a.jwt".into()));
}

// ---- redaction -------------------------------------------------------------

#[test]
fn access_token_debug_is_redacted() {
    assert_eq!(
        format!("{:?}", AccessToken::new(ACCESS)),
        "AccessToken([redacted])"
    );
}

#[test]
fn refresh_token_debug_is_redacted() {
    assert_eq!(
        format!("{:?}", RefreshToken::new(REFRESH)),
        "RefreshToken([redacted])"
    );
}

#[test]
fn id_token_debug_is_redacted() {
    assert_eq!(
        format!("{:?}", IdToken::new(ID_TOKEN)),
        "IdToken([redacted])"
    );
}

#[test]
fn authorization_code_debug_is_redacted() {
    assert_eq!(
        format!("{:?}", AuthorizationCode::new(CODE)),
        "AuthorizationCode([redacted])"
    );
}

#[test]
fn state_debug_is_redacted() {
    assert_eq!(format!("{:?}", State::new("st4te")), "State([redacted])");
}

#[test]
fn states_compare_by_value() {
    assert!(State::new("s-1").matches(&State::new("s-1")));
    assert!(!State::new("s-1").matches(&State::new("s-2")));
    assert!(!State::new("s-1").matches(&State::new("s-10")));
    assert!(!State::new("").matches(&State::new("s")));
}

#[test]
fn client_secret_text_debug_is_redacted() {
    assert_eq!(
        format!("{:?}", ClientSecretText::new("e.y.J")),
        "ClientSecretText([redacted])"
    );
}

#[test]
fn composite_debugs_hold_no_secret() {
    let tokens =
        parse_token_response(Operation::ExchangeCode, &response(200, &token_body(true))).unwrap();
    let secret = secret(WEB);
    let jwt = secret.secret().to_owned();
    let client = AppleClient::new(client_id(WEB), secret, answering(200, ""));
    let request = AuthorizeRequest::new(redirect())
        .state(State::new("st4te-value"))
        .nonce(Nonce::new("n0nce-value"));
    let debugs = [
        format!("{tokens:?}"),
        format!("{client:?}"),
        format!("{request:?}"),
        format!("{:?}", RevokeToken::from(&RefreshToken::new(REFRESH))),
        format!("{:?}", SecretSource::from(ClientSecretText::new("e.y.J"))),
    ];
    for debug in debugs {
        for secret in [
            ACCESS,
            REFRESH,
            ID_TOKEN,
            jwt.as_str(),
            "st4te-value",
            "n0nce-value",
            "e.y.J",
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}

// ---- probe -----------------------------------------------------------------

#[test]
fn probe_sends_a_made_up_code_without_redirect_uri() {
    let secret = secret(WEB);
    let jwt = secret.secret().to_owned();
    let http = mock(move |request| {
        assert_form(
            &request,
            "https://appleid.apple.com/auth/token",
            &[
                ("client_id", WEB),
                ("client_secret", &jwt),
                ("code", PROBE_CODE),
                ("grant_type", "authorization_code"),
            ],
        );
        Ok(response(400, r#"{"error":"invalid_grant"}"#))
    });
    let check = run(AppleClient::new(client_id(WEB), secret, http).probe());
    assert_eq!(check.id, CheckId::AppleProbe);
    assert_eq!(check.status, Status::Pass, "{check:?}");
}

#[test]
fn probe_verdicts() {
    let apple = |code: &str, reason: Option<&str>| -> Result<TokenResponse, ClientError> {
        let mut answer = response(400, &format!(r#"{{"error":"{code}"}}"#));
        if let Some(reason) = reason {
            answer
                .headers_mut()
                .insert("x-emulator-reason", reason.parse().unwrap());
        }
        Err(parse_token_response(Operation::ExchangeCode, &answer).unwrap_err())
    };
    assert_eq!(
        probe_check(&apple("invalid_grant", None)).status,
        Status::Pass
    );
    let check = probe_check(&apple(
        "invalid_client",
        Some("kid XYZ is not a key of team DEF123GHIJ"),
    ));
    assert_eq!(check.status, Status::Fail);
    assert!(
        check
            .message
            .contains("(invalid_client): kid XYZ is not a key of team"),
        "{}",
        check.message
    );
    assert!(check.hint.contains("other checks"), "{}", check.hint);
    assert_eq!(
        probe_check(&apple("unauthorized_client", None)).status,
        Status::Fail
    );
    assert_eq!(
        probe_check(&apple("invalid_request", None)).status,
        Status::Warn
    );
    let ok = parse_token_response(Operation::ExchangeCode, &response(200, &token_body(true)));
    assert_eq!(probe_check(&ok).status, Status::Warn);
    let unreachable = Err(ClientError::Http {
        operation: Operation::ExchangeCode,
        source: HttpError::transport("connect", std::io::Error::other("connection refused")),
    });
    let check = probe_check(&unreachable);
    assert_eq!(check.status, Status::Warn);
    assert!(
        check.message.contains("connection refused"),
        "{}",
        check.message
    );
    let html = Err(parse_token_response(
        Operation::ExchangeCode,
        &response(404, "<h1>Not Found</h1>"),
    )
    .unwrap_err());
    assert_eq!(probe_check(&html).status, Status::Warn);
}
