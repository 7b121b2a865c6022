//! A scratch schema for the tests that read query plans: the migrations run
//! in a schema of the test's own on `SIWA_TEST_DATABASE_URL`'s database,
//! dropped at the end. A test that fails never reaches its end: the schemas
//! it left are dropped by the next run of the same test (their process is
//! gone), so a failing test does not fill the database.

use sqlx::{Connection, PgConnection};

use super::MIGRATOR;

/// A connection whose `search_path` is a fresh, migrated schema named after
/// `name` and the process.
pub(super) struct Scratch {
    pub(super) conn: PgConnection,
    schema: String,
}

impl Scratch {
    /// `None` (and a line saying the test skips) when
    /// `SIWA_TEST_DATABASE_URL` is not set.
    pub(super) async fn open(name: &str) -> Option<Self> {
        let Some(base) = std::env::var("SIWA_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!("skipping: SIWA_TEST_DATABASE_URL is not set");
            return None;
        };
        let mut conn = PgConnection::connect(&base).await.unwrap();
        drop_abandoned(&mut conn, name).await;
        let schema = format!("siwa_{name}_{}", std::process::id());
        for statement in [
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            format!("CREATE SCHEMA {schema}"),
            format!("SET search_path = {schema}"),
        ] {
            sqlx::raw_sql(&statement).execute(&mut conn).await.unwrap();
        }
        MIGRATOR.run(&mut conn).await.unwrap();
        Some(Self { conn, schema })
    }

    /// Runs SQL text (several statements allowed).
    pub(super) async fn run(&mut self, sql: &str) {
        sqlx::raw_sql(sql).execute(&mut self.conn).await.unwrap();
    }

    /// The plan PostgreSQL's generic plan (the one a prepared statement
    /// settles on) gives `statement` with `arguments`, without costs.
    pub(super) async fn generic_plan(&mut self, statement: &str, arguments: &str) -> String {
        self.run("SET plan_cache_mode = force_generic_plan").await;
        self.run(&format!("PREPARE planned AS {statement}")).await;
        let lines: Vec<String> =
            sqlx::query_scalar(&format!("EXPLAIN (COSTS OFF) EXECUTE planned({arguments})"))
                .fetch_all(&mut self.conn)
                .await
                .unwrap();
        self.run("DEALLOCATE planned").await;
        lines.join("\n")
    }

    /// Drops the schema.
    pub(super) async fn remove(mut self) {
        let drop = format!("DROP SCHEMA {} CASCADE", self.schema);
        self.run(&drop).await;
    }
}

/// Drops the schemas that earlier runs of the test `name` left behind: those
/// whose process (the number after the name) no longer runs on this machine.
async fn drop_abandoned(conn: &mut PgConnection, name: &str) {
    let prefix = format!("siwa_{name}_");
    let schemas: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)")
            .bind(&prefix)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    for schema in schemas {
        let Some(pid) = schema
            .strip_prefix(&prefix)
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            sqlx::raw_sql(&drop).execute(&mut *conn).await.unwrap();
        }
    }
}
