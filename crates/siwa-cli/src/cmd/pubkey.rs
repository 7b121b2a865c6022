//! `siwa pubkey`: the public key of a .p8, as `openssl ec -pubout` prints it, or as a JWK.

use crate::args::{PubkeyArgs, PubkeyFormat};
use crate::failure::{Failure, Outcome};
use crate::settings::load_private_key;

pub(crate) fn run(args: PubkeyArgs) -> Outcome {
    let loaded = load_private_key(args.key)?;
    let public = loaded.key.public_key();
    match args.format {
        PubkeyFormat::Pem => print!("{}", public.to_pem()),
        PubkeyFormat::Jwk => {
            let jwk = public.to_jwk(loaded.file_kid.as_ref());
            let text = serde_json::to_string_pretty(&jwk)
                .map_err(|e| Failure::usage(format!("cannot print the JWK: {e}"), ""))?;
            println!("{text}");
        }
    }
    Ok(())
}
