//! The two cookies: `siwa_login` binds a sign-in to the browser that started
//! it; `siwa_session` is the web session.

use axum::http::{header, HeaderMap};

/// Binds the sign-in to the browser (10 minutes, only sent to /auth/apple).
pub(crate) const LOGIN: &str = "siwa_login";
/// The web session (a session JWT).
pub(crate) const SESSION: &str = "siwa_session";

/// A cookie's value from the request.
pub(crate) fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure on https.
pub(crate) fn set(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// A `Set-Cookie` value that deletes the cookie.
pub(crate) fn clear(name: &str, path: &str, secure: bool) -> String {
    set(name, "", path, 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; siwa_login=xyz; b=2".parse().unwrap());
        assert_eq!(read(&headers, LOGIN), Some("xyz"));
        assert_eq!(read(&headers, SESSION), None);
        let cookie = set(SESSION, "t", "/", 60, true);
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("Secure")
                && cookie.contains("SameSite=Lax")
        );
        assert!(!set(SESSION, "t", "/", 60, false).contains("Secure"));
    }
}
