//! Every ureq agent the gateway makes, built in one place: the backend's
//! TLS settings (`config::Tls`), statuses returned rather than turned into
//! errors, no proxy from the environment (the gateway talks only to
//! configured backends), and the timeouts of the agent's role.

use std::time::Duration;

use ureq::Agent;

use crate::config::Tls;

/// Longest wait for a TCP connect (and name resolution) to a backend.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The timeouts of one agent's role.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Name resolution and TCP connect, each.
    pub connect: Duration,
    /// Until the response head.
    pub response: Option<Duration>,
    /// Between two reads of the body.
    pub per_read: Option<Duration>,
    /// The whole exchange.
    pub total: Option<Duration>,
}

impl Limits {
    /// A short exchange (a POST answered at once, a token request, a
    /// DELETE): bounded in total.
    pub fn exchange(total: Duration) -> Limits {
        Limits {
            connect: total.min(CONNECT_TIMEOUT),
            response: None,
            per_read: None,
            total: Some(total),
        }
    }

    /// A long-lived stream: the head within `response`, then each read
    /// within `idle`, never a bound on the whole.
    pub fn stream(response: Duration, idle: Duration) -> Limits {
        Limits {
            connect: response.min(CONNECT_TIMEOUT),
            response: Some(response),
            per_read: Some(idle),
            total: None,
        }
    }
}

/// An agent with `tls` and `limits`.
pub fn agent(tls: &Tls, limits: Limits) -> Agent {
    install_provider();
    Agent::config_builder()
        .tls_config(tls.client.clone())
        .timeout_resolve(Some(limits.connect))
        .timeout_connect(Some(limits.connect))
        .timeout_recv_response(limits.response)
        .timeout_per_read(limits.per_read)
        .timeout_global(limits.total)
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

/// Makes the ring provider rustls's process default, once: ureq takes the
/// process default when it first builds a TLS config (this build enables
/// no provider of ureq's own, so ureq never picks one from feature flags).
fn install_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only when a provider is already the default: keep that one.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
