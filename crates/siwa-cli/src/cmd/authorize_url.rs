//! `siwa authorize-url`: the URL that starts a sign-in. Needs no key.

use siwa_kit::claims::Nonce;
use siwa_kit::client::{AuthorizeRequest, RedirectUri, ResponseMode, ResponseType, Scope, State};
use siwa_kit::ids::ClientId;

use crate::args::{AuthorizeUrlArgs, ResponseModeArg, ResponseTypeArg};
use crate::cmd::apple::endpoints;
use crate::failure::{Failure, Outcome};
use crate::settings::setting;

pub(crate) fn run(args: AuthorizeUrlArgs) -> Outcome {
    let client_id = setting(args.client_id, "SIWA_CLIENT_ID").ok_or_else(|| {
        Failure::usage(
            "no client id given",
            "pass --client-id or set SIWA_CLIENT_ID: the Services ID (web) or the bundle ID",
        )
    })?;
    let client_id = ClientId::new(client_id).map_err(|e| Failure::usage(&e, e.hint()))?;
    let redirect_uri = RedirectUri::new(args.redirect_uri)
        .map_err(|e| Failure::usage(format!("--redirect-uri: {e}"), e.hint()))?;
    let mut request = AuthorizeRequest::new(redirect_uri).response_type(match args.response_type {
        ResponseTypeArg::Code => ResponseType::Code,
        ResponseTypeArg::CodeIdToken => ResponseType::CodeIdToken,
    });
    if let Some(scope) = args.scope {
        let scopes = Scope::parse_list(&scope)
            .map_err(|e| Failure::usage(format!("--scope: {e}"), e.hint()))?;
        request = request.scopes(scopes);
    }
    if let Some(mode) = args.response_mode {
        request = request.response_mode(match mode {
            ResponseModeArg::Query => ResponseMode::Query,
            ResponseModeArg::Fragment => ResponseMode::Fragment,
            ResponseModeArg::FormPost => ResponseMode::FormPost,
        });
    }
    if let Some(state) = args.state {
        request = request.state(State::new(state));
    }
    if let Some(nonce) = args.nonce {
        request = request.nonce(Nonce::new(nonce));
    }
    let url = endpoints(args.endpoint)?
        .authorize_url(&client_id, &request)
        .map_err(|e| Failure::usage(&e, e.hint()))?;
    if args.json {
        println!("{}", serde_json::json!({ "url": url }));
    } else {
        println!("{url}");
    }
    Ok(())
}
