//! One module per subcommand.

pub(crate) mod doctor;
pub(crate) mod emulator;
pub(crate) mod pubkey;
pub(crate) mod secret;
