//! The two cookies: the login cookie binds a sign-in to the browser that
//! started it (10 minutes); the session cookie is the web session.
//!
//! When the public URL is https they carry the `__Host-` prefix (so Secure,
//! `Path=/`, no `Domain`: a sibling subdomain or a plain-http page cannot
//! set or shadow them). On plain-http loopback, where browsers refuse
//! `__Host-` cookies, they keep their plain names.

use axum::http::{header, HeaderMap};

/// The service's cookies, named for its public URL.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cookies {
    secure: bool,
}

impl Cookies {
    /// Cookies for a service whose public URL is https (`secure`) or not.
    pub(crate) fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// The login cookie's name.
    pub(crate) fn login_name(self) -> &'static str {
        if self.secure {
            "__Host-siwa_login"
        } else {
            "siwa_login"
        }
    }

    /// The session cookie's name.
    pub(crate) fn session_name(self) -> &'static str {
        if self.secure {
            "__Host-siwa_session"
        } else {
            "siwa_session"
        }
    }

    /// `__Host-` requires `Path=/`; without it the login cookie goes only to the sign-in routes.
    fn login_path(self) -> &'static str {
        if self.secure {
            "/"
        } else {
            "/auth/apple"
        }
    }

    pub(crate) fn set_login(self, value: &str, max_age: i64) -> String {
        self.set(self.login_name(), value, self.login_path(), max_age)
    }

    pub(crate) fn clear_login(self) -> String {
        self.set(self.login_name(), "", self.login_path(), 0)
    }

    pub(crate) fn set_session(self, value: &str, max_age: i64) -> String {
        self.set(self.session_name(), value, "/", max_age)
    }

    pub(crate) fn clear_session(self) -> String {
        self.set(self.session_name(), "", "/", 0)
    }

    /// The login cookie of a request.
    pub(crate) fn login(self, headers: &HeaderMap) -> Option<&str> {
        read(headers, self.login_name())
    }

    /// The session cookie of a request.
    pub(crate) fn session(self, headers: &HeaderMap) -> Option<&str> {
        read(headers, self.session_name())
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure on https, never a Domain.
    fn set(self, name: &str, value: &str, path: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
    }
}

/// A cookie's value from the request.
fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes() {
        let plain = Cookies::new(false);
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; siwa_login=xyz; b=2".parse().unwrap());
        assert_eq!(plain.login(&headers), Some("xyz"));
        assert_eq!(plain.session(&headers), None);
        let cookie = plain.set_session("t", 60);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(!cookie.contains("Secure"));
        assert!(plain.set_login("t", 60).contains("Path=/auth/apple;"));
    }

    /// Finding 6 of the security review: cookies without prefixes.
    #[test]
    fn https_cookies_carry_the_host_prefix() {
        let https = Cookies::new(true);
        for cookie in [https.set_login("v", 60), https.set_session("v", 60)] {
            assert!(cookie.starts_with("__Host-siwa_"), "{cookie}");
            assert!(cookie.contains("; Path=/;"), "{cookie}");
            assert!(cookie.ends_with("; Secure"), "{cookie}");
            assert!(!cookie.to_ascii_lowercase().contains("domain"), "{cookie}");
        }
        let mut headers = HeaderMap::new();
        // A plain-named cookie (set by a plain-http page or a sibling domain) is not ours.
        headers.insert(header::COOKIE, "siwa_session=planted".parse().unwrap());
        assert_eq!(https.session(&headers), None);
        headers.insert(header::COOKIE, "__Host-siwa_session=real".parse().unwrap());
        assert_eq!(https.session(&headers), Some("real"));
    }
}
