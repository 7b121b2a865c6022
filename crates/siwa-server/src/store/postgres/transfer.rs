//! A team transfer's export and import on PostgreSQL: `store::team_transfer`'s
//! methods, with this backend's transaction.

use super::super::sign_in::SignInSteps;
use super::super::team_transfer::transfer_methods;
use super::super::{ExportedIdentity, Relink, StoreResult, TransferProgress};
use super::PostgresStore;

transfer_methods!(PostgresStore);
