//! Team transfer: when an app moves to another Apple developer team, every
//! user's `sub` changes (subjects are per team). Apple's answer is
//! `/auth/usermigrationinfo`, used with an access token of the
//! client-credentials grant (`scope=user.migration`):
//!
//! - the sending team, before the transfer, turns each user's `sub` into a
//!   `transfer_sub` for the receiving team ([`AppleClient::transfer_sub`]);
//! - the receiving team, after it and within 60 days, turns each
//!   `transfer_sub` into its own `sub` ([`AppleClient::migrated_user`]),
//!   with the private relay email for users who hid theirs.
//!
//! Source: Apple, "Transferring your apps and users to another team" and
//! TN3159. As everywhere in this crate, requests are built and answers read
//! by pure functions; sending goes through [`crate::http::HttpClient`].

use http::header::{HeaderValue, AUTHORIZATION};
use serde_json::{Map, Value};

use super::error::{ClientError, ConfigError, Operation};
use super::tokens::AccessToken;
use super::wire::{error_response, excerpt, form_post, kind, required_string};
use super::AppleClient;
use crate::ids::TeamId;

/// The scope of the client-credentials grant of team transfer.
pub const MIGRATION_SCOPE: &str = "user.migration";

/// What the receiving team learns of a transferred user.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct MigratedUser {
    /// The user's `sub` under the receiving team.
    pub sub: String,
    /// The user's private relay address under the receiving team (only for
    /// users who hid their email; Apple sends none otherwise).
    pub email: Option<String>,
    /// Whether `email` is a private relay address.
    pub is_private_email: bool,
}

impl AppleClient {
    /// The access token request: `grant_type=client_credentials&scope=user.migration`.
    pub fn migration_token_request(&self) -> Result<http::Request<Vec<u8>>, ClientError> {
        let uri = self.endpoints.token_uri();
        self.with_secret(|client_id, secret| {
            form_post(
                uri,
                &[
                    ("client_id", client_id),
                    ("client_secret", secret),
                    ("grant_type", "client_credentials"),
                    ("scope", MIGRATION_SCOPE),
                ],
            )
        })
    }

    /// An access token for `/auth/usermigrationinfo` (it lives an hour).
    /// Apple answers `invalid_client` when the client secret is not the
    /// team's that owns the app now.
    pub async fn migration_token(&self) -> Result<AccessToken, ClientError> {
        let request = self.migration_token_request()?;
        let response = self.send(Operation::MigrationToken, request).await?;
        parse_migration_token(&response)
    }

    /// The sending team's request: `sub` and `target` (the receiving team).
    pub fn transfer_sub_request(
        &self,
        token: &AccessToken,
        sub: &str,
        target: &TeamId,
    ) -> Result<http::Request<Vec<u8>>, ClientError> {
        self.migration_info_request(token, &[("sub", sub), ("target", target.as_str())])
    }

    /// Before the transfer, the sending team's `transfer_sub` of a user, for
    /// the team `target`. Apple answers `invalid_grant` when the sub is not
    /// a user of the app, `invalid_request` when the target is the sending team.
    pub async fn transfer_sub(
        &self,
        token: &AccessToken,
        sub: &str,
        target: &TeamId,
    ) -> Result<String, ClientError> {
        let request = self.transfer_sub_request(token, sub, target)?;
        let response = self.send(Operation::MigrationInfo, request).await?;
        let mut object = migration_answer(&response)?;
        required_string(&mut object, "transfer_sub").map_err(|what| unexpected(&response, what))
    }

    /// The receiving team's request: a `transfer_sub`.
    pub fn migrated_user_request(
        &self,
        token: &AccessToken,
        transfer_sub: &str,
    ) -> Result<http::Request<Vec<u8>>, ClientError> {
        self.migration_info_request(token, &[("transfer_sub", transfer_sub)])
    }

    /// After the transfer, the receiving team's view of a user the sending
    /// team exported. Apple answers `invalid_grant` when the transfer_sub is
    /// unknown, was made for another team, or its 60-day window has passed.
    pub async fn migrated_user(
        &self,
        token: &AccessToken,
        transfer_sub: &str,
    ) -> Result<MigratedUser, ClientError> {
        let request = self.migrated_user_request(token, transfer_sub)?;
        let response = self.send(Operation::MigrationInfo, request).await?;
        let mut object = migration_answer(&response)?;
        let sub =
            required_string(&mut object, "sub").map_err(|what| unexpected(&response, what))?;
        let email = match object.remove("email") {
            None | Some(Value::Null) => None,
            Some(Value::String(email)) => Some(email),
            Some(other) => {
                return Err(unexpected(
                    &response,
                    format!("`email` is {}, not a string", kind(&other)),
                ))
            }
        };
        let is_private_email = match object.get("is_private_email") {
            Some(Value::Bool(flag)) => *flag,
            Some(Value::String(flag)) => flag == "true",
            _ => false,
        };
        Ok(MigratedUser {
            sub,
            email,
            is_private_email,
        })
    }

    /// A form POST to `/auth/usermigrationinfo` with the bearer token, the
    /// client's id and secret, and `fields`.
    fn migration_info_request(
        &self,
        token: &AccessToken,
        fields: &[(&str, &str)],
    ) -> Result<http::Request<Vec<u8>>, ClientError> {
        let uri = self.endpoints.migration_info_uri();
        let mut request = self.with_secret(|client_id, secret| {
            let mut all = vec![("client_id", client_id), ("client_secret", secret)];
            all.extend_from_slice(fields);
            form_post(uri, &all)
        })?;
        let bearer =
            HeaderValue::from_str(&format!("Bearer {}", token.secret())).map_err(|_| {
                ClientError::Config(ConfigError::Request {
                    reason: "the access token holds characters a header cannot".into(),
                })
            })?;
        request.headers_mut().insert(AUTHORIZATION, bearer);
        Ok(request)
    }
}

/// Reads the client-credentials answer: `{"access_token","token_type","expires_in"}`.
pub fn parse_migration_token(
    response: &http::Response<Vec<u8>>,
) -> Result<AccessToken, ClientError> {
    if !response.status().is_success() {
        return Err(error_response(Operation::MigrationToken, response));
    }
    let mut object = object_of(Operation::MigrationToken, response)?;
    let token =
        required_string(&mut object, "access_token").map_err(|what| ClientError::Unexpected {
            operation: Operation::MigrationToken,
            status: response.status().as_u16(),
            excerpt: what,
        })?;
    Ok(AccessToken::new(token))
}

fn migration_answer(response: &http::Response<Vec<u8>>) -> Result<Map<String, Value>, ClientError> {
    if !response.status().is_success() {
        return Err(error_response(Operation::MigrationInfo, response));
    }
    object_of(Operation::MigrationInfo, response)
}

fn object_of(
    operation: Operation,
    response: &http::Response<Vec<u8>>,
) -> Result<Map<String, Value>, ClientError> {
    let unexpected = |excerpt: String| ClientError::Unexpected {
        operation,
        status: response.status().as_u16(),
        excerpt,
    };
    match serde_json::from_slice::<Value>(response.body()) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(unexpected(format!(
            "not a JSON object but {}",
            kind(&other)
        ))),
        Err(_) => Err(unexpected(format!(
            "not JSON: {}",
            excerpt(response.body())
        ))),
    }
}

fn unexpected(response: &http::Response<Vec<u8>>, what: String) -> ClientError {
    ClientError::Unexpected {
        operation: Operation::MigrationInfo,
        status: response.status().as_u16(),
        excerpt: what,
    }
}

#[cfg(test)]
mod tests;
