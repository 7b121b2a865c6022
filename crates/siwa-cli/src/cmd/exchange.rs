//! `siwa exchange`: trade an authorization code for Apple's tokens.

use siwa_kit::client::{AuthorizationCode, RedirectUri};

use crate::args::ExchangeArgs;
use crate::cmd::apple::{block_on, client, failure, print_tokens, value_or_stdin};
use crate::failure::{Failure, Outcome};

pub(crate) fn run(args: ExchangeArgs) -> Outcome {
    let code = AuthorizationCode::new(value_or_stdin(args.code, "--code")?);
    let redirect_uri = args
        .redirect_uri
        .map(RedirectUri::new)
        .transpose()
        .map_err(|e| Failure::usage(format!("--redirect-uri: {e}"), e.hint()))?;
    let json = args.apple.json;
    let apple = client(args.apple)?;
    let tokens = block_on(apple.exchange_code(&code, redirect_uri.as_ref()))?.map_err(failure)?;
    print_tokens(&tokens, json);
    Ok(())
}
