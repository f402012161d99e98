//! Start-up tuning from the environment (`ARGUS_STARTUP_CONCURRENCY`,
//! `ARGUS_BACKEND_RETRY_BACKOFF`) and the defaults it gives every backend's
//! retry policy (`ARGUS_BACKEND_RETRIES`, `ARGUS_BACKEND_RETRY_DELAY`). A
//! backend's own `timeouts` override these; a bad value is a problem at
//! `$NAME`. The config file itself is not read here.

use std::time::Duration;

use super::Cx;
use crate::config::{Lifecycle, Problem};

/// What the environment sets: the start-up tuning, and the retry policy
/// of every backend that does not set its own.
pub(super) struct EnvDefaults {
    /// `ARGUS_STARTUP_CONCURRENCY` and `ARGUS_BACKEND_RETRY_BACKOFF`.
    pub(super) lifecycle: Lifecycle,
    /// `ARGUS_BACKEND_RETRIES`: the default `timeouts.retries`.
    pub(super) retries: u32,
    /// `ARGUS_BACKEND_RETRY_DELAY`: the default `timeouts.retry_delay`.
    pub(super) retry_delay: Duration,
}

/// Reads the `ARGUS_*` tuning variables, defaults for the unset ones.
pub(super) fn lifecycle(cx: &mut Cx<'_>) -> EnvDefaults {
    let concurrency = var(cx, "ARGUS_STARTUP_CONCURRENCY", 4usize, 1, 64);
    let backoff = var(cx, "ARGUS_BACKEND_RETRY_BACKOFF", 1.5f64, 1.0, 10.0);
    let retries = var(cx, "ARGUS_BACKEND_RETRIES", 3u32, 0, 10);
    let delay = var(cx, "ARGUS_BACKEND_RETRY_DELAY", 5.0f64, 0.0, 120.0);
    EnvDefaults {
        lifecycle: Lifecycle {
            startup_concurrency: concurrency,
            retry_backoff: backoff,
        },
        retries,
        retry_delay: Duration::from_secs_f64(delay),
    }
}

/// One variable as a number in `lo..=hi`; unset gives `default`, anything
/// else is a problem at `$name` (and `default`).
fn var<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
    cx: &mut Cx<'_>,
    name: &str,
    default: T,
    lo: T,
    hi: T,
) -> T {
    let Some(raw) = (cx.env)(name) else {
        return default;
    };
    match raw.trim().parse::<T>() {
        Ok(v) if v >= lo && v <= hi => v,
        _ => {
            cx.problems.push(Problem {
                path: format!("${name}"),
                pos: None,
                message: format!("must be a number between {lo} and {hi}, found \"{raw}\""),
            });
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::validate::from_text;

    #[test]
    fn env_overrides_global_defaults_only() {
        let env = |n: &str| match n {
            "ARGUS_BACKEND_RETRIES" => Some("7".to_owned()),
            "ARGUS_STARTUP_CONCURRENCY" => Some("2".to_owned()),
            _ => None,
        };
        let c = from_text(
            "backends:\n  a: {type: stdio, command: x}\n  b: {type: stdio, command: x, timeouts: {retries: 1}}\n",
            &env,
        )
        .unwrap();
        assert_eq!(c.backends[0].timeouts.retries, 7);
        assert_eq!(c.backends[1].timeouts.retries, 1);
        assert_eq!(c.lifecycle.startup_concurrency, 2);
        let bad = |n: &str| (n == "ARGUS_BACKEND_RETRIES").then(|| "x".to_owned());
        let p = from_text("", &bad).unwrap_err();
        assert_eq!(p[0].path, "$ARGUS_BACKEND_RETRIES");
    }
}
