//! HTML the emulator shows: the consent page and the form_post page.

use std::fmt::Write;

use crate::config::RawUser;

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The page where a person picks a test user and shares or hides the email.
/// `hidden` carries the authorization request to the consent POST.
pub(crate) fn consent_page(
    client_id: &str,
    scope: &[String],
    users: &[RawUser],
    hidden: &[(&str, &str)],
) -> String {
    let mut inputs = String::new();
    for (name, value) in hidden {
        let _ = writeln!(
            inputs,
            r#"<input type="hidden" name="{}" value="{}">"#,
            escape(name),
            escape(value)
        );
    }
    let mut choices = String::new();
    for (i, user) in users.iter().enumerate() {
        let checked = if i == 0 { " checked" } else { "" };
        let _ = writeln!(
            choices,
            r#"<label class="user"><input type="radio" name="user" value="{id}"{checked}> {first} {last} &lt;{email}&gt;</label>"#,
            id = escape(&user.id),
            first = escape(&user.first_name),
            last = escape(&user.last_name),
            email = escape(&user.email),
        );
    }
    let email_choice = if scope.iter().any(|s| s == "email") {
        r#"<fieldset><legend>Email</legend>
<label><input type="radio" name="consent" value="share" checked> Share My Email</label>
<label><input type="radio" name="consent" value="hide"> Hide My Email</label>
</fieldset>"#
    } else {
        r#"<input type="hidden" name="consent" value="share">"#
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in with Apple (emulator)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:-apple-system,system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin:.4rem 0}}fieldset{{border:1px solid #ccc;border-radius:8px;margin:1rem 0}}
button{{font-size:1rem;padding:.6rem 1.2rem;border-radius:8px;border:0;margin-right:.5rem}}
#continue{{background:#000;color:#fff}}.note{{color:#666;font-size:.85rem}}</style></head>
<body><h1>Sign in with Apple</h1>
<p>Use your Apple ID with <strong>{client}</strong>.</p>
<p class="note">This is the siwa emulator, not Apple. Pick a test user.</p>
<form method="POST" action="/emulator/consent">
{inputs}<fieldset><legend>Apple ID</legend>
{choices}</fieldset>
{email_choice}
<button id="continue" type="submit" name="action" value="continue">Continue</button>
<button id="cancel" type="submit" name="action" value="cancel">Cancel</button>
</form></body></html>
"#,
        client = escape(client_id),
    )
}

/// Apple's form_post answer: a page whose form posts itself to the redirect URI.
pub(crate) fn form_post_page(redirect_uri: &str, fields: &[(&str, String)]) -> String {
    let mut inputs = String::new();
    for (name, value) in fields {
        let _ = writeln!(
            inputs,
            r#"<input type="hidden" name="{}" value="{}">"#,
            escape(name),
            escape(value)
        );
    }
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signing in…</title></head>
<body onload="document.forms[0].submit()">
<form method="POST" action="{action}">
{inputs}<noscript><button type="submit">Continue</button></noscript>
</form></body></html>
"#,
        action = escape(redirect_uri),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let page = form_post_page("https://x/cb?a=1&b=2", &[("state", "\"><script>".into())]);
        assert!(!page.contains("<script>"));
        assert!(page.contains("https://x/cb?a=1&amp;b=2"));
    }
}
