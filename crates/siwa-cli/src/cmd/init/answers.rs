//! The values `siwa init` needs, each from its flag or, unless `--yes`, a
//! question on the terminal (asked again until the answer is well formed).

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::p8::LoadedKey;

use super::InitArgs;
use crate::failure::Failure;
use crate::settings::{file_label, key_failure};

/// Everything `siwa init` was told, parsed; the key loaded.
#[derive(Debug)]
pub(crate) struct Answers {
    pub(crate) team_id: TeamId,
    pub(crate) client_id: ClientId,
    pub(crate) bundle_ids: Vec<ClientId>,
    pub(crate) key: LoadedKey,
    /// The key file's absolute path (what the configuration names).
    pub(crate) key_path: PathBuf,
    /// The key file's name, for messages.
    pub(crate) key_label: String,
    pub(crate) key_id: KeyId,
    /// No trailing slash.
    pub(crate) public_url: String,
    pub(crate) listen: Option<String>,
    pub(crate) apple_url: Option<String>,
}

impl Answers {
    /// From the flags, asking for what they leave out unless `--yes`.
    pub(crate) fn gather(args: &InitArgs) -> Result<Self, Failure> {
        let mut ask = Asker { quiet: args.yes };
        let team_id = ask.value(
            args.team_id.clone(),
            "--team-id",
            "Team ID (10 characters, Membership details on developer.apple.com)",
            |text| TeamId::new(text).map_err(|e| Failure::usage(&e, e.hint())),
        )?;
        let client_id = ask.value(
            args.client_id.clone(),
            "--client-id",
            "Services ID of the web sign-in (Identifiers > Services IDs), e.g. com.example.web",
            parse_client_id,
        )?;
        let bundle_ids = if args.bundle_ids.is_empty() && !args.yes {
            ask.value(
                None,
                "--bundle-id",
                "Bundle IDs of native apps, separated by spaces (Enter: none)",
                |text| text.split_whitespace().map(parse_client_id).collect(),
            )
            .or_else(|e| {
                if ask.ended(&e) {
                    Ok(Vec::new())
                } else {
                    Err(e)
                }
            })?
        } else {
            args.bundle_ids
                .iter()
                .map(|b| parse_client_id(b))
                .collect::<Result<Vec<_>, _>>()?
        };
        if bundle_ids.contains(&client_id) {
            return Err(Failure::usage(
                format!("{client_id} is given as both the Services ID and a bundle ID"),
                "the Services ID (web) is its own identifier, not an app's bundle ID: register one under Identifiers > Services IDs",
            ));
        }
        let (key, key_path) = ask.value(
            args.key.as_ref().map(|p| p.display().to_string()),
            "--key",
            "The .p8 key file (AuthKey_<KEYID>.p8, from Keys)",
            key_file,
        )?;
        let key_id = match (&args.key_id, key.file_key_id()) {
            (Some(text), _) => {
                KeyId::new(text.as_str()).map_err(|e| Failure::usage(&e, e.hint()))?
            }
            (None, Some(from_name)) => from_name,
            (None, None) => ask.value(
                None,
                "--key-id",
                "Key ID (10 characters; the file name does not carry it)",
                |text| KeyId::new(text).map_err(|e| Failure::usage(&e, e.hint())),
            )?,
        };
        let public_url = ask.value(
            args.public_url.clone(),
            "--public-url",
            "Public URL of this service, e.g. https://login.example.com",
            public_url,
        )?;
        Ok(Self {
            team_id,
            client_id,
            bundle_ids,
            key_label: file_label(&key_path),
            key,
            key_path,
            key_id,
            public_url,
            listen: args.listen.clone(),
            apple_url: args.apple_url.clone(),
        })
    }
}

/// Asks `question` (yes or no; Enter is yes), unless stdin has ended.
pub(crate) fn confirm(question: &str) -> Result<bool, Failure> {
    eprint!("{question} [Y/n] ");
    let _ = std::io::stderr().flush();
    match read_line()? {
        None => Err(Failure::usage(
            "no answer (stdin ended)",
            "answer the question, or pass --yes",
        )),
        Some(answer) => Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "" | "y" | "yes"
        )),
    }
}

/// Questions on stderr, answers on stdin.
struct Asker {
    /// `--yes`: ask nothing.
    quiet: bool,
}

/// Said when stdin ends before a value is given.
const NO_MORE_INPUT: &str = "no more input";

impl Asker {
    /// The flag's value, else the answer to `question`, parsed by `parse`.
    fn value<T>(
        &mut self,
        flag: Option<String>,
        flag_name: &str,
        question: &str,
        parse: impl Fn(&str) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        if let Some(text) = flag {
            return parse(text.trim());
        }
        if self.quiet {
            return Err(Failure::usage(
                format!("{flag_name} is missing"),
                format!("with --yes, pass {flag_name} (siwa init --help lists the flags)"),
            ));
        }
        loop {
            eprint!("{question}: ");
            let _ = std::io::stderr().flush();
            let Some(line) = read_line()? else {
                return Err(Failure::usage(
                    format!("{flag_name}: {NO_MORE_INPUT}"),
                    format!("answer the question, or pass {flag_name}"),
                ));
            };
            match parse(line.trim()) {
                Ok(value) => return Ok(value),
                Err(Failure::Usage { cause, hint }) => {
                    eprintln!("  {cause}");
                    if !hint.is_empty() {
                        eprintln!("  hint: {hint}");
                    }
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// Whether `failure` says stdin ended (an optional value then is empty).
    fn ended(&self, failure: &Failure) -> bool {
        matches!(failure, Failure::Usage { cause, .. } if cause.ends_with(NO_MORE_INPUT))
    }
}

/// A line of stdin; `None` at its end.
fn read_line() -> Result<Option<String>, Failure> {
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .take(4096)
        .read_line(&mut line)
        .map_err(|e| Failure::usage(format!("cannot read stdin: {e}"), ""))?;
    Ok((read > 0).then_some(line))
}

fn parse_client_id(text: &str) -> Result<ClientId, Failure> {
    ClientId::new(text).map_err(|e| Failure::usage(&e, e.hint()))
}

/// The key file, loaded by the kit's one loader; its absolute path.
fn key_file(text: &str) -> Result<(LoadedKey, PathBuf), Failure> {
    let path =
        std::path::absolute(text).map_err(|e| Failure::usage(format!("--key {text}: {e}"), ""))?;
    if !path.is_file() {
        return Err(Failure::usage(
            format!("--key {text}: no such file"),
            "give the path of the AuthKey_<KEYID>.p8 Apple let you download",
        ));
    }
    let shown = path.display().to_string();
    let key = LoadedKey::from_setting("--key", &shown).map_err(key_failure)?;
    Ok((key, path))
}

/// `scheme://host[:port][/path]`, without a trailing slash (`siwa serve`
/// checks the rest: https, or http on localhost).
fn public_url(text: &str) -> Result<String, Failure> {
    let url = text.trim_end_matches('/');
    let well_formed = url.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "https" | "http") && !rest.is_empty() && !rest.contains(['?', '#', ' '])
    });
    if well_formed {
        Ok(url.to_owned())
    } else {
        Err(Failure::usage(
            format!("{text:?} is not a URL like https://login.example.com"),
            "give the scheme and host browsers use to reach the service (no query)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_lose_their_trailing_slash_and_need_a_scheme() {
        assert_eq!(
            public_url("https://login.example.com/").unwrap(),
            "https://login.example.com"
        );
        assert!(public_url("login.example.com").is_err());
        assert!(public_url("ftp://x").is_err());
        assert!(public_url("https://x/?a=b").is_err());
    }
}
