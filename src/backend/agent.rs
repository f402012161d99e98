//! Every ureq agent the gateway makes, built in one place: the backend's
//! TLS settings (`config::Tls`), statuses returned rather than turned into
//! errors, no proxy from the environment (the gateway talks only to
//! configured backends), the timeouts of the agent's role, and a resolver
//! that takes an IP address as it is ([`LiteralFirst`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ureq::Agent;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

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
    let config = Agent::config_builder()
        .tls_config(tls.client.clone())
        .timeout_resolve(Some(limits.connect))
        .timeout_connect(Some(limits.connect))
        .timeout_recv_response(limits.response)
        .timeout_per_read(limits.per_read)
        .timeout_global(limits.total)
        .http_status_as_error(false)
        .proxy(None)
        .build();
    Agent::with_parts(config, DefaultConnector::new(), LiteralFirst::default())
}

/// ureq's resolver, except that a host given as an IP address is taken as
/// it is, and `localhost` is the loopback address (RFC 6761 §6.3). Given a
/// timeout, ureq's default resolver runs every lookup on a thread of its
/// own, and it looks up before every request, even one that goes out on a
/// kept-alive connection: a thread created and ended per call to a backend
/// at `http://127.0.0.1:…`. Other names still take that path.
#[derive(Debug, Default)]
struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match ip_literal(uri) {
            Some(found) => {
                let mut addrs = self.empty();
                for addr in found.into_iter().flatten() {
                    addrs.push(addr);
                }
                Ok(addrs)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

/// The addresses of `uri` when its host is an IP address (IPv6 in
/// brackets) or `localhost`, with its port or the scheme's.
fn ip_literal(uri: &Uri) -> Option<[Option<SocketAddr>; 2]> {
    let authority = uri.authority()?;
    let port = authority.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })?;
    let host = authority.host();
    if host.eq_ignore_ascii_case("localhost") {
        let v4 = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port);
        let v6 = SocketAddr::new(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), port);
        return Some([Some(v4), Some(v6)]);
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    Some([Some(SocketAddr::new(ip, port)), None])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_are_taken_as_they_are_and_names_are_not() {
        let addr = |uri: &str| {
            ip_literal(&uri.parse().unwrap()).map(|a| a.into_iter().flatten().collect::<Vec<_>>())
        };
        let parsed = |a: &[&str]| Some(a.iter().map(|a| a.parse().unwrap()).collect());
        assert_eq!(
            addr("http://127.0.0.1:8080/mcp"),
            parsed(&["127.0.0.1:8080"])
        );
        assert_eq!(addr("http://[::1]/sse"), parsed(&["[::1]:80"]));
        assert_eq!(addr("https://10.0.0.1/x"), parsed(&["10.0.0.1:443"]));
        assert_eq!(
            addr("http://LocalHost:8080/mcp"),
            parsed(&["127.0.0.1:8080", "[::1]:8080"])
        );
        assert_eq!(addr("http://example.com/mcp"), None);
        // Every agent resolves with it.
        let agent = agent(&Tls::default(), Limits::exchange(Duration::from_secs(1)));
        assert!(format!("{agent:?}").contains("LiteralFirst"));
    }
}
