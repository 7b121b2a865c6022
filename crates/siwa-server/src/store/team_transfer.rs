//! A team transfer's export and import (`siwa migrate`), written once for
//! both backends (PostgreSQL's SQL, which SQLite reads alike, `IS DISTINCT
//! FROM` included) and expanded into each by [`transfer_methods!`].

use super::ExportedIdentity;

/// The transfer's methods of a backend store `$store`, whose `steps()` opens
/// a write transaction as its sign-in `Steps`.
macro_rules! transfer_methods {
    ($store:ty) => {
        impl $store {
            pub(super) async fn export_batch(
                &self,
                team_id: &str,
                target: &str,
                after: &str,
                limit: i64,
            ) -> StoreResult<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT sub FROM apple_identities WHERE team_id = $1 \
                     AND (transfer_sub IS NULL OR transfer_target IS DISTINCT FROM $2) AND sub > $3 \
                     ORDER BY sub LIMIT $4",
                )
                .bind(team_id)
                .bind(target)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            pub(super) async fn export_counts(
                &self,
                team_id: &str,
                target: &str,
            ) -> StoreResult<TransferProgress> {
                let (total, done): (i64, i64) = sqlx::query_as(
                    "SELECT COUNT(*), COUNT(CASE WHEN transfer_sub IS NOT NULL AND transfer_target = $2 \
                     THEN 1 END) FROM apple_identities WHERE team_id = $1",
                )
                .bind(team_id)
                .bind(target)
                .fetch_one(&self.pool)
                .await?;
                Ok(TransferProgress { total, done })
            }

            pub(super) async fn keep_transfer_sub(
                &self,
                team_id: &str,
                sub: &str,
                target: &str,
                transfer_sub: &str,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE apple_identities SET transfer_sub = $3, transfer_target = $4 \
                     WHERE team_id = $1 AND sub = $2",
                )
                .bind(team_id)
                .bind(sub)
                .bind(transfer_sub)
                .bind(target)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            pub(super) async fn import_batch(
                &self,
                target: &str,
                after: &str,
                limit: i64,
            ) -> StoreResult<Vec<ExportedIdentity>> {
                let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                    "SELECT team_id, sub, transfer_sub, user_id FROM apple_identities \
                     WHERE transfer_target = $1 AND team_id <> $1 AND transfer_sub > $2 \
                     ORDER BY transfer_sub LIMIT $3",
                )
                .bind(target)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::store::team_transfer::exported).collect())
            }

            pub(super) async fn import_counts(&self, target: &str) -> StoreResult<TransferProgress> {
                let (total, done): (i64, i64) = sqlx::query_as(
                    "SELECT COUNT(*), COUNT(CASE WHEN team_id = $1 THEN 1 END) FROM apple_identities \
                     WHERE transfer_target = $1 AND transfer_sub IS NOT NULL",
                )
                .bind(target)
                .fetch_one(&self.pool)
                .await?;
                Ok(TransferProgress { total, done })
            }

            pub(super) async fn relink_exported(
                &self,
                transfer_sub: &str,
                team_id: &str,
                sub: &str,
                relay_email: Option<&str>,
            ) -> StoreResult<Relink> {
                let mut steps = self.steps().await?;
                let relink = steps.relink(transfer_sub, team_id, sub, relay_email).await?;
                steps.commit().await?;
                Ok(relink)
            }
        }
    };
}

pub(super) use transfer_methods;

/// An exported identity from its row (team, sub, transfer_sub, user).
pub(super) fn exported(
    (team_id, sub, transfer_sub, user_id): (String, String, String, String),
) -> ExportedIdentity {
    ExportedIdentity {
        team_id,
        sub,
        transfer_sub,
        user_id,
    }
}
