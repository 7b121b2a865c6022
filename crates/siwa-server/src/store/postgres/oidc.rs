//! The OpenID provider's codes and grants on PostgreSQL: `store::provider`'s
//! methods, with this backend's transaction.

use super::super::provider::{self, provider_methods};
use super::super::rows::{CodeRow, GrantRow, SPENT_CODE_KEPT_SECS};
use super::super::sign_in::SignInSteps;
use super::super::{Grant, NewOidcCode, NewSession, OidcCode, Redemption, StoreResult};
use super::PostgresStore;

provider_methods!(PostgresStore, super::purge::OIDC_CODES);
