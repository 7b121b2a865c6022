//! Who is calling the token and revocation endpoints: a confidential client
//! by its secret (`client_secret_basic` or `client_secret_post`, one method
//! per request), a public client by its id alone (`none`; PKCE is its proof
//! at the token endpoint).

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::clients::Client;
use super::errors::{Code, OAuthError};
use super::form::Form;
use super::settings::OidcSettings;

/// The authenticated client of a request.
pub(crate) fn authenticate<'a>(
    oidc: &'a OidcSettings,
    headers: &HeaderMap,
    form: &Form,
) -> Result<&'a Client, OAuthError> {
    let basic = basic_credentials(headers)?;
    let used_basic = basic.is_some();
    let unknown = || OAuthError::invalid_client("client authentication failed", used_basic);
    let (id, secret) = match basic {
        Some((id, secret)) => {
            if form.get("client_secret").is_some() {
                return Err(OAuthError::new(
                    Code::InvalidRequest,
                    "use one client authentication method per request",
                ));
            }
            if form.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::new(
                    Code::InvalidRequest,
                    "client_id differs from the authenticated client",
                ));
            }
            (id, Some(secret))
        }
        None => (
            form.get("client_id").ok_or_else(unknown)?.to_owned(),
            form.get("client_secret").map(str::to_owned),
        ),
    };
    let client = oidc.client(&id).ok_or_else(unknown)?;
    let authenticated = match (client.is_confidential(), secret) {
        (true, Some(secret)) => client.secret_is(&secret),
        // A public client has no secret: one sent is a misconfigured client.
        (false, None) => true,
        _ => false,
    };
    if authenticated {
        Ok(client)
    } else {
        tracing::info!(client = %id, "client authentication failed");
        Err(unknown())
    }
}

/// `Authorization: Basic` credentials: each part form-urlencoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("malformed Basic credentials", true);
    let text = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(malformed());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "use HTTP Basic or client_secret_post to authenticate the client",
            true,
        ));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |part: &str| -> String {
        form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a secret: with a colon & spaces, 32+ chars long";

    fn oidc() -> OidcSettings {
        super::super::settings::test_settings("wiki:1", SECRET)
    }

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut headers = HeaderMap::new();
        let value = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
        );
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    fn form(pairs: &[(&str, &str)]) -> Form {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        Form::parse(s.finish().as_bytes()).unwrap()
    }

    fn code(result: Result<&Client, OAuthError>) -> Code {
        result.map(|_| ()).unwrap_err().code
    }

    #[test]
    fn each_method_authenticates() {
        let oidc = oidc();
        let by_basic = authenticate(&oidc, &basic("wiki:1", SECRET), &form(&[])).unwrap();
        assert_eq!(by_basic.id, "wiki:1");
        let by_post = authenticate(
            &oidc,
            &HeaderMap::new(),
            &form(&[("client_id", "wiki:1"), ("client_secret", SECRET)]),
        )
        .unwrap();
        assert_eq!(by_post.id, "wiki:1");
        let public =
            authenticate(&oidc, &HeaderMap::new(), &form(&[("client_id", "app")])).unwrap();
        assert_eq!(public.id, "app");
    }

    #[test]
    fn every_wrong_credential_is_invalid_client() {
        let oidc = oidc();
        let none = HeaderMap::new();
        for (headers, pairs) in [
            (basic("wiki:1", "wrong"), vec![]),
            (basic("nobody", SECRET), vec![]),
            (none.clone(), vec![("client_id", "wiki:1")]),
            (
                none.clone(),
                vec![("client_id", "wiki:1"), ("client_secret", "")],
            ),
            (
                none.clone(),
                vec![("client_id", "app"), ("client_secret", SECRET)],
            ),
            (none, vec![]),
        ] {
            assert_eq!(
                code(authenticate(&oidc, &headers, &form(&pairs))),
                Code::InvalidClient
            );
        }
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(
            code(authenticate(&oidc, &bearer, &form(&[]))),
            Code::InvalidClient
        );
        let mut garbage = HeaderMap::new();
        garbage.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(
            code(authenticate(&oidc, &garbage, &form(&[]))),
            Code::InvalidClient
        );
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let oidc = oidc();
        assert_eq!(
            code(authenticate(
                &oidc,
                &basic("wiki:1", SECRET),
                &form(&[("client_secret", SECRET)])
            )),
            Code::InvalidRequest
        );
        assert_eq!(
            code(authenticate(
                &oidc,
                &basic("wiki:1", SECRET),
                &form(&[("client_id", "app")])
            )),
            Code::InvalidRequest
        );
    }
}
