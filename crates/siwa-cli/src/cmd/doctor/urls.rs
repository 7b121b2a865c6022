//! The preflight's URL checks: `public_url` (https), `redirect_uri` (each
//! Services ID's callback is this service's `<public_url>/auth/apple/callback`)
//! and `popup_redirect_uris` (each page may call this service). The loader
//! already refused what is neither https nor loopback http.

use siwa_server::Settings;

use super::report::Finding;

const PUBLIC_URL: &str = "public_url";
const REDIRECT_URI: &str = "redirect_uri";
const POPUP: &str = "popup_redirect_uris";
/// Where the service takes Apple's form_post, under its public URL.
const CALLBACK_PATH: &str = "/auth/apple/callback";
const LOOPBACK_HINT: &str = "Apple redirects only to https URLs: serve the public URL over https (a TLS-terminating proxy in front of siwa serve) and register the https URLs with Apple";

pub(super) fn checks(settings: &Settings) -> Vec<Finding> {
    vec![
        public_url(settings),
        redirect_uris(settings),
        popup_redirect_uris(settings),
    ]
}

fn public_url(settings: &Settings) -> Finding {
    let url = &settings.public_url;
    if is_https(url) {
        Finding::pass(PUBLIC_URL, format!("{url} is https"))
    } else {
        Finding::warn(
            PUBLIC_URL,
            format!(
                "{url} is plain http on a loopback address: for local tests and the emulator only"
            ),
            LOOPBACK_HINT,
        )
    }
}

fn redirect_uris(settings: &Settings) -> Finding {
    let expected = format!("{}{CALLBACK_PATH}", settings.public_url);
    let mut wrong = Vec::new();
    let mut plain = Vec::new();
    for (n, client) in settings.web.iter().enumerate() {
        let uri = client.redirect_uri.as_str();
        let setting = setting_name(n, REDIRECT_URI);
        if !same_url(uri, &expected) {
            wrong.push(format!("{setting} of {} is {uri}", client.client_id));
        } else if !is_https(uri) {
            plain.push(setting);
        }
    }
    if !wrong.is_empty() {
        return Finding::fail(
            REDIRECT_URI,
            format!(
                "{}, but this service takes Apple's callback at {expected}",
                wrong.join("; ")
            ),
            format!("set it to {expected} and register exactly that Return URL with Apple for the Services ID; or, if the service is elsewhere, correct public_url"),
        );
    }
    if !plain.is_empty() {
        return Finding::warn(
            REDIRECT_URI,
            format!(
                "{} is {expected}, plain http on a loopback address: for local tests and the emulator only",
                plain.join(", ")
            ),
            LOOPBACK_HINT,
        );
    }
    Finding::pass(
        REDIRECT_URI,
        format!("{} Services ID(s) return to {expected}", settings.web.len()),
    )
}

fn popup_redirect_uris(settings: &Settings) -> Finding {
    let public_origin = settings.public_origin();
    let allowed = |origin: &str| {
        origin == public_origin
            || settings
                .web
                .iter()
                .any(|c| c.allowed_web_origins.iter().any(|o| o == origin))
    };
    let (mut count, mut wrong, mut plain) = (0, Vec::new(), Vec::new());
    for (n, client) in settings.web.iter().enumerate() {
        for uri in &client.popup_redirect_uris {
            count += 1;
            let setting = setting_name(n, POPUP);
            match origin_of(uri) {
                Some(origin) if allowed(&origin) => {
                    if !is_https(uri) {
                        plain.push(format!("{setting}: {uri}"));
                    }
                }
                _ => wrong.push(format!("{setting}: {uri}")),
            }
        }
    }
    if !wrong.is_empty() {
        return Finding::fail(
            POPUP,
            format!(
                "{}: a page there cannot call /auth/apple/web/* (its origin is neither public_url's nor in allowed_web_origins)",
                wrong.join("; ")
            ),
            "add the page's origin (scheme://host[:port]) to allowed_web_origins, or serve the page from public_url's origin",
        );
    }
    if !plain.is_empty() {
        return Finding::warn(
            POPUP,
            format!(
                "{}: plain http on a loopback address, for local tests and the emulator only",
                plain.join("; ")
            ),
            LOOPBACK_HINT,
        );
    }
    if count == 0 {
        return Finding::pass(
            POPUP,
            "none set: no page signs in with Apple's JS in a popup",
        );
    }
    Finding::pass(
        POPUP,
        format!("{count} popup page(s), each https and allowed to call the service"),
    )
}

/// The setting's name as the loader's messages give it: `redirect_uri` for
/// the primary Services ID, `web[0].redirect_uri` for the first `[[web]]`.
fn setting_name(client: usize, key: &str) -> String {
    match client {
        0 => key.to_owned(),
        n => format!("web[{}].{key}", n - 1),
    }
}

/// The same URL, the scheme and host compared without case.
fn same_url(a: &str, b: &str) -> bool {
    match (split_origin(a), split_origin(b)) {
        (Some((oa, ra)), Some((ob, rb))) => oa.eq_ignore_ascii_case(ob) && ra == rb,
        _ => false,
    }
}

/// `scheme://authority` and the rest (path, query).
fn split_origin(url: &str) -> Option<(&str, &str)> {
    let start = url.find("://")? + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    Some(url.split_at(end))
}

fn origin_of(url: &str) -> Option<String> {
    split_origin(url).map(|(origin, _)| origin.to_ascii_lowercase())
}

fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_by_origin_without_case_and_path_exactly() {
        assert!(same_url(
            "HTTPS://Login.Example.com/auth/apple/callback",
            "https://login.example.com/auth/apple/callback"
        ));
        assert!(!same_url(
            "https://login.example.com/auth/apple/Callback",
            "https://login.example.com/auth/apple/callback"
        ));
        assert!(!same_url(
            "https://login.example.com:8443/auth/apple/callback",
            "https://login.example.com/auth/apple/callback"
        ));
        assert_eq!(
            origin_of("https://App.example.com/popup?x=1").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(setting_name(2, "redirect_uri"), "web[1].redirect_uri");
    }
}
