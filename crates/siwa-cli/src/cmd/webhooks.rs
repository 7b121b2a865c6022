//! `siwa webhooks list|retry`: the delivery log of account events (the
//! service's outbox), and sending an event again.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use siwa_kit::clock::{Clock, SystemClock, UnixTime};
use siwa_server::store::{EventFilter, EventState, OutboxEvent, Store};

use crate::cmd::serve::load_settings;
use crate::failure::{Failure, Outcome};

#[derive(Args, Debug)]
pub(crate) struct WebhooksArgs {
    #[command(subcommand)]
    step: Step,
}

#[derive(Debug, Subcommand)]
enum Step {
    /// The newest events with where their delivery stands.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Only events in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// Only this user's events (the service's user id).
        #[arg(long, value_name = "USER_ID")]
        user: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: u32,
        /// One JSON object per line instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Sends events again (by their webhook-id) to every endpoint that takes them.
    Retry {
        #[command(flatten)]
        config: ConfigArg,
        /// The events' ids (`msg_…`, as `list` shows them).
        #[arg(required = true, value_name = "EVENT_ID")]
        ids: Vec<String>,
    },
}

#[derive(Args, Debug)]
struct ConfigArg {
    /// The service's configuration (as `siwa serve --config`; SIWA_* variables win).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StateArg {
    Pending,
    Delivered,
    Failed,
}

impl From<StateArg> for EventState {
    fn from(state: StateArg) -> Self {
        match state {
            StateArg::Pending => Self::Pending,
            StateArg::Delivered => Self::Delivered,
            StateArg::Failed => Self::Failed,
        }
    }
}

pub(crate) fn run(args: WebhooksArgs) -> Outcome {
    crate::logging::init();
    let config = match &args.step {
        Step::List { config, .. } | Step::Retry { config, .. } => &config.config,
    };
    let settings = load_settings(Some(config))?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}"), ""))?;
    runtime.block_on(async {
        let store = siwa_server::store::connect(&settings.database_url)
            .await
            .map_err(|e| {
                Failure::usage(
                    format!("cannot open the database {}: {e}", settings.database_url),
                    "check database_url in the configuration and that the database runs",
                )
            })?;
        match args.step {
            Step::List {
                state,
                user,
                limit,
                json,
                ..
            } => {
                let filter = EventFilter {
                    state: state.map(EventState::from),
                    user_id: user,
                    limit: i64::from(limit.max(1)),
                };
                list(store.as_ref(), &filter, json).await
            }
            Step::Retry { ids, .. } => retry(store.as_ref(), &ids).await,
        }
    })
}

async fn list(store: &dyn Store, filter: &EventFilter, json: bool) -> Outcome {
    let events = store.list_events(filter).await.map_err(database)?;
    if json {
        for event in &events {
            println!("{}", event_json(event));
        }
        return Ok(());
    }
    if events.is_empty() {
        println!("no events");
        return Ok(());
    }
    println!(
        "{:<36}  {:<30}  {:<9}  {:>8}  {:<20}  LAST ERROR",
        "ID", "TYPE", "STATE", "ATTEMPTS", "CREATED"
    );
    for event in &events {
        println!(
            "{:<36}  {:<30}  {:<9}  {:>8}  {:<20}  {}",
            event.event_id,
            event.kind,
            event.state.as_str(),
            event.attempts,
            iso(event.created_at),
            event.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

async fn retry(store: &dyn Store, ids: &[String]) -> Outcome {
    let now = i64::try_from(SystemClock.now().secs()).unwrap_or(i64::MAX);
    let mut unknown = Vec::new();
    for id in ids {
        if store.requeue_event(id, now).await.map_err(database)? {
            println!("{id}: queued; a running `siwa serve` sends it within a second");
        } else {
            eprintln!("{id}: no such event (see `siwa webhooks list`)");
            unknown.push(id.as_str());
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Failure::Judged(format!(
            "unknown event ids: {}",
            unknown.join(", ")
        )))
    }
}

fn event_json(event: &OutboxEvent) -> serde_json::Value {
    serde_json::json!({
        "id": event.event_id,
        "type": event.kind,
        "user_id": event.user_id,
        "state": event.state.as_str(),
        "attempts": event.attempts,
        "created_at": iso(event.created_at),
        "next_attempt_at": (event.state == EventState::Pending).then(|| iso(event.next_attempt_at)),
        "finished_at": event.finished_at.map(iso),
        "last_error": event.last_error,
    })
}

fn iso(secs: i64) -> String {
    UnixTime::from_secs(u64::try_from(secs).unwrap_or(0)).iso8601()
}

fn database(e: siwa_server::store::StoreError) -> Failure {
    Failure::usage(
        format!("the database failed: {e}"),
        "check database_url in the configuration and that the database runs",
    )
}
