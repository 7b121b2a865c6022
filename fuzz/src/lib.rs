//! Shared pieces of the fuzz targets in `fuzz_targets/`: an allocation meter
//! for the input-size bound and each parser's bound, the fixture keys that
//! sign tokens, a verifier on a fixed key set and a fixed clock, seed writing,
//! and the prelude every target imports.
//!
//! Every target checks, besides "nothing panics", an invariant of its own;
//! see README.md for the list.

pub mod alloc;
pub mod bounds;
pub mod fixtures;
pub mod json_ref;
pub mod prelude;
pub mod seeds;

use std::future::Future;
use std::sync::OnceLock;

/// Runs a future to completion on one current-thread runtime, made once per
/// process (the targets are single-threaded).
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a current-thread runtime")
        })
        .block_on(future)
}

/// The input as text: lossy, so that no input is wasted on a UTF-8 check the
/// API would never see (they take `&str`).
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Splits `data` at the first `sep` byte: (before, after); all of it before
/// when there is none.
pub fn cut(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == sep) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}
