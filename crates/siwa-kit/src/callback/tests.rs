use super::*;

const CODE: &str = "c7a061f7c639a4a079b7005969f17d853.0.rryxs.9P6Uup8Lxr6mMFO169OnlA";

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

#[test]
fn first_authorization_with_user() {
    let user = r#"{"name":{"firstName":"Alice","lastName":"Appleseed"},"email":"alice@privaterelay.appleid.com"}"#;
    let body = form(&[
        ("state", "s-1"),
        ("code", CODE),
        ("id_token", "eyJ.x.y"),
        ("user", user),
    ]);
    let Callback::Authorized(auth) = Callback::parse(&body).unwrap() else {
        panic!("not authorized")
    };
    assert_eq!(auth.code.secret(), CODE);
    assert_eq!(auth.id_token.unwrap().secret(), "eyJ.x.y");
    assert_eq!(auth.state.unwrap().secret(), "s-1");
    let user = auth.user.unwrap();
    assert_eq!(user.first_name.as_deref(), Some("Alice"));
    assert_eq!(user.last_name.as_deref(), Some("Appleseed"));
    assert_eq!(
        user.email.as_deref(),
        Some("alice@privaterelay.appleid.com")
    );
}

#[test]
fn later_authorizations_have_no_user() {
    let Callback::Authorized(auth) =
        Callback::parse(&form(&[("code", CODE), ("state", "s")])).unwrap()
    else {
        panic!()
    };
    assert!(auth.user.is_none() && auth.id_token.is_none());
}

#[test]
fn a_cancelled_authorization_is_a_denial_with_its_state() {
    let callback = Callback::parse(b"error=user_cancelled_authorize&state=s-2").unwrap();
    assert_eq!(callback.state().unwrap().secret(), "s-2");
    let Callback::Denied(denial) = callback else {
        panic!()
    };
    assert_eq!(denial.error, AuthorizeError::UserCancelledAuthorize);
    assert!(denial.error.hint().contains("cancelled"));
    let Callback::Denied(denial) = Callback::parse(b"error=invalid_request").unwrap() else {
        panic!()
    };
    assert_eq!(
        denial.error,
        AuthorizeError::Other("invalid_request".into())
    );
    assert_eq!(denial.error.to_string(), "invalid_request");
}

#[test]
fn user_parts_are_each_optional() {
    let user = User::from_json(r#"{"email":"a@b.c"}"#).unwrap();
    assert_eq!(
        (user.first_name, user.email.as_deref()),
        (None, Some("a@b.c"))
    );
    let user = User::from_json(r#"{"name":{"firstName":"","lastName":null},"extra":1}"#).unwrap();
    assert_eq!(user, User::default());
    let user = User::from_json(r#"{"name":{"lastName":"Ng"}}"#).unwrap();
    assert_eq!(user.last_name.as_deref(), Some("Ng"));
}

#[test]
fn unreadable_user_json_is_refused_without_echoing_it() {
    for json in [
        r#"{"name":"Alice Secret"}"#,
        "Alice Secret",
        r#"{"email":42}"#,
    ] {
        let body = form(&[("code", CODE), ("user", json)]);
        let err = Callback::parse(&body).unwrap_err();
        assert!(matches!(err, CallbackError::User { .. }), "{err:?}");
        assert!(!err.to_string().contains("Alice"), "{err}");
        assert!(!err.hint().is_empty());
    }
}

/// serde's derive also reads a struct from an array of its fields in order;
/// Apple's `user` is an object, so `[["Alice"]]` is no user (the input the
/// callback fuzz target found, `[["\u{fffd}"]]`, was read as a first name).
#[test]
fn a_user_written_as_arrays_is_refused() {
    for json in [
        "[[\"\u{fffd}\"]]",
        r#"[["Alice","Appleseed"],"alice@example.com"]"#,
        r#"{"name":["Alice","Appleseed"]}"#,
        "[]",
    ] {
        match User::from_json(json) {
            Err(CallbackError::User { reason }) => {
                assert!(
                    reason.starts_with("it is not shaped as"),
                    "{json}: {reason}"
                );
                assert!(!reason.contains("Alice"), "{reason}");
            }
            other => panic!("{json}: {other:?}"),
        }
    }
}

#[test]
fn duplicate_fields_are_refused() {
    for field in ["code", "state", "user", "id_token", "error"] {
        let body = format!("code=a&{field}=x&{field}=y");
        let body = body.replacen("code=a&code=x", "code=x", 1);
        let body = if field == "code" {
            "code=x&code=y".to_owned()
        } else {
            body
        };
        assert_eq!(
            Callback::parse(body.as_bytes()).unwrap_err(),
            CallbackError::Duplicate { field },
            "{body}"
        );
    }
}

#[test]
fn oversized_bodies_are_refused_before_parsing() {
    let mut body = b"code=x&pad=".to_vec();
    body.resize(MAX_CALLBACK_LEN + 1, b'a');
    assert_eq!(
        Callback::parse(&body).unwrap_err(),
        CallbackError::TooLarge {
            len: MAX_CALLBACK_LEN + 1,
            limit: MAX_CALLBACK_LEN
        }
    );
    let mut body = b"code=x&pad=".to_vec();
    body.resize(MAX_CALLBACK_LEN, b'a');
    assert!(Callback::parse(&body).is_ok());
}

#[test]
fn no_code_or_both_code_and_error_are_refused() {
    assert_eq!(
        Callback::parse(b"state=s").unwrap_err(),
        CallbackError::MissingCode
    );
    assert_eq!(
        Callback::parse(b"").unwrap_err(),
        CallbackError::MissingCode
    );
    assert_eq!(
        Callback::parse(b"code=&state=s").unwrap_err(),
        CallbackError::MissingCode
    );
    assert_eq!(
        Callback::parse(b"code=c&error=user_cancelled_authorize").unwrap_err(),
        CallbackError::Ambiguous
    );
}

#[test]
fn unknown_fields_are_ignored_and_percent_encoding_decoded() {
    let Callback::Authorized(auth) = Callback::parse(b"foo=1&code=a%2Bb+c&state=%C3%A9").unwrap()
    else {
        panic!()
    };
    assert_eq!(auth.code.secret(), "a+b c");
    assert_eq!(auth.state.unwrap().secret(), "é");
}

#[test]
fn debug_redacts_secrets_and_the_users_data() {
    let user =
        r#"{"name":{"firstName":"Alice","lastName":"Appleseed"},"email":"alice@example.com"}"#;
    let body = form(&[
        ("state", "st4te"),
        ("code", CODE),
        ("id_token", "eyJ.x.y"),
        ("user", user),
    ]);
    let debug = format!("{:?}", Callback::parse(&body).unwrap());
    for secret in [
        CODE,
        "st4te",
        "eyJ.x.y",
        "Alice",
        "Appleseed",
        "alice@example.com",
    ] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(debug.contains("first_name: Some([redacted])"), "{debug}");
}

#[test]
fn user_debug_is_redacted() {
    let user = User::from_json(r#"{"name":{"firstName":"Alice"}}"#).unwrap();
    assert_eq!(
        format!("{user:?}"),
        "User { first_name: Some([redacted]), last_name: None, email: None }"
    );
}
