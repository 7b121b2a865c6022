//! The heap each target's parser may use (see [`crate::alloc`]): bytes per
//! input byte plus a constant, one bound per parser, in one place so that
//! they can be read and compared together.

use crate::alloc::Bound;

/// `jws::split` and the strict base64url decoders: the decoded bytes, at
/// most the input's size, plus a constant.
pub const JWS: Bound = Bound {
    per_byte: 1,
    constant: 512,
};

/// `jws::strict_json`. The checker builds no values, but it records the
/// spans of the top-level members (40 bytes each) and the names of open
/// objects (24 bytes each), past a few inline slots on the heap:
/// `{"":0,"":1,...}` costs about 30 bytes per input byte with the vectors'
/// doubling. Linear, and a token is at most 16 KiB.
pub const JSON: Bound = Bound {
    per_byte: 48,
    constant: 4096,
};

/// A token verified end to end (`Verifier` on identity tokens and
/// notifications, their claims included): decoded segments, member spans,
/// typed claims and error messages.
pub const TOKEN: Bound = Bound {
    per_byte: 64,
    constant: 64 * 1024,
};

/// `JwkSet::from_json`, `KeySet::from_jwks` and RSA keys from components.
pub const JWKS: Bound = Bound {
    per_byte: 48,
    constant: 16 * 1024,
};

/// `Callback::parse` and `User::from_json`.
pub const CALLBACK: Bound = Bound {
    per_byte: 16,
    constant: 16 * 1024,
};

/// `.p8` keys and key settings: PEM blocks and their decoded DER.
pub const P8: Bound = Bound {
    per_byte: 8,
    constant: 16 * 1024,
};

/// `Doctor::examine`: the decoded secret, its JSON as values, and a report
/// of eleven checks.
pub const DOCTOR: Bound = Bound {
    per_byte: 96,
    constant: 64 * 1024,
};
