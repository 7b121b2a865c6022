//! Apple's callback: the `form_post` body (`siwa_kit::callback::Callback::parse`)
//! and its first-login `user` JSON (`User::from_json`).
//!
//! Input: a mode byte, then
//! - mode even: the form body;
//! - mode odd: the `user` JSON alone.
//!
//! Invariants:
//! - nothing panics; the heap stays within the input-size bound;
//! - `Callback::parse` decides as an independent reading of the form says:
//!   a known field given twice is refused, `code` with `error` is ambiguous,
//!   `error` is a denial, no `code` is refused, a bad `user` is refused, else
//!   an authorization whose code, id_token, state and user are the fields';
//! - an authorization re-encoded as a form parses back to the same values;
//! - `Debug` of what was parsed shows no value: it equals the `Debug` of the
//!   same shape holding other values;
//! - `User::from_json` agrees with serde_json on what it keeps, and its
//!   errors never quote the JSON.
#![no_main]

use std::collections::HashMap;

use serde_json::Value;
use siwa_fuzz::prelude::*;
use siwa_kit::callback::{AuthorizeError, Callback, CallbackError, User, MAX_CALLBACK_LEN};

const FIELDS: [&str; 5] = ["code", "id_token", "state", "user", "error"];

fuzz_target!(
    init: {
        siwa_fuzz::seeds::write_from_env(|| {
            let token = &siwa_fuzz::fixtures::good_tokens()[2];
            let user = r#"{"name":{"firstName":"Alice","lastName":"Appleseed"},"email":"alice@example.com"}"#;
            let first_login = form(&[("state", "s1"), ("code", "c0ffee.0.abcd.x"), ("id_token", token), ("user", user)]);
            let mut seeds = vec![
                framed(0, &[first_login.as_bytes()], 0),
                framed(0, &[form(&[("code", "c.0.a"), ("id_token", token), ("state", "st")]).as_bytes()], 0),
                framed(0, &[b"error=user_cancelled_authorize&state=s2"], 0),
                framed(0, &[b"code=a&code=b"], 0),
                framed(0, &[b"code=a&error=invalid_request"], 0),
                framed(0, &[b"state=%E2%9C%93&code=%2B+x&user=%7B%7D&extra=1"], 0),
                framed(1, &[user.as_bytes()], 0),
                framed(1, &[br#"{"email":"x@privaterelay.appleid.com"}"#], 0),
                framed(1, &[br#"{"name":null,"email":" "}"#], 0),
                framed(1, &[br#"{"name":{"firstName":"\u00c9mile"},"name":{}}"#], 0),
            ];
            seeds.push(framed(0, &[form(&[("code", "x"), ("user", "{\"name\":")]).as_bytes()], 0));
            // Found by this target: serde's derive read a user from an array.
            seeds.push(framed(1, &[b"[[\"\xa1\"]]"], 0));
            seeds
        });
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        if mode & 1 == 1 {
            check_user(&siwa_fuzz::text(rest));
            return;
        }
        let parsed = bounded("Callback::parse", rest.len(), bounds::CALLBACK, || Callback::parse(rest));
        check_callback(rest, &parsed);
    }
);

fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        out.append_pair(name, value);
    }
    out.finish()
}

/// The independent reading: each known field's values, in order.
fn fields(body: &[u8]) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        if FIELDS.contains(&name.as_ref()) {
            map.entry(name.into_owned())
                .or_default()
                .push(value.into_owned());
        }
    }
    map
}

fn check_callback(body: &[u8], parsed: &Result<Callback, CallbackError>) {
    if body.len() > MAX_CALLBACK_LEN {
        assert!(matches!(parsed, Err(CallbackError::TooLarge { .. })));
        return;
    }
    let fields = fields(body);
    let one = |name: &str| -> Option<&str> {
        fields
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let twice: Vec<&str> = FIELDS
        .into_iter()
        .filter(|f| fields.get(*f).is_some_and(|v| v.len() > 1))
        .collect();
    match parsed {
        Err(CallbackError::Duplicate { field }) => {
            assert!(
                twice.contains(field),
                "{field} reported twice, but twice are {twice:?}"
            );
            return;
        }
        _ => assert!(twice.is_empty(), "{twice:?} given twice, yet {parsed:?}"),
    }
    let state = one("state");
    match parsed {
        Err(CallbackError::Ambiguous) => assert!(one("code").is_some() && one("error").is_some()),
        Err(CallbackError::MissingCode) => assert!(one("code").is_none() && one("error").is_none()),
        Err(CallbackError::User { reason }) => {
            let user = one("user").expect("a user field");
            assert!(User::from_json(user).is_err());
            assert!(one("code").is_some() && one("error").is_none());
            check_reason(reason);
        }
        Err(other) => panic!("{other:?}"),
        Ok(Callback::Denied(denial)) => {
            let error = one("error").expect("an error field");
            assert!(one("code").is_none());
            assert_eq!(denial.error, AuthorizeError::parse(error));
            assert!(denial.error.as_str().chars().count() <= 64);
            assert_eq!(denial.state.as_ref().map(|s| s.secret()), state);
            let shape = Callback::parse(
                form(&[
                    ("error", error),
                    ("state", if state.is_some() { "z" } else { "" }),
                ])
                .as_bytes(),
            );
            assert_eq!(
                format!("{parsed:?}"),
                format!("{shape:?}"),
                "Debug shows a value"
            );
        }
        Ok(Callback::Authorized(auth)) => {
            assert!(one("error").is_none());
            assert_eq!(Some(auth.code.secret()), one("code"));
            assert_eq!(auth.id_token.as_ref().map(|t| t.secret()), one("id_token"));
            assert_eq!(auth.state.as_ref().map(|s| s.secret()), state);
            let user = one("user").map(|u| User::from_json(u).expect("parse kept the user"));
            assert_eq!(auth.user, user);
            // Round trip: the values, re-encoded, parse back the same.
            let user_json = auth.user.as_ref().map(user_to_json);
            let mut pairs = vec![("code", auth.code.secret())];
            if let Some(t) = &auth.id_token {
                pairs.push(("id_token", t.secret()));
            }
            if let Some(s) = &auth.state {
                pairs.push(("state", s.secret()));
            }
            if let Some(u) = &user_json {
                pairs.push(("user", u));
            }
            let again = Callback::parse(form(&pairs).as_bytes());
            let Ok(Callback::Authorized(again)) = &again else {
                panic!("the re-encoded form: {again:?}");
            };
            assert_eq!(again.code.secret(), auth.code.secret());
            assert_eq!(
                again.id_token.as_ref().map(|t| t.secret()),
                auth.id_token.as_ref().map(|t| t.secret())
            );
            assert_eq!(
                again.state.as_ref().map(|s| s.secret()),
                auth.state.as_ref().map(|s| s.secret())
            );
            assert_eq!(again.user, auth.user);
            // Debug shows the shape, never the values.
            let z = |present: bool| if present { "z" } else { "" };
            let shape_user = auth.user.as_ref().map(|u| {
                serde_json::json!({
                    "name": {"firstName": u.first_name.as_ref().map(|_| "z"), "lastName": u.last_name.as_ref().map(|_| "z")},
                    "email": u.email.as_ref().map(|_| "z"),
                })
                .to_string()
            });
            let shape = form(&[
                ("code", "z"),
                ("id_token", z(auth.id_token.is_some())),
                ("state", z(auth.state.is_some())),
                ("user", shape_user.as_deref().unwrap_or("")),
            ]);
            let shape = Callback::parse(shape.as_bytes());
            assert_eq!(
                format!("{parsed:?}"),
                format!("{shape:?}"),
                "Debug shows a value"
            );
        }
        Ok(other) => panic!("an outcome this target does not know: {other:?}"),
    }
}

/// A `user` error says where the JSON is wrong, never what it holds: with
/// its numbers taken out, it is one of two fixed sentences.
fn check_reason(reason: &str) {
    let fixed: String = reason.chars().filter(|c| !c.is_ascii_digit()).collect();
    assert!(
        fixed
            == r#"it is not shaped as {"name":{"firstName","lastName"},"email"} (line , column )"#
            || fixed == "it is not JSON (line , column )",
        "{reason}"
    );
}

fn user_to_json(user: &User) -> String {
    serde_json::json!({
        "name": {"firstName": user.first_name, "lastName": user.last_name},
        "email": user.email,
    })
    .to_string()
}

fn check_user(json: &str) {
    let parsed = bounded("User::from_json", json.len(), bounds::CALLBACK, || {
        User::from_json(json)
    });
    match parsed {
        Err(CallbackError::User { reason }) => check_reason(&reason),
        Err(CallbackError::TooLarge { .. }) => assert!(json.len() > MAX_CALLBACK_LEN),
        Err(other) => panic!("{other:?}"),
        Ok(user) => {
            assert_eq!(User::from_json(&user_to_json(&user)).as_ref(), Ok(&user));
            // serde_json's Value refuses numbers beyond f64 that the struct ignores.
            let Ok(v) = serde_json::from_str::<Value>(json) else {
                return;
            };
            let kept = |v: Option<&Value>| -> Option<String> {
                v.and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_owned)
            };
            let name = v.get("name");
            assert_eq!(user.first_name, kept(name.and_then(|n| n.get("firstName"))));
            assert_eq!(user.last_name, kept(name.and_then(|n| n.get("lastName"))));
            assert_eq!(user.email, kept(v.get("email")));
        }
    }
}
