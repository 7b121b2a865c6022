//! Account events to the application behind the service (outbound
//! webhooks). The store writes each event to its outbox in the transaction
//! of the change that causes it (`store::events`); this worker delivers them
//! to every `[[webhook]]` endpoint that takes their type, signed per the
//! Standard Webhooks specification (`signature.rs`), at least once, in order
//! per user, retrying with exponential backoff for three days; then the
//! event is marked failed, and `siwa webhooks retry` sends it again. Replicas
//! on PostgreSQL share the outbox: each event is leased by one of them.

mod delivery;
mod signature;

pub use delivery::{run_due, spawn_worker, GIVE_UP_AFTER_SECS};
pub use signature::{sign, SignedHeaders};
