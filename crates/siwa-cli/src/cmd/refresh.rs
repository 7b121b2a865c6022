//! `siwa refresh`: a fresh access token and identity token for a refresh token.

use siwa_kit::client::RefreshToken;

use crate::args::RefreshArgs;
use crate::cmd::apple::{block_on, client, failure, print_tokens, value_or_stdin};
use crate::failure::Outcome;

pub(crate) fn run(args: RefreshArgs) -> Outcome {
    let token = RefreshToken::new(value_or_stdin(args.refresh_token, "--refresh-token")?);
    let json = args.apple.json;
    let apple = client(args.apple)?;
    let tokens = block_on(apple.refresh(&token))?.map_err(failure)?;
    print_tokens(&tokens, json);
    Ok(())
}
