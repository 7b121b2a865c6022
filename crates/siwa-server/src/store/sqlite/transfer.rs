//! A team transfer's export and import on SQLite (`siwa migrate`).

use super::super::sign_in::SignInSteps;
use super::super::{ExportedIdentity, Relink, StoreResult, TransferProgress};
use super::steps::Steps;
use super::SqliteStore;

impl SqliteStore {
    pub(super) async fn export_batch(
        &self,
        team_id: &str,
        target: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT sub FROM apple_identities WHERE team_id = ?1 \
             AND (transfer_sub IS NULL OR transfer_target IS NOT ?2) AND sub > ?3 \
             ORDER BY sub LIMIT ?4",
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
            "SELECT COUNT(*), COUNT(CASE WHEN transfer_sub IS NOT NULL AND transfer_target = ?2 \
             THEN 1 END) FROM apple_identities WHERE team_id = ?1",
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
            "UPDATE apple_identities SET transfer_sub = ?3, transfer_target = ?4 \
             WHERE team_id = ?1 AND sub = ?2",
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
             WHERE transfer_target = ?1 AND team_id <> ?1 AND transfer_sub > ?2 \
             ORDER BY transfer_sub LIMIT ?3",
        )
        .bind(target)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(exported).collect())
    }

    pub(super) async fn import_counts(&self, target: &str) -> StoreResult<TransferProgress> {
        let (total, done): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(CASE WHEN team_id = ?1 THEN 1 END) FROM apple_identities \
             WHERE transfer_target = ?1 AND transfer_sub IS NOT NULL",
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
        let mut tx = Steps(self.begin().await?);
        let relink = tx.relink(transfer_sub, team_id, sub, relay_email).await?;
        tx.0.commit().await?;
        Ok(relink)
    }
}

fn exported(
    (team_id, sub, transfer_sub, user_id): (String, String, String, String),
) -> ExportedIdentity {
    ExportedIdentity {
        team_id,
        sub,
        transfer_sub,
        user_id,
    }
}
