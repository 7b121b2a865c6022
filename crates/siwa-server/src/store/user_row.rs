//! The user row, mapped once: its column list (in the order every query
//! selects it) and one mapping from any row type that can give a column by
//! position, for sqlx's SQLite and PostgreSQL rows and rusqlite's.

use super::User;

/// The columns of [`User`], in the order of [`UserRow::user`]'s positions.
pub(super) const USER_COLUMNS: &str = "id, email, email_verified, is_private_email, \
     email_forwarding, first_name, last_name, real_user_status, created_at, last_login_at";

/// How many [`USER_COLUMNS`] there are (a query's next column is at this position).
pub(super) const USER_COLUMN_COUNT: usize = 10;

/// A row that holds the [`USER_COLUMNS`] from position 0.
pub(super) trait UserRow {
    type Error;
    fn text(&self, at: usize) -> Result<String, Self::Error>;
    fn maybe_text(&self, at: usize) -> Result<Option<String>, Self::Error>;
    fn flag(&self, at: usize) -> Result<bool, Self::Error>;
    fn int(&self, at: usize) -> Result<i64, Self::Error>;
    fn maybe_int(&self, at: usize) -> Result<Option<i64>, Self::Error>;

    /// The user in this row.
    fn user(&self) -> Result<User, Self::Error> {
        Ok(User {
            id: self.text(0)?,
            email: self.maybe_text(1)?,
            email_verified: self.flag(2)?,
            is_private_email: self.flag(3)?,
            email_forwarding: self.flag(4)?,
            first_name: self.maybe_text(5)?,
            last_name: self.maybe_text(6)?,
            real_user_status: self.maybe_int(7)?,
            created_at: self.int(8)?,
            last_login_at: self.int(9)?,
        })
    }
}

/// sqlx rows of either backend.
macro_rules! sqlx_user_row {
    ($row:ty) => {
        impl UserRow for $row {
            type Error = sqlx::Error;
            fn text(&self, at: usize) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(self, at)
            }
            fn maybe_text(&self, at: usize) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(self, at)
            }
            fn flag(&self, at: usize) -> Result<bool, sqlx::Error> {
                sqlx::Row::try_get(self, at)
            }
            fn int(&self, at: usize) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, at)
            }
            fn maybe_int(&self, at: usize) -> Result<Option<i64>, sqlx::Error> {
                sqlx::Row::try_get(self, at)
            }
        }
    };
}

sqlx_user_row!(sqlx::sqlite::SqliteRow);
sqlx_user_row!(sqlx::postgres::PgRow);

impl UserRow for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, at: usize) -> rusqlite::Result<String> {
        self.get(at)
    }
    fn maybe_text(&self, at: usize) -> rusqlite::Result<Option<String>> {
        self.get(at)
    }
    fn flag(&self, at: usize) -> rusqlite::Result<bool> {
        self.get(at)
    }
    fn int(&self, at: usize) -> rusqlite::Result<i64> {
        self.get(at)
    }
    fn maybe_int(&self, at: usize) -> rusqlite::Result<Option<i64>> {
        self.get(at)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_column_count_is_the_list_s() {
        assert_eq!(
            super::USER_COLUMNS.split(',').count(),
            super::USER_COLUMN_COUNT
        );
    }
}
