//! The user as the service shows it to others: the API's `User` (the
//! OpenAPI document's schema) and the `user` of a webhook event, one shape.

use serde::Serialize;
use siwa_kit::clock::UnixTime;
use utoipa::ToSchema;

use super::User;

/// The user as the API returns it (the OpenAPI document's `User`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserView<'a> {
    /// The service's id of the user (stable; never Apple's per-team `sub`).
    id: &'a str,
    /// From the verified identity token only; maybe a private relay address.
    email: Option<&'a str>,
    email_verified: bool,
    is_private_email: bool,
    /// From the first sign-in (Apple sends the name once).
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    /// Apple's `real_user_status` (0 unsupported, 1 unknown, 2 likely real), when reported.
    real_user_status: Option<i64>,
    /// ISO 8601, UTC.
    #[schema(example = "2026-01-02T03:04:05Z")]
    created_at: String,
    /// ISO 8601, UTC.
    last_login_at: String,
}

impl<'a> UserView<'a> {
    /// The API's view of a stored user.
    pub fn of(user: &'a User) -> Self {
        let iso = |t: i64| UnixTime::from_secs(u64::try_from(t).unwrap_or(0)).iso8601();
        Self {
            id: &user.id,
            email: user.email.as_deref(),
            email_verified: user.email_verified,
            is_private_email: user.is_private_email,
            first_name: user.first_name.as_deref(),
            last_name: user.last_name.as_deref(),
            real_user_status: user.real_user_status,
            created_at: iso(user.created_at),
            last_login_at: iso(user.last_login_at),
        }
    }
}
