//! The OpenID provider's codes and grants on SQLite: `store::provider`'s
//! methods, with this backend's transaction.

use super::super::provider::{self, provider_methods};
use super::super::rows::{CodeRow, GrantRow, SPENT_CODE_KEPT_SECS};
use super::super::sign_in::SignInSteps;
use super::super::{Grant, NewOidcCode, NewSession, OidcCode, Redemption, StoreResult};
use super::SqliteStore;

provider_methods!(SqliteStore, provider::PURGE_CODES);
