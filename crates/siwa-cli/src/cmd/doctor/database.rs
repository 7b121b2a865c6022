//! The preflight's `database` check: the database is reachable and its schema
//! is this build's, read without migrating, creating or writing anything
//! (`siwa_server::store::inspect_schema`). Messages name the database by its
//! file or its URL with the password masked.

use siwa_server::store::{inspect_schema, DatabaseUrl, Schema};

use super::report::Finding;
use crate::cmd::apple::chain;

const ID: &str = "database";

pub(super) async fn check(url: &DatabaseUrl) -> Finding {
    let place = url.place();
    match inspect_schema(url.expose()).await {
        Ok(schema) => judge(&schema, &place),
        Err(e) => Finding::fail(
            ID,
            format!(
                "cannot read {place}: {}",
                without_password(&chain(&e), url.expose())
            ),
            "check database_url, that the database runs and is reachable from here, and its user and password",
        ),
    }
}

fn judge(schema: &Schema, place: &str) -> Finding {
    if !schema.unknown.is_empty() {
        return Finding::fail(
            ID,
            format!(
                "{place} holds migrations this siwa does not have ({}): a newer siwa migrated it, and this one would refuse to start",
                versions(&schema.unknown)
            ),
            "deploy the siwa release that migrated it (or a later one); older releases cannot run on a newer schema",
        );
    }
    if !schema.modified.is_empty() || !schema.failed.is_empty() {
        let mut what = Vec::new();
        if !schema.modified.is_empty() {
            what.push(format!(
                "changed after they ran: {}",
                versions(&schema.modified)
            ));
        }
        if !schema.failed.is_empty() {
            what.push(format!("failed half-way: {}", versions(&schema.failed)));
        }
        return Finding::fail(
            ID,
            format!(
                "{place}: migrations {}; siwa serve would refuse to start",
                what.join("; ")
            ),
            "a migration that failed half-way needs its changes finished or undone by hand, then its row removed from _sqlx_migrations; one changed after it ran means this binary is not the release that migrated the database",
        );
    }
    if !schema.exists {
        return Finding::warn(
            ID,
            format!(
                "{place} holds no siwa schema yet: siwa serve creates it and applies its {} migrations at its first start",
                schema.known
            ),
            "nothing to do if this is a new deployment; otherwise check that database_url names the database in use",
        );
    }
    if !schema.pending.is_empty() {
        return Finding::warn(
            ID,
            format!(
                "{place} is reachable; {} of {} migrations are pending ({}): siwa serve applies them at start",
                schema.pending.len(),
                schema.known,
                schema.pending.join(", ")
            ),
            "back the database up before the upgrade; with replicas, the first one to start migrates (under a lock) and older replicas keep running",
        );
    }
    Finding::pass(
        ID,
        format!(
            "{place} is reachable; all {} migrations applied",
            schema.known
        ),
    )
}

fn versions(list: &[i64]) -> String {
    list.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error's text with the URL's password, if it appears, masked.
fn without_password(text: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .filter(|p| !p.is_empty());
    match password {
        Some(password) => text.replace(password, "***"),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_an_error_is_masked() {
        let url = "postgres://siwa:s3cret@db:5432/siwa";
        assert_eq!(
            without_password("bad url postgres://siwa:s3cret@db", url),
            "bad url postgres://siwa:***@db"
        );
        assert_eq!(without_password("refused", "sqlite://siwa.db"), "refused");
    }
}
