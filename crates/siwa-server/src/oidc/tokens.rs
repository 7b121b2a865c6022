//! The provider's tokens: ID tokens (RS256 by default, ES256 for a client
//! that registered it) and access tokens (RFC 9068: ES256, `typ` `at+jwt`,
//! `aud` the client). `sub` is the siwa user id, never Apple's `sub`.
//! The user's claims are chosen by scope, the same for the ID token and
//! `/oauth2/userinfo`.

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use siwa_kit::jws::Es256Key;

use super::clients::{Client, IdTokenAlg};
use super::request::grants;
use super::settings::OidcSettings;
use crate::app::AppState;
use crate::crypto::random_id;
use crate::secrets::AccessToken;
use crate::signin::ttl;
use crate::store::User;

/// Lifetime of ID tokens, seconds.
pub(crate) const ID_TOKEN_TTL: i64 = 3_600;

/// The `typ`s an access token of ours may carry (RFC 9068 §2.1).
const ACCESS_TYPS: [(&str, ()); 2] = [("at+jwt", ()), ("application/at+jwt", ())];

/// What a grant gives the tokens minted for it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GrantView<'a> {
    pub(crate) family_id: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) auth_time: i64,
}

/// The claims of the provider's access tokens.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct AccessClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: String,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) sid: String,
    pub(crate) auth_time: i64,
    pub(crate) jti: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
}

/// An access token for `client_id`'s grant.
pub(crate) fn access_token(
    app: &AppState,
    oidc: &OidcSettings,
    client_id: &str,
    user_id: &str,
    grant: GrantView<'_>,
    now: i64,
) -> Option<AccessToken> {
    let claims = AccessClaims {
        iss: oidc.issuer.clone(),
        sub: user_id.to_owned(),
        aud: client_id.to_owned(),
        client_id: client_id.to_owned(),
        scope: grant.scope.to_owned(),
        sid: grant.family_id.to_owned(),
        auth_time: grant.auth_time,
        jti: random_id(),
        iat: now,
        exp: now.saturating_add(ttl(app.settings.access_token_ttl)),
    };
    let payload = serde_json::to_vec(&claims).ok()?;
    session_key(app)
        .sign(Some("at+jwt"), &payload)
        .ok()
        .map(AccessToken::new)
}

/// An access token's claims, if it is one of ours for a registered client,
/// from this issuer and unexpired (the grant's state is the store's to say).
pub(crate) fn verify_access_token(
    app: &AppState,
    oidc: &OidcSettings,
    token: &str,
    now: i64,
) -> Option<AccessClaims> {
    let ((), verified) = session_key(app).verify(token, &ACCESS_TYPS).ok()?;
    let claims: AccessClaims = serde_json::from_str(verified.payload()).ok()?;
    let valid = claims.iss == oidc.issuer
        && claims.exp > now
        && claims.client_id == claims.aud
        && oidc.client(&claims.aud).is_some();
    valid.then_some(claims)
}

/// What the tokens of one token response are about.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Subject<'a> {
    pub(crate) client: &'a Client,
    pub(crate) user: &'a User,
    pub(crate) grant: GrantView<'a>,
    /// The authorization request's nonce (first response only).
    pub(crate) nonce: Option<&'a str>,
    pub(crate) now: i64,
}

/// An ID token for the subject's client, with the user's claims its scope grants.
pub(crate) fn id_token(
    app: &AppState,
    oidc: &OidcSettings,
    subject: &Subject<'_>,
    access_token: &AccessToken,
) -> Option<String> {
    let Subject {
        client,
        user,
        grant,
        nonce,
        now,
    } = *subject;
    let mut claims = Map::new();
    claims.insert("iss".into(), oidc.issuer.clone().into());
    claims.insert("sub".into(), user.id.clone().into());
    claims.insert("aud".into(), client.id.clone().into());
    claims.insert("exp".into(), now.saturating_add(ID_TOKEN_TTL).into());
    claims.insert("iat".into(), now.into());
    claims.insert("auth_time".into(), grant.auth_time.into());
    claims.insert("sid".into(), grant.family_id.into());
    claims.insert("at_hash".into(), at_hash(access_token.secret()).into());
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), nonce.into());
    }
    claims.extend(user_claims(user, grant.scope));
    let payload = serde_json::to_vec(&Value::Object(claims)).ok()?;
    match client.id_token_alg {
        IdTokenAlg::Rs256 => oidc.keys.sign("JWT", &payload),
        IdTokenAlg::Es256 => session_key(app).sign(Some("JWT"), &payload).ok(),
    }
}

/// The user's claims a scope grants: `email` gives `email`,
/// `email_verified` and `is_private_email`; `profile` gives `name`,
/// `given_name` and `family_name`; `real_user_status` (Apple's fraud signal,
/// no personal data) comes with either.
pub(crate) fn user_claims(user: &User, scope: &str) -> Map<String, Value> {
    let mut claims = Map::new();
    let email = grants(scope, "email");
    let profile = grants(scope, "profile");
    if email {
        if let Some(address) = &user.email {
            claims.insert("email".into(), address.clone().into());
            claims.insert("email_verified".into(), user.email_verified.into());
            claims.insert("is_private_email".into(), user.is_private_email.into());
        }
    }
    if profile {
        let parts: Vec<&str> = [user.first_name.as_deref(), user.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|p| !p.is_empty())
            .collect();
        if !parts.is_empty() {
            claims.insert("name".into(), parts.join(" ").into());
        }
        if let Some(given) = &user.first_name {
            claims.insert("given_name".into(), given.clone().into());
        }
        if let Some(family) = &user.last_name {
            claims.insert("family_name".into(), family.clone().into());
        }
    }
    if email || profile {
        if let Some(status) = user.real_user_status {
            claims.insert("real_user_status".into(), status.into());
        }
    }
    claims
}

/// OpenID Connect Core §3.1.3.6: the left half of the access token's
/// SHA-256 (both RS256 and ES256 hash with SHA-256), base64url.
fn at_hash(access_token: &str) -> String {
    let hash = digest(&SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16])
}

fn session_key(app: &AppState) -> Es256Key<'_> {
    Es256Key::new(app.keys.session(), app.keys.session_kid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: "u1".into(),
            email: Some("a@privaterelay.appleid.com".into()),
            email_verified: true,
            is_private_email: true,
            email_forwarding: true,
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            real_user_status: Some(2),
            created_at: 1,
            last_login_at: 2,
        }
    }

    #[test]
    fn claims_follow_the_scope() {
        let names = |scope| {
            let mut keys: Vec<String> = user_claims(&user(), scope).keys().cloned().collect();
            keys.sort();
            keys.join(",")
        };
        assert_eq!(names("openid"), "");
        assert_eq!(
            names("openid email"),
            "email,email_verified,is_private_email,real_user_status"
        );
        assert_eq!(
            names("openid profile"),
            "family_name,given_name,name,real_user_status"
        );
        let all = user_claims(&user(), "openid profile email");
        assert_eq!(all["name"], "Ada Lovelace");
        assert_eq!(all["is_private_email"], true);
        let nameless = User {
            first_name: None,
            last_name: None,
            email: None,
            ..user()
        };
        assert!(user_claims(&nameless, "openid profile email")
            .keys()
            .all(|k| k == "real_user_status"));
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // OpenID Connect Core's example access token and at_hash (§A.3).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
