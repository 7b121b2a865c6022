//! Apple's four routes: `/auth/authorize`, `/auth/token`, `/auth/keys`,
//! `/auth/revoke` (also under `/auth/oauth2/v2/`), and the consent POST of
//! the emulator's page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::apple_js::{origin_of, web_message_page};
use crate::client_auth::authenticate;
use crate::config::RawUser;
use crate::mint::{first_login_user, Binding};
use crate::pages::{consent_page, form_post_page};
use crate::random::apple_token;
use crate::reply::{apple_json, Form, Refusal};
use crate::state::{AccessGrant, Grant, RefreshGrant, Revocation, ACCESS_TTL_SECS};
use crate::App;

/// The parameters of an authorization request, validated.
#[derive(Clone, Debug)]
struct AuthRequest {
    client_id: String,
    team_id: String,
    redirect_uri: String,
    with_id_token: bool,
    mode: ResponseMode,
    scope: Vec<String>,
    state: Option<String>,
    nonce: Option<String>,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum ResponseMode {
    FormPost,
    Fragment,
    Query,
    /// Sign in with Apple JS in a popup: the answer goes to the opener.
    WebMessage,
}

/// `GET /auth/authorize`: the consent page, or with `emulator_user` the answer at once.
pub(crate) async fn authorize(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    let params = match unique_pairs(query.as_deref().unwrap_or("").as_bytes()) {
        Ok(params) => params,
        Err(refusal) => return refusal.into_response(),
    };
    let request = match validate(&app, &params) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(user_id) = params.get("emulator_user") else {
        let hidden: Vec<(&str, &str)> = AUTH_PARAMS
            .iter()
            .filter_map(|name| params.get(*name).map(|v| (*name, v.as_str())))
            .collect();
        let page = consent_page(
            &request.client_id,
            &request.scope,
            &app.config.users,
            &hidden,
        );
        return ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response();
    };
    let hide = match params.get("emulator_consent").map(String::as_str) {
        None | Some("share") => false,
        Some("hide") => true,
        Some(other) => {
            return Refusal::new(
                "invalid_request",
                format!("emulator_consent {other:?} is not share or hide"),
            )
            .into_response()
        }
    };
    match app.config.user(user_id) {
        Some(user) => answer(&app, &request, user, hide),
        None => Refusal::new(
            "invalid_request",
            format!("emulator_user {user_id:?} is not a configured user"),
        )
        .into_response(),
    }
}

/// `POST /emulator/consent`: the consent page's Continue or Cancel.
pub(crate) async fn consent(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match Form::parse(&headers, &body) {
        Ok(form) => form,
        Err(refusal) => return refusal.into_response(),
    };
    let params: HashMap<String, String> = AUTH_PARAMS
        .iter()
        .chain(["user", "consent", "action"].iter())
        .filter_map(|name| form.get(name).map(|v| ((*name).to_owned(), v.to_owned())))
        .collect();
    let request = match validate(&app, &params) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    if params.get("action").map(String::as_str) == Some("cancel") {
        let mut fields = vec![("error", "user_cancelled_authorize".to_owned())];
        if let Some(state) = &request.state {
            fields.push(("state", state.clone()));
        }
        return deliver(&request, &fields);
    }
    let hide = params.get("consent").map(String::as_str) == Some("hide");
    let user_id = params.get("user").map(String::as_str).unwrap_or_default();
    match app.config.user(user_id) {
        Some(user) => answer(&app, &request, user, hide),
        None => Refusal::new(
            "invalid_request",
            format!("user {user_id:?} is not a configured user"),
        )
        .into_response(),
    }
}

/// `GET /auth/keys`.
pub(crate) async fn keys(State(app): State<Arc<App>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json;charset=UTF-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        app.keys.jwks().to_string(),
    )
        .into_response()
}

/// `POST /auth/token`: the authorization_code and refresh_token grants.
pub(crate) async fn token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token_inner(&app, &headers, &body).unwrap_or_else(IntoResponse::into_response)
}

fn token_inner(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<Response, Refusal> {
    let form = Form::parse(headers, body)?;
    let grant_type = form.require("grant_type")?;
    let client_id = authenticate(app, &form)?;
    let now = app.now();
    match grant_type {
        "authorization_code" => code_grant(app, &form, client_id, now),
        "refresh_token" => refresh_grant(app, &form, client_id, now),
        "client_credentials" => app.migration_token(client_id, form.get("scope")),
        other => Err(Refusal::new(
            "unsupported_grant_type",
            format!("grant_type {other:?}"),
        )),
    }
}

fn code_grant(
    app: &App,
    form: &Form,
    client_id: &str,
    now: siwa_kit::clock::UnixTime,
) -> Result<Response, Refusal> {
    let code = form.require("code")?;
    let mut inner = app.store.lock();
    let Some(issued) = inner.codes.get_mut(code) else {
        return Err(Refusal::new("invalid_grant", "unknown authorization code"));
    };
    if issued.used {
        return Err(Refusal::new(
            "invalid_grant",
            "authorization code already used",
        ));
    }
    if now.secs() >= issued.expires_at {
        return Err(Refusal::new(
            "invalid_grant",
            "authorization code expired (codes live 5 minutes)",
        ));
    }
    if issued.grant.client_id != client_id {
        return Err(Refusal::new(
            "invalid_client",
            "client_id does not match the authorization code",
        ));
    }
    if let Some(registered) = &issued.redirect_uri {
        if form.get("redirect_uri") != Some(registered.as_str()) {
            return Err(Refusal::new(
                "invalid_grant",
                "redirect_uri does not match the authorization request",
            ));
        }
    }
    issued.used = true;
    let grant = issued.grant.clone();
    let access = apple_token('a');
    let refresh = apple_token('r');
    inner.sweep_expired(now.secs());
    inner
        .access_tokens
        .insert(access.clone(), access_grant(&grant, now.secs()));
    inner.durable.refresh_tokens.insert(
        refresh.clone(),
        RefreshGrant {
            grant: grant.clone(),
            revoked: false,
        },
    );
    app.store.save(&inner);
    drop(inner);
    let id_token = app.sign_id_token(&grant, Binding::AccessToken(&access), true, now.secs())?;
    Ok(apple_json(&json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL_SECS,
        "refresh_token": refresh,
        "id_token": id_token,
    })))
}

fn refresh_grant(
    app: &App,
    form: &Form,
    client_id: &str,
    now: siwa_kit::clock::UnixTime,
) -> Result<Response, Refusal> {
    let refresh = form.require("refresh_token")?;
    let mut inner = app.store.lock();
    let grant = match inner.durable.refresh_tokens.get(refresh) {
        None => return Err(Refusal::new("invalid_grant", "unknown refresh token")),
        Some(rt) if rt.revoked => {
            return Err(Refusal::new("invalid_grant", "refresh token revoked"))
        }
        Some(rt) if rt.grant.client_id != client_id => {
            return Err(Refusal::new(
                "invalid_grant",
                "refresh token was issued to another client",
            ))
        }
        Some(rt) => rt.grant.clone(),
    };
    let access = apple_token('a');
    inner.sweep_expired(now.secs());
    inner
        .access_tokens
        .insert(access.clone(), access_grant(&grant, now.secs()));
    drop(inner);
    let id_token = app.sign_id_token(&grant, Binding::AccessToken(&access), false, now.secs())?;
    Ok(apple_json(&json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL_SECS,
        "id_token": id_token,
    })))
}

/// `POST /auth/revoke`: 200 with an empty body, whether the token was known or not.
pub(crate) async fn revoke(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let revoked = match revoke_inner(&app, &headers, &body) {
        Ok(revoked) => revoked,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(grant) = revoked {
        if app.config.notify_on_revoke && app.config.notification_url.is_some() {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                if let Err(e) = app.notify(&grant, "consent-revoked", 0).await {
                    tracing::warn!(error = %e, "consent-revoked notification after revoke failed");
                }
            });
        }
    }
    StatusCode::OK.into_response()
}

/// Revokes the token if it is this client's; returns the grant of a revoked refresh token.
fn revoke_inner(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<Option<Grant>, Refusal> {
    let form = Form::parse(headers, body)?;
    let client_id = authenticate(app, &form)?;
    let token = form.require("token")?;
    let now = app.now().secs();
    let mut inner = app.store.lock();
    let mut revoked_refresh = None;
    let record = if let Some(rt) = inner
        .durable
        .refresh_tokens
        .get_mut(token)
        .filter(|rt| rt.grant.client_id == client_id && !rt.revoked)
    {
        rt.revoked = true;
        revoked_refresh = Some(rt.grant.clone());
        Some(("refresh_token", rt.grant.user_id.clone()))
    } else if let Some(at) = inner
        .access_tokens
        .get_mut(token)
        .filter(|at| at.client_id == client_id && !at.revoked && at.expires_at > now)
    {
        at.revoked = true;
        Some(("access_token", at.user_id.clone()))
    } else {
        None
    };
    if let Some((token_type, user)) = record {
        inner.durable.revocations.push(Revocation {
            token: token.to_owned(),
            token_type: token_type.to_owned(),
            client_id: client_id.to_owned(),
            user,
            revoked_at: now,
        });
        app.store.save(&inner);
        tracing::info!(client_id, token_type, "token revoked");
    }
    Ok(revoked_refresh)
}

/// Issues the code (and id_token) for a consented request, and answers per response_mode.
fn answer(app: &App, request: &AuthRequest, user: &RawUser, hide_email: bool) -> Response {
    let now = app.now().secs();
    let grant = Grant {
        client_id: request.client_id.clone(),
        team_id: request.team_id.clone(),
        user_id: user.id.clone(),
        scope: request.scope.clone(),
        hide_email,
        nonce: request.nonce.clone(),
        auth_time: now,
        native: false,
    };
    let (code, first) = app.issue_code(&grant, Some(request.redirect_uri.clone()), now);
    let mut fields = vec![("code", code.clone())];
    if request.with_id_token {
        match app.sign_id_token(&grant, Binding::Code(&code), true, now) {
            Ok(id_token) => fields.push(("id_token", id_token)),
            Err(refusal) => return refusal.into_response(),
        }
    }
    if let Some(state) = &request.state {
        fields.push(("state", state.clone()));
    }
    if first {
        if let Some(user_json) = first_login_user(&grant, user) {
            fields.push(("user", user_json.to_string()));
        }
    }
    deliver(request, &fields)
}

/// Sends the answer the way `response_mode` says.
fn deliver(request: &AuthRequest, fields: &[(&str, String)]) -> Response {
    let encoded = || {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (name, value) in fields {
            out.append_pair(name, value);
        }
        out.finish()
    };
    match request.mode {
        ResponseMode::FormPost => {
            Html(form_post_page(&request.redirect_uri, fields)).into_response()
        }
        ResponseMode::Query => {
            let sep = if request.redirect_uri.contains('?') {
                '&'
            } else {
                '?'
            };
            found(&format!("{}{sep}{}", request.redirect_uri, encoded()))
        }
        ResponseMode::Fragment => found(&format!("{}#{}", request.redirect_uri, encoded())),
        ResponseMode::WebMessage => match origin_of(&request.redirect_uri) {
            Some(origin) => web_message_page(&origin, fields),
            None => Refusal::new("invalid_request", "redirect_uri has no origin").into_response(),
        },
    }
}

/// Apple's `302 Found` redirect.
fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

/// The authorization parameters carried from the page to the consent POST.
const AUTH_PARAMS: [&str; 7] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
];

fn validate(app: &App, params: &HashMap<String, String>) -> Result<AuthRequest, Refusal> {
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let client_id =
        get("client_id").ok_or_else(|| Refusal::new("invalid_request", "missing client_id"))?;
    let Some((team, client)) = app.client(client_id) else {
        return Err(Refusal::new(
            "invalid_client",
            format!("client_id {client_id:?} is not configured"),
        ));
    };
    let redirect_uri = get("redirect_uri")
        .ok_or_else(|| Refusal::new("invalid_request", "missing redirect_uri"))?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(Refusal::new(
            "invalid_request",
            format!("redirect_uri {redirect_uri:?} is not registered for {client_id}"),
        ));
    }
    let mut response_type: Vec<&str> = get("response_type")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    response_type.sort_unstable();
    let with_id_token = match response_type.as_slice() {
        ["code"] => false,
        ["code", "id_token"] => true,
        _ => {
            return Err(Refusal::new(
                "invalid_request",
                "response_type must be \"code\" or \"code id_token\"",
            ))
        }
    };
    let scope: Vec<String> = get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = scope
        .iter()
        .find(|s| !["name", "email", "openid"].contains(&s.as_str()))
    {
        return Err(Refusal::new(
            "invalid_scope",
            format!("scope {bad:?} is not name, email or openid"),
        ));
    }
    let asks_user_data = scope.iter().any(|s| s == "name" || s == "email");
    let mode = match get("response_mode") {
        Some("form_post") => ResponseMode::FormPost,
        Some("fragment") => ResponseMode::Fragment,
        Some("query") => ResponseMode::Query,
        Some("web_message") => ResponseMode::WebMessage,
        None if asks_user_data => ResponseMode::FormPost,
        None if with_id_token => ResponseMode::Fragment,
        None => ResponseMode::Query,
        Some(other) => {
            return Err(Refusal::new(
                "invalid_request",
                format!("response_mode {other:?}"),
            ))
        }
    };
    if asks_user_data && !matches!(mode, ResponseMode::FormPost | ResponseMode::WebMessage) {
        return Err(Refusal::new(
            "invalid_request",
            "response_mode must be form_post (or web_message) when scope is requested",
        ));
    }
    if with_id_token && mode == ResponseMode::Query {
        return Err(Refusal::new(
            "invalid_request",
            "response_mode query cannot carry an id_token",
        ));
    }
    Ok(AuthRequest {
        client_id: client_id.to_owned(),
        team_id: team.id.as_str().to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        with_id_token,
        mode,
        scope,
        state: get("state").map(str::to_owned),
        nonce: get("nonce").map(str::to_owned),
    })
}

fn access_grant(grant: &Grant, now: u64) -> AccessGrant {
    AccessGrant {
        client_id: grant.client_id.clone(),
        user_id: grant.user_id.clone(),
        revoked: false,
        expires_at: now + ACCESS_TTL_SECS,
    }
}

/// Query pairs; a repeated parameter is `invalid_request`.
fn unique_pairs(query: &[u8]) -> Result<HashMap<String, String>, Refusal> {
    let mut out = HashMap::new();
    for (name, value) in form_urlencoded::parse(query) {
        if out.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(Refusal::new(
                "invalid_request",
                format!("parameter {name} is repeated"),
            ));
        }
    }
    Ok(out)
}
