//! One module per subcommand.

pub(crate) mod apple;
pub(crate) mod authorize_url;
pub(crate) mod completions;
pub(crate) mod demo;
pub(crate) mod doctor;
pub(crate) mod emulator;
pub(crate) mod exchange;
pub(crate) mod init;
pub(crate) mod manpages;
pub(crate) mod migrate;
pub(crate) mod pubkey;
pub(crate) mod refresh;
pub(crate) mod revoke;
pub(crate) mod secret;
pub(crate) mod serve;
pub(crate) mod verify;
pub(crate) mod webhooks;
