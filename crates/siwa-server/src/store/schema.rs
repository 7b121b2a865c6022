//! How a database's schema compares with the migrations built into this
//! binary, read without changing anything: for `siwa doctor --config` (before
//! the service starts, so without migrating or creating the database) and for
//! `GET /readyz?deep=1` (through [`super::Store::schema`]).
//!
//! sqlx keeps the applied migrations in `_sqlx_migrations` (version,
//! checksum, success). `siwa serve` applies the pending ones at start, and
//! refuses to start when the table holds a version this binary lacks (a newer
//! siwa migrated it), one whose checksum differs (a migration file was edited
//! after it ran) or one that failed half-way.

use sqlx::migrate::Migrator;

/// One row of `_sqlx_migrations`.
#[derive(Clone, Debug)]
pub(crate) struct Applied {
    pub(crate) version: i64,
    pub(crate) checksum: Vec<u8>,
    pub(crate) success: bool,
}

/// The schema against this binary's migrations. Versions are sqlx's (the
/// file name's leading number); pending ones carry their description.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Schema {
    /// Whether the database exists yet (a SQLite file not yet created: `false`).
    pub exists: bool,
    /// This binary's migrations, all of them.
    pub known: usize,
    /// This binary's migrations already applied, unchanged.
    pub applied: usize,
    /// This binary's migrations not applied yet (`siwa serve` applies them at start).
    pub pending: Vec<String>,
    /// Versions applied that this binary does not have (a newer siwa migrated the database).
    pub unknown: Vec<i64>,
    /// Versions applied whose checksum differs from this binary's file.
    pub modified: Vec<i64>,
    /// Versions whose migration failed half-way.
    pub failed: Vec<i64>,
}

impl Schema {
    /// Every migration of this binary is applied, unchanged, and none failed.
    pub fn is_current(&self) -> bool {
        self.exists && self.pending.is_empty() && self.modified.is_empty() && self.failed.is_empty()
    }

    /// `siwa serve` would refuse to start on it (sqlx's own rules).
    pub fn blocks_start(&self) -> bool {
        !self.unknown.is_empty() || !self.modified.is_empty() || !self.failed.is_empty()
    }

    /// The schema of a database not created yet: everything pending.
    pub(crate) fn absent(migrator: &Migrator) -> Self {
        Self::compare(migrator, None)
    }

    /// Compares the applied rows (`None`: no migrations table) with `migrator`.
    pub(crate) fn compare(migrator: &Migrator, applied: Option<Vec<Applied>>) -> Self {
        let exists = applied.is_some();
        let applied = applied.unwrap_or_default();
        let mut schema = Self {
            exists,
            known: migrator.iter().count(),
            ..Self::default()
        };
        for row in &applied {
            match migrator.iter().find(|m| m.version == row.version) {
                None => schema.unknown.push(row.version),
                Some(_) if !row.success => schema.failed.push(row.version),
                Some(m) if *m.checksum != *row.checksum => schema.modified.push(row.version),
                Some(_) => schema.applied += 1,
            }
        }
        schema.pending = migrator
            .iter()
            .filter(|m| !applied.iter().any(|a| a.version == m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect();
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(migrator: &Migrator, n: usize) -> Vec<Applied> {
        migrator
            .iter()
            .take(n)
            .map(|m| Applied {
                version: m.version,
                checksum: m.checksum.to_vec(),
                success: true,
            })
            .collect()
    }

    #[test]
    fn compares_applied_rows_with_the_built_in_migrations() {
        let migrator = &sqlx::migrate!("./migrations/sqlite");
        let all = migrator.iter().count();
        assert!(all > 2);

        let current = Schema::compare(migrator, Some(applied(migrator, all)));
        assert!(
            current.is_current() && !current.blocks_start(),
            "{current:?}"
        );
        assert_eq!(current.applied, all);

        let behind = Schema::compare(migrator, Some(applied(migrator, all - 1)));
        assert!(!behind.is_current() && !behind.blocks_start());
        assert_eq!(behind.pending.len(), 1);

        let mut rows = applied(migrator, all);
        rows[0].checksum = vec![0; 48];
        rows[1].success = false;
        rows.push(Applied {
            version: 99_991_231_000_000,
            checksum: vec![],
            success: true,
        });
        let odd = Schema::compare(migrator, Some(rows));
        assert!(odd.blocks_start());
        assert_eq!(odd.modified, [migrator.iter().next().unwrap().version]);
        assert_eq!(odd.failed.len(), 1);
        assert_eq!(odd.unknown, [99_991_231_000_000]);

        let absent = Schema::absent(migrator);
        assert!(!absent.exists && absent.pending.len() == all && !absent.blocks_start());
    }
}
