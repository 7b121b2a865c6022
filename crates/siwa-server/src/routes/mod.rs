//! The route table of `siwa serve`: every route is registered here with
//! `utoipa_axum::routes!`, which takes its method and path from the
//! handler's `#[utoipa::path]` operation, so the OpenAPI document
//! (`GET /openapi.json`, `siwa serve --print-openapi`) is made from the very
//! table that serves the requests and cannot drift from it.
//!
//! Register a new route here (never with axum's `Router::route`: clippy's
//! `disallowed-methods` refuses it in this crate) with an operation on its handler.
//!
//! - `mod.rs`: the table, in the groups the rate limits apply to;
//! - `openapi.rs`: the document's frame (info, security schemes, the
//!   responses every route may give), `GET /openapi.json` and `GET /docs`.

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::{api, notifications, oidc, ops, web};

pub(crate) mod openapi;

pub use openapi::json_text;

/// The routes, in the groups the rate limits apply to.
pub(crate) struct Routes {
    /// Sign-in routes (the sign-in rate limit).
    pub(crate) sign_in: OpenApiRouter<Arc<AppState>>,
    /// Apple's JS (the sign-in rate limit, and CORS for `allowed_web_origins`).
    pub(crate) web_api: OpenApiRouter<Arc<AppState>>,
    /// Token routes (the refresh rate limit).
    pub(crate) refresh: OpenApiRouter<Arc<AppState>>,
    /// Everything else.
    pub(crate) open: OpenApiRouter<Arc<AppState>>,
}

impl Routes {
    /// The table; `provider`: with the OpenID Provider's routes (`[oidc]`).
    pub(crate) fn new(provider: bool) -> Self {
        let mut sign_in = OpenApiRouter::new()
            .routes(routes!(web::login))
            .routes(routes!(web::callback::callback))
            .routes(routes!(api::native))
            .routes(routes!(api::nonce));
        let web_api = OpenApiRouter::new()
            .routes(routes!(web::popup::begin))
            .routes(routes!(web::popup::complete));
        let mut refresh = OpenApiRouter::new().routes(routes!(api::refresh));
        let mut open = OpenApiRouter::new()
            .routes(routes!(web::home))
            .routes(routes!(web::siwa_js::script))
            .routes(routes!(notifications::receive))
            .routes(routes!(api::logout))
            .routes(routes!(api::me, api::delete_me))
            .routes(routes!(ops::jwks))
            .routes(routes!(ops::healthz))
            .routes(routes!(ops::readyz))
            .routes(routes!(ops::metrics))
            .routes(routes!(openapi::json))
            .routes(routes!(openapi::docs));
        if provider {
            sign_in = sign_in.merge(oidc::browser_routes());
            refresh = refresh.merge(oidc::token_routes());
            open = open.merge(oidc::other_routes());
        }
        Self {
            sign_in,
            web_api,
            refresh,
            open,
        }
    }

    /// The groups as one router, without their layers (for the document).
    pub(crate) fn merged(self) -> OpenApiRouter<Arc<AppState>> {
        OpenApiRouter::new()
            .merge(self.sign_in)
            .merge(self.web_api)
            .merge(self.refresh)
            .merge(self.open)
    }
}
