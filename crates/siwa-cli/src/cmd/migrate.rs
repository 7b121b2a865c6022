//! `siwa migrate export|import`: moving the service's users to another Apple
//! developer team, on the service's own database (see `siwa_server::transfer`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use siwa_kit::clock::SystemClock;
use siwa_kit::ids::{ClientId, TeamId};
use siwa_server::transfer::{Failed, Migration, MigrationError, Pace, Progress, Summary};

use crate::cmd::serve::load_settings;
use crate::failure::{Failure, Outcome};

#[derive(Args, Debug)]
pub(crate) struct MigrateArgs {
    #[command(subcommand)]
    step: Step,
}

#[derive(Debug, Subcommand)]
enum Step {
    /// Before the transfer (sending team): each user's transfer_sub for the receiving team, kept in the database.
    Export {
        /// The Team ID the app moves to.
        #[arg(long, value_name = "TEAM")]
        target_team: String,
        #[command(flatten)]
        common: Common,
    },
    /// After the transfer (receiving team; the config names its team, key and client): each user relinked to the new sub.
    Import {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Debug)]
struct Common {
    /// The service's configuration (as `siwa serve --config`; SIWA_* variables win).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The app being transferred (default: the first of bundle_ids, else client_id).
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// Count what would be done; call nothing, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print {"total","done","skipped","failed"} instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Calls to Apple per second at most.
    #[arg(long, default_value_t = 20, value_name = "N")]
    per_second: u32,
}

pub(crate) fn run(args: MigrateArgs) -> Outcome {
    crate::logging::init();
    let (target, common) = match args.step {
        Step::Export {
            target_team,
            common,
        } => {
            let target = TeamId::new(target_team)
                .map_err(|e| Failure::usage(format!("--target-team: {e}"), e.hint()))?;
            (Some(target), common)
        }
        Step::Import { common } => (None, common),
    };
    let settings = load_settings(Some(&common.config))?;
    let client_id = match &common.client_id {
        Some(id) => ClientId::new(id.clone())
            .map_err(|e| Failure::usage(format!("--client-id: {e}"), e.hint()))?,
        None => settings
            .bundle_ids
            .first()
            .cloned()
            .unwrap_or_else(|| settings.client_id.clone()),
    };
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}"), ""))?;
    let summary = runtime.block_on(async {
        let store = siwa_server::store::connect(&settings.database_url)
            .await
            .map_err(|e| {
                Failure::usage(
                    format!("cannot open the database {}: {e}", settings.database_url),
                    "check database_url in the configuration and that the database runs",
                )
            })?;
        let http = siwa_server::app::apple_http(&settings).map_err(|e| Failure::usage(e, ""))?;
        let apple =
            siwa_server::app::apple_client(&settings, &client_id, http, Arc::new(SystemClock))
                .map_err(|e| Failure::usage(e, ""))?;
        let pace = Pace {
            per_second: common.per_second.max(1),
            ..Pace::default()
        };
        let migration = Migration::new(Arc::from(store), apple, settings.team_id.clone(), pace);
        let mut progress = Bar::new(!common.json && std::io::stderr().is_terminal());
        let summary = match &target {
            Some(target) => {
                migration
                    .export(target, common.dry_run, &mut progress)
                    .await
            }
            None => migration.import(common.dry_run, &mut progress).await,
        };
        progress.finish();
        summary.map_err(refused)
    })?;
    report(&summary, target.as_ref(), &common)
}

fn refused(e: MigrationError) -> Failure {
    let hint = match &e {
        MigrationError::SameTeam(_) => "--target-team is the receiving team; the config names the sending team",
        MigrationError::Client { .. } => {
            "export with the sending team's configuration before the transfer; import with the receiving team's (team_id, key_id, private_key) after it"
        }
        _ => "",
    };
    Failure::usage(e, hint)
}

fn report(summary: &Summary, target: Option<&TeamId>, common: &Common) -> Outcome {
    let failed = summary.failed.len();
    if common.json {
        println!(
            "{}",
            serde_json::json!({
                "total": summary.total,
                "done": summary.done,
                "skipped": summary.skipped,
                "failed": failed,
            })
        );
    } else {
        let (verb, step) = match target {
            Some(target) => ("exported", format!("export for team {target}")),
            None => ("relinked", "import".to_owned()),
        };
        let would = if common.dry_run {
            " (dry run: nothing called or written)"
        } else {
            ""
        };
        println!(
            "{step}: {} identities, {} {verb} now, {} already done, {failed} failed{would}",
            summary.total, summary.done, summary.skipped
        );
    }
    for Failed { identity, reason } in &summary.failed {
        eprintln!("failed: {identity}: {reason}");
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::Judged(format!(
            "{failed} identities failed; run the same command again to retry them"
        )))
    }
}

/// A progress bar on a terminal; nothing otherwise.
struct Bar(Option<ProgressBar>);

impl Bar {
    fn new(shown: bool) -> Self {
        Self(shown.then(|| {
            ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} identities {msg} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            )
        }))
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn start(&mut self, total: u64, already_done: u64) {
        if let Some(bar) = &self.0 {
            bar.set_length(total);
            bar.set_position(already_done);
        }
    }

    fn advance(&mut self, failed: Option<&Failed>) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
            if let Some(failed) = failed {
                bar.set_message(format!("(last failure: {})", failed.identity));
            }
        }
    }
}
