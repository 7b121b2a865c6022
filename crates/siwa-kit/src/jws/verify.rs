//! The one entry for a signed token. [`verify`] takes the compact token,
//! where its keys come from ([`KeySource`]) and the algorithm allowed
//! ([`Rs256`] or [`Es256`]: the caller's configuration, never the token's
//! say), and returns the payload ([`Verified`]) once every rule of the JWS
//! holds, in this order:
//! 1. the token is at most [`MAX_TOKEN_LEN`](super::MAX_TOKEN_LEN) bytes and
//!    three canonical base64url segments;
//! 2. the header is strict JSON with `alg` exactly the allowed algorithm's, a
//!    non-empty string `kid`, and no `crit` or `b64` (`jku`, `x5u`, `jwk` and
//!    `x5c` are never followed);
//! 3. the key source has a key for `kid`;
//! 4. the payload and the signature are canonical base64url, and the
//!    signature verifies with that key;
//! 5. the payload is a strict JSON object.
//!
//! What the payload claims is the caller's to judge ([`crate::id_token`],
//! [`crate::notification`]).
//!
//! The fast paths live behind this call: a header written the way Apple
//! writes it (`{"kid":"…","alg":"RS256"}`, or `alg` first) is recognised
//! byte for byte without the parser; the header and the signature are
//! decoded into stack buffers; and the only step that may wait is the key
//! lookup, taken without waiting when the source has the key at hand
//! ([`KeySource::key_now`]), so a verification's future holds little more
//! than its arguments, while the buffers and the payload's checks live on the
//! stacks of the synchronous steps.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::mem::MaybeUninit;
use std::ops::Deref;

use thiserror::Error;

use super::compact::{
    decode_segment_buffered, decode_segment_uninit, split, strict_object, strict_object_text,
    JwsError, Parts, Segment,
};
use super::es256::verify_es256;
use super::rsa::{verify_rs256, RsaPublicKey, MAX_RSA_SIGNATURE_LEN};
use super::strict_json::{cut, Members, Wire};
use crate::p8::PublicKey;

/// A signature algorithm a verifier allows: the `alg` its tokens name, and
/// how a key of its kind checks a signature. Sealed: [`Rs256`] and [`Es256`].
pub trait Algorithm: sealed::Sealed + Copy {
    /// The public key that checks its signatures.
    type Key;

    /// The header's `alg`.
    fn name(self) -> &'static str;

    /// Checks `signature` over `signing_input` with `key`.
    fn verify(
        self,
        key: &Self::Key,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JwsError>;
}

/// RS256 (RSASSA-PKCS1-v1_5 with SHA-256): Apple's identity tokens and
/// notifications.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Rs256;

impl Algorithm for Rs256 {
    type Key = RsaPublicKey;

    fn name(self) -> &'static str {
        "RS256"
    }

    fn verify(
        self,
        key: &RsaPublicKey,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JwsError> {
        verify_rs256(key, signing_input, signature)
    }
}

/// ES256 (ECDSA P-256 with SHA-256, `r || s`): client secrets and a
/// service's own tokens.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Es256;

impl Algorithm for Es256 {
    type Key = PublicKey;

    fn name(self) -> &'static str {
        "ES256"
    }

    fn verify(
        self,
        key: &PublicKey,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JwsError> {
        verify_es256(key, signing_input, signature)
    }
}

mod sealed {
    pub trait Sealed {}

    impl Sealed for super::Rs256 {}
    impl Sealed for super::Es256 {}
}

/// Where the key a token's `kid` names comes from: Apple's key set through a
/// [`KeyCache`](crate::jwks::KeyCache), or a set of the caller's.
pub trait KeySource<A: Algorithm> {
    /// A handle on a key (an `Arc` when the source shares its keys).
    type Key: Deref<Target = A::Key>;
    /// Why the source has no usable key for a kid.
    type Error;

    /// The key `kid` names; may wait (a fetch).
    fn key(&self, kid: &str) -> impl Future<Output = Result<Self::Key, Self::Error>> + Send;

    /// The key `kid` names, or why there is none, when the source can say
    /// without waiting; `None` sends the verification to [`key`](Self::key).
    /// A source that answers here spares every verification the room and the
    /// moves of a waiting step (the usual case: a warm cache). By default
    /// `None`.
    fn key_now(&self, kid: &str) -> Option<Result<Self::Key, Self::Error>> {
        let _ = kid;
        None
    }
}

/// Verifies a compact JWS signed with `alg` by a key of `keys`, and returns
/// its payload: the module's rules, in the module's order.
pub async fn verify<A: Algorithm, S: KeySource<A>>(
    token: &str,
    keys: &S,
    alg: A,
) -> Result<Verified, TokenError<S::Error>> {
    verify_then(token, keys, alg, |payload, _| Ok(Verified { payload })).await
}

/// [`verify`], handing the payload and its member spans to `read` where
/// they were made: the claims readers take them there, so the spans (a few
/// hundred bytes) are never moved, neither into a [`Verified`] nor through
/// the future. `read`'s error type takes the token's errors too, so the
/// caller's future is this one, its output moved once.
pub(crate) async fn verify_then<A: Algorithm, S: KeySource<A>, T, E>(
    token: &str,
    keys: &S,
    alg: A,
    read: impl FnOnce(String, &Members) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<TokenError<S::Error>>,
{
    let parts = split(token).map_err(TokenError::Jws)?;
    let key = match key_now(parts, alg, keys)? {
        Ok(key) => key,
        Err(kid) => keys.key(&kid).await.map_err(TokenError::Key)?,
    };
    let mut members = Members::default();
    let payload = signed_payload_into(parts, alg, &key, &mut members)?;
    read(payload, &members)
}

/// Steps 2 and 3 without waiting: the header read from a buffer on this
/// step's stack, and the key when the source has it at hand; else the kid,
/// owned, for the waiting lookup (so the buffer never lives in the future).
fn key_now<A: Algorithm, S: KeySource<A>>(
    parts: Parts<'_>,
    alg: A,
    keys: &S,
) -> Result<Result<S::Key, String>, TokenError<S::Error>> {
    let mut header_buf = [0u8; HEADER_BUF_LEN];
    let kid = read_header(parts, alg, &mut header_buf)?.kid;
    match keys.key_now(&kid) {
        Some(found) => found.map(Ok).map_err(TokenError::Key),
        None => Ok(Err(kid.into_owned())),
    }
}

/// The payload of a token that passed every rule of [`verify`]: a strict
/// JSON object. `Debug` shows only its length (claims are personal data).
pub struct Verified {
    payload: String,
}

impl Verified {
    /// The payload, as signed.
    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// The payload, as signed.
    pub fn into_payload(self) -> String {
        self.payload
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// Why a signed token was refused before its claims were read; `E` is the
/// key source's error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TokenError<E> {
    /// `alg` is not the allowed algorithm (`none`, `HS256`, missing, ...).
    #[error("the token's alg is {found}; only {allowed} is accepted")]
    Algorithm {
        /// The header's `alg`, quoted, or what it is when not a string.
        found: String,
        /// The algorithm allowed.
        allowed: &'static str,
    },
    /// A header this verifier refuses to process (`crit`, `b64`).
    #[error("the token's header has {name:?}, which is refused")]
    ForbiddenHeader {
        /// The header parameter.
        name: &'static str,
    },
    /// Not a well-formed compact JWS (size, segments, base64url, strict JSON).
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// The key source has no usable key for the token's `kid`.
    #[error(transparent)]
    Key(E),
    /// The header has no `kid` (or an empty or non-string one).
    #[error("the token's header has no kid, so no key can be chosen")]
    KidMissing,
    /// The signature does not verify with the key for `kid`.
    #[error("the token's signature does not verify with key {kid:?}")]
    Signature {
        /// The key id used.
        kid: String,
    },
}

impl<E> TokenError<E> {
    /// What a person can do about it (for [`Self::Key`], the key source's
    /// error says more).
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Algorithm { .. } => {
                "the algorithm is fixed by the verifier's configuration: a token naming another is forged (alg confusion)"
            }
            Self::ForbiddenHeader { .. } | Self::KidMissing => {
                "the expected signer names its key in kid and asks for no special processing: this token was not made by it"
            }
            Self::Jws(e) => e.hint(),
            Self::Key(_) => "no usable key for the token's kid: see the key source's error",
            Self::Signature { .. } => {
                "the token was altered or signed by another key: never accept it"
            }
        }
    }
}

/// Headers up to this size are decoded without allocating (Apple's are 35 bytes).
pub(super) const HEADER_BUF_LEN: usize = 128;

/// Room for the longest signature (RS256 with the largest key) plus base64's rounding.
const SIGNATURE_BUF_LEN: usize = MAX_RSA_SIGNATURE_LEN + 8;

/// A header that passed the rules: its `kid`, and its `typ` when that is a
/// string.
pub(super) struct Header<'h> {
    pub(super) kid: Cow<'h, str>,
    pub(super) typ: Option<Cow<'h, str>>,
}

impl Header<'_> {
    fn into_owned(self) -> Header<'static> {
        Header {
            kid: Cow::Owned(self.kid.into_owned()),
            typ: self.typ.map(|typ| Cow::Owned(typ.into_owned())),
        }
    }
}

/// Step 2: the header decoded (into `buf` when it fits) and checked.
pub(super) fn read_header<'b, A: Algorithm, E>(
    parts: Parts<'_>,
    alg: A,
    buf: &'b mut [u8; HEADER_BUF_LEN],
) -> Result<Header<'b>, TokenError<E>> {
    match decode_segment_buffered(parts.header(), Segment::Header, buf)? {
        Cow::Borrowed(header) => match plain_header_kid(header, alg.name()) {
            Some(kid) => Ok(Header {
                kid: Cow::Borrowed(kid),
                typ: None,
            }),
            None => parsed_header(header, alg),
        },
        // Larger than Apple's headers ever are: parsed from its own copy.
        Cow::Owned(header) => parsed_header(&header, alg).map(Header::into_owned),
    }
}

/// Steps 4 and 5. Both segments' encodings are checked before the signature
/// (so a malformed token gets a precise error); the payload's JSON is read
/// only after it.
pub(super) fn signed_payload<A: Algorithm, E>(
    parts: Parts<'_>,
    alg: A,
    key: &A::Key,
) -> Result<Verified, TokenError<E>> {
    let payload = signed_payload_into(parts, alg, key, &mut Members::default())?;
    Ok(Verified { payload })
}

/// [`signed_payload`], the member spans written into `members`.
fn signed_payload_into<A: Algorithm, E>(
    parts: Parts<'_>,
    alg: A,
    key: &A::Key,
    members: &mut Members,
) -> Result<String, TokenError<E>> {
    let payload = parts.decode(Segment::Payload)?;
    let mut buf = [MaybeUninit::uninit(); SIGNATURE_BUF_LEN];
    let signature = decode_segment_uninit(parts.signature(), Segment::Signature, &mut buf)?;
    if alg.verify(key, parts.signing_input(), signature).is_err() {
        // Cold: the header is read again for the key id to report.
        let mut header_buf = [0u8; HEADER_BUF_LEN];
        let kid = read_header::<A, E>(parts, alg, &mut header_buf)
            .map_or_else(|_| String::new(), |header| cut(&header.kid));
        return Err(TokenError::Signature { kid });
    }
    let payload = String::from_utf8(payload).map_err(|e| JwsError::Utf8 {
        segment: Segment::Payload,
        offset: e.utf8_error().valid_up_to(),
    })?;
    strict_object_text(&payload, Segment::Payload, members)?;
    Ok(payload)
}

/// Any header, through the strict parser and [`check_header`].
fn parsed_header<A: Algorithm, E>(header: &[u8], alg: A) -> Result<Header<'_>, TokenError<E>> {
    let mut members = Members::default();
    let text = strict_object(header, Segment::Header, &mut members)?;
    check_header(text, &members, alg)
}

/// The `kid` of a header written the way Apple writes it,
/// `{"kid":"…","alg":"RS256"}` (or with `alg` first; `alg` the allowed
/// one), with a `kid` of printable ASCII other than `"` and `\`. Such a
/// header is, byte for byte, strict JSON with exactly these two members, so
/// [`check_header`] would accept it with the same `kid`; every other header
/// goes through the parser.
fn plain_header_kid<'h>(header: &'h [u8], alg: &str) -> Option<&'h str> {
    let alg = alg.as_bytes();
    let kid_first = || {
        header
            .strip_prefix(br#"{"kid":""#)?
            .strip_suffix(br#""}"#)?
            .strip_suffix(alg)?
            .strip_suffix(br#"","alg":""#)
    };
    let alg_first = || {
        header
            .strip_prefix(br#"{"alg":""#)?
            .strip_prefix(alg)?
            .strip_prefix(br#"","kid":""#)?
            .strip_suffix(br#""}"#)
    };
    let kid = kid_first().or_else(alg_first)?;
    let plain = |b: &u8| matches!(b, b' '..=b'~') && *b != b'"' && *b != b'\\';
    if kid.is_empty() || !kid.iter().all(plain) {
        return None;
    }
    std::str::from_utf8(kid).ok()
}

/// Checks a header (already strict JSON): `alg`, `kid`, no `crit` or `b64`;
/// `typ` read when it is a string.
fn check_header<'h, A: Algorithm, E>(
    json: &'h str,
    members: &Members,
    alg: A,
) -> Result<Header<'h>, TokenError<E>> {
    let (mut found, mut kid, mut typ) = (Wire::Absent, Wire::Absent, Wire::Absent);
    for member in members.iter() {
        match &*member.name(json) {
            b"alg" => found = Wire::of(member, json),
            b"kid" => kid = Wire::of(member, json),
            b"typ" => typ = Wire::of(member, json),
            b"crit" => return Err(TokenError::ForbiddenHeader { name: "crit" }),
            b"b64" => return Err(TokenError::ForbiddenHeader { name: "b64" }),
            _ => {}
        }
    }
    let allowed = alg.name();
    let found = match &found {
        Wire::Str(found) if found == allowed => None,
        Wire::Str(found) => Some(format!("{:?}", cut(found))),
        Wire::Absent => Some("missing".to_owned()),
        other => Some(other.kind().to_owned()),
    };
    if let Some(found) = found {
        return Err(TokenError::Algorithm { found, allowed });
    }
    let kid = match kid {
        Wire::Str(kid) if !kid.is_empty() => kid,
        _ => return Err(TokenError::KidMissing),
    };
    let typ = match typ {
        Wire::Str(typ) => Some(typ),
        _ => None,
    };
    Ok(Header { kid, typ })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(json: &str) -> Result<String, TokenError<()>> {
        let mut members = Members::default();
        let text = strict_object(json.as_bytes(), Segment::Header, &mut members).unwrap();
        check_header(text, &members, Rs256).map(|header| header.kid.into_owned())
    }

    #[test]
    fn header_needs_rs256_and_a_kid() {
        assert_eq!(header_of(r#"{"kid":"A","alg":"RS256"}"#).unwrap(), "A");
        assert_eq!(
            header_of(r#"{"kid":"\u0041","alg":"RS256","typ":"JWT"}"#).unwrap(),
            "A"
        );
        for (json, found) in [
            (r#"{"kid":"A","alg":"none"}"#, "\"none\""),
            (r#"{"kid":"A","alg":"rs256"}"#, "\"rs256\""),
            (r#"{"kid":"A"}"#, "missing"),
            (r#"{"kid":"A","alg":null}"#, "null"),
            (r#"{"kid":"A","alg":["RS256"]}"#, "an array"),
        ] {
            match header_of(json) {
                Err(TokenError::Algorithm { found: f, .. }) => assert_eq!(f, found, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
        for json in [
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"RS256","kid":""}"#,
            r#"{"alg":"RS256","kid":7}"#,
        ] {
            assert!(
                matches!(header_of(json), Err(TokenError::KidMissing)),
                "{json}"
            );
        }
        assert!(matches!(
            header_of(r#"{"alg":"RS256","kid":"A","crit":["exp"]}"#),
            Err(TokenError::ForbiddenHeader { name: "crit" })
        ));
        assert!(matches!(
            header_of(r#"{"alg":"RS256","kid":"A","b64":true}"#),
            Err(TokenError::ForbiddenHeader { name: "b64" })
        ));
    }

    #[test]
    fn plain_headers_skip_the_parser_with_the_same_kid() {
        for json in [
            r#"{"kid":"W6WcOKB","alg":"RS256"}"#,
            r#"{"alg":"RS256","kid":"eXaunmL"}"#,
            r#"{"kid":"a b~!#$%&'()*+,-./:;<=>?@[]^_`{|}","alg":"RS256"}"#,
        ] {
            let fast = plain_header_kid(json.as_bytes(), "RS256").expect(json);
            assert_eq!(fast, header_of(json).unwrap(), "{json}");
        }
    }

    #[test]
    fn other_headers_go_through_the_parser() {
        for json in [
            // Anything but Apple's two members, byte for byte.
            r#"{"kid":"A","alg":"RS256","crit":["exp"]}"#,
            r#"{"kid":"A","alg":"HS256"}"#,
            r#"{"kid":"A", "alg":"RS256"}"#,
            r#"{"kid":"A","alg":"RS256"} "#,
            r#"{"kid":"","alg":"RS256"}"#,
            r#"{"alg":"RS256","kid":""}"#,
            // A kid that would need the parser: escapes, quotes, control or non-ASCII.
            r#"{"kid":"\u0041","alg":"RS256"}"#,
            r#"{"kid":"A\"","alg":"RS256"}"#,
            "{\"kid\":\"A\u{1}\",\"alg\":\"RS256\"}",
            r#"{"kid":"é","alg":"RS256"}"#,
            // A second alg smuggled inside what would be the kid.
            r#"{"kid":"A","alg":"none","kid":"B","alg":"RS256"}"#,
            r#"{"alg":"RS256","kid":"A","alg":"none","kid":"B"}"#,
        ] {
            assert_eq!(plain_header_kid(json.as_bytes(), "RS256"), None, "{json}");
        }
    }

    #[test]
    fn plain_headers_are_read_for_the_allowed_algorithm_only() {
        for json in [
            r#"{"kid":"A","alg":"ES256"}"#,
            r#"{"alg":"ES256","kid":"A"}"#,
        ] {
            assert_eq!(plain_header_kid(json.as_bytes(), Es256.name()), Some("A"));
            assert_eq!(plain_header_kid(json.as_bytes(), Rs256.name()), None);
        }
    }
}
