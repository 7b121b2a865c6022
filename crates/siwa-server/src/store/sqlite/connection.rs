//! What keeps the pool's connections sound and the database file private:
//! connections left inside a failed transaction, or opened before a
//! read-only or I/O failure, are closed instead of reused; the file is
//! created owner-only.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The moment before which pooled connections may be spoiled: SQLite opens a
/// database read-only, for good, when its file system is read-only at that
/// moment, so a connection opened during such an outage would refuse writes
/// after it. Connections older than the last read-only or I/O failure are
/// closed instead of reused; new ones see the file system as it is now.
#[derive(Debug)]
pub(super) struct SpoiledBefore {
    origin: Instant,
    /// Milliseconds after `origin` of the last such failure (0: none).
    at_ms: AtomicU64,
}

impl SpoiledBefore {
    pub(super) fn new() -> Self {
        Self {
            origin: Instant::now(),
            at_ms: AtomicU64::new(0),
        }
    }

    pub(super) fn mark(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.at_ms.store(ms.max(1), Ordering::Release);
    }

    /// Whether a connection of this age was opened before the last failure.
    pub(super) fn spoils(&self, age: Duration) -> bool {
        let at = self.at_ms.load(Ordering::Acquire);
        if at == 0 {
            return false;
        }
        let now_ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let opened_ms = now_ms.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
        opened_ms <= at
    }
}

/// Whether a pooled connection may be used: not if it is still inside a
/// transaction. When a statement fails with `SQLITE_FULL` or `SQLITE_IOERR`,
/// SQLite rolls the transaction back itself; sqlx's rollback then fails ("no
/// transaction is active") and its count of open transactions stays at one,
/// so every later `BEGIN` on that connection would fail until a restart. The
/// rollback sqlx queued when the transaction was dropped runs first (the
/// ping waits for it); a connection still in a transaction after it is closed.
pub(super) async fn out_of_transaction(
    conn: &mut sqlx::SqliteConnection,
) -> Result<bool, sqlx::Error> {
    use sqlx::Connection as _;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("a database connection was left inside a failed transaction; it is closed");
        return Ok(false);
    }
    Ok(true)
}

/// Creates the database file readable by its owner only (0600), or tightens
/// an existing one (and its `-wal` and `-shm`, which SQLite creates with the
/// database file's mode) that others could read, with a warning.
pub(super) fn owner_only(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            let file = Path::new(&file);
            let Ok(meta) = std::fs::metadata(file) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %file.display(),
                    mode = format!("{mode:o}"),
                    "the database file was readable by other users; made it owner-only (0600)"
                );
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_before_a_file_failure_are_spoiled() {
        let spoiled = SpoiledBefore::new();
        assert!(
            !spoiled.spoils(Duration::from_secs(3600)),
            "nothing failed yet"
        );
        std::thread::sleep(Duration::from_millis(20));
        spoiled.mark();
        assert!(
            spoiled.spoils(Duration::from_millis(50)),
            "opened before the failure"
        );
        std::thread::sleep(Duration::from_millis(20));
        assert!(!spoiled.spoils(Duration::from_millis(5)), "opened after it");
    }
}
