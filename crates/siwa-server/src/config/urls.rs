//! Origins and the https rule of Apple's URLs.

use super::ConfigError;

/// `scheme://host[:port]` of an absolute http(s) URL, lower-cased.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// https, or http on a loopback host (Apple requires https; the emulator and local dev do not).
pub(crate) fn check_web_url(setting: &str, url: &str) -> Result<(), ConfigError> {
    let origin = origin_of(url).ok_or_else(|| {
        ConfigError::new(setting, format!("{url:?} is not an absolute http(s) URL"))
    })?;
    if origin.starts_with("https://") {
        return Ok(());
    }
    let host = origin.trim_start_matches("http://");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
        return Ok(());
    }
    Err(ConfigError::new(
        setting,
        format!("{url:?} is not https; Apple only redirects to https URLs (plain http is allowed for localhost)"),
    ))
}
