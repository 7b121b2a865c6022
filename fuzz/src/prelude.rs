//! What every target imports: `use siwa_fuzz::prelude::*;`.

pub use libfuzzer_sys::fuzz_target;

pub use crate::alloc::bounded;
pub use crate::seeds::framed;
pub use crate::{bounds, fixtures};
