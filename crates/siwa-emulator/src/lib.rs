//! siwa-emulator: placeholder crate of the workspace layout in DESIGN.md.
//!
//! Nothing is implemented here yet; see the issue tracker.
