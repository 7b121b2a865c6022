//! What both doctors print: the checklist (or `--json`
//! `{"ok","checks":[{"id","status","message","hint"}]}`) and the exit code.
//! A check is the kit's [`Check`] with its id as text, so that the preflight's
//! ids (`apple.secret:<client_id>`) can name what they checked.

use serde::Serialize;
use siwa_kit::doctor::{Check, Status};

use crate::failure::{Failure, Outcome};
use crate::style::{color_stdout, Paint};

/// One check: what was found and what to do.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Finding {
    pub(crate) id: String,
    pub(crate) status: Status,
    pub(crate) message: String,
    /// How to fix it (empty when it passed).
    pub(crate) hint: String,
}

impl Finding {
    pub(crate) fn pass(id: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(id, Status::Pass, message, "")
    }

    pub(crate) fn fail(
        id: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(id, Status::Fail, message, hint)
    }

    pub(crate) fn warn(
        id: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(id, Status::Warn, message, hint)
    }

    pub(crate) fn skip(
        id: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(id, Status::Skip, message, hint)
    }

    /// The kit's check under another id (the probe of one client id).
    pub(crate) fn renamed(check: Check, id: impl Into<String>) -> Self {
        Self::new(id, check.status, check.message, check.hint)
    }

    fn new(
        id: impl Into<String>,
        status: Status,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            status,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl From<Check> for Finding {
    fn from(check: Check) -> Self {
        let id = check.id.as_str();
        Self::renamed(check, id)
    }
}

/// The verdict: `ok` unless a check failed.
#[derive(Debug, Serialize)]
pub(crate) struct Findings {
    pub(crate) ok: bool,
    pub(crate) checks: Vec<Finding>,
}

impl Findings {
    pub(crate) fn new(checks: Vec<Finding>) -> Self {
        let ok = checks.iter().all(|c| c.status != Status::Fail);
        Self { ok, checks }
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// What the checklist says around the checks.
pub(crate) struct Wording {
    pub(crate) title: String,
    /// After "N check(s) failed: ".
    pub(crate) failed: &'static str,
    /// After "No check failed, N warning(s): ".
    pub(crate) warned: &'static str,
    pub(crate) passed: &'static str,
    /// Said when some checks were skipped (empty: nothing).
    pub(crate) skipped: &'static str,
}

/// Prints the findings (JSON or the checklist) and gives the exit code: 0
/// when none failed, 1 otherwise.
pub(crate) fn conclude(findings: &Findings, json: bool, wording: &Wording) -> Outcome {
    if json {
        let text = serde_json::to_string_pretty(findings)
            .map_err(|e| Failure::usage(format!("cannot print the report: {e}"), ""))?;
        println!("{text}");
    } else {
        print_checklist(findings, wording, Paint { on: color_stdout() });
    }
    if findings.ok {
        Ok(())
    } else {
        Err(Failure::Judged(String::new()))
    }
}

fn print_checklist(findings: &Findings, wording: &Wording, paint: Paint) {
    println!("{}", paint.bold(&wording.title));
    println!();
    let width = findings
        .checks
        .iter()
        .map(|c| c.id.chars().count())
        .max()
        .unwrap_or(0)
        .max(18)
        + 1;
    for check in &findings.checks {
        print_check(check, width, paint);
    }
    println!();
    let (failed, warned) = (findings.count(Status::Fail), findings.count(Status::Warn));
    let skipped = findings.count(Status::Skip);
    if failed > 0 {
        let noun = if failed == 1 { "check" } else { "checks" };
        println!(
            "{}",
            paint.red(&format!("{failed} {noun} failed: {}", wording.failed))
        );
    } else if warned > 0 {
        println!(
            "{}",
            paint.yellow(&format!(
                "No check failed, {warned} warning(s): {}",
                wording.warned
            ))
        );
    } else {
        println!("{}", paint.green(wording.passed));
    }
    if skipped > 0 && !wording.skipped.is_empty() {
        println!(
            "{}",
            paint.dim(&format!("{skipped} skipped: {}", wording.skipped))
        );
    }
}

fn print_check(check: &Finding, width: usize, paint: Paint) {
    let colored = match check.status {
        Status::Pass => paint.green("✓"),
        Status::Fail => paint.red("✗"),
        Status::Warn => paint.yellow("!"),
        _ => paint.dim("-"),
    };
    println!("  {colored} {:<width$} {}", check.id, check.message);
    if !check.hint.is_empty() && check.status != Status::Pass {
        println!(
            "    {:<width$} {}",
            "",
            paint.dim(&format!("fix: {}", check.hint))
        );
    }
}
