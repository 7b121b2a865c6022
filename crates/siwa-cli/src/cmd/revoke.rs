//! `siwa revoke`: revoke a refresh token (ending the user's authorization of
//! the app) or an access token.

use siwa_kit::client::{AccessToken, RefreshToken, RevokeToken};

use crate::args::{RevokeArgs, TokenTypeHintArg};
use crate::cmd::apple::{block_on, client, failure, value_or_stdin};
use crate::failure::Outcome;

pub(crate) fn run(args: RevokeArgs) -> Outcome {
    let value = value_or_stdin(args.token, "--token")?;
    let json = args.apple.json;
    let apple = client(args.apple)?;
    let (refresh, access);
    let token = match args.token_type_hint {
        TokenTypeHintArg::RefreshToken => {
            refresh = RefreshToken::new(value);
            RevokeToken::from(&refresh)
        }
        TokenTypeHintArg::AccessToken => {
            access = AccessToken::new(value);
            RevokeToken::from(&access)
        }
    };
    block_on(apple.revoke(token))?.map_err(failure)?;
    let hint = token.hint().as_str();
    if json {
        println!(
            "{}",
            serde_json::json!({ "revoked": true, "token_type_hint": hint })
        );
    } else {
        println!("revoked ({hint}); Apple answers the same for a token that was already invalid");
    }
    Ok(())
}
