//! The stdio front: the gateway served to one client over stdin/stdout, as one
//! session, for desktop apps whose config takes only a command (an airgapped
//! host cannot fetch a bridge package).
//!
//! Newline-delimited JSON-RPC both ways (MCP 2025-06-18, Basic › Transports ›
//! stdio). The calling thread reads stdin, a line at most
//! `security.max_body_bytes` long (a longer one is answered -32700 and
//! skipped); a writer thread drains the session's queue to stdout, one line per
//! message. When stdin closes the session ends (its requests are cancelled at
//! the backends) and `serve` returns. Logs go to stderr only: stdout carries
//! nothing but messages.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use log::{debug, info, warn};

use super::Gateway;
use super::decode::{Batches, DecodeError, decode_text};
use crate::config::Transport;
use crate::identity::Identity;
use crate::jsonrpc::{Message, code};
use crate::limits::{SERVICE_STACK_BYTES, SESSION_OUTBOUND_QUEUE};
use crate::queue::Receiver;
use crate::session::{Outbound, Session};
use crate::sync::spawn_named;

/// Serves one session over `input`/`output` until `input` ends.
pub(super) fn serve(
    gateway: &Gateway,
    input: impl Read,
    output: impl Write + Send + 'static,
) -> std::io::Result<()> {
    let id = gateway.new_session_id()?;
    let peer = SocketAddr::from(([127, 0, 0, 1], 0));
    // The parent process presents no credentials: it is who the config
    // says (`authorization.stdio_identity`, `local-user` by default).
    let who = gateway.config().authorization.stdio_identity.clone();
    let identity = Some(Arc::new(Identity::named(who.name, who.roles)));
    let (session, rx) = Session::new(id, Transport::Stdio, peer, identity, SESSION_OUTBOUND_QUEUE);
    let session = Arc::new(session.on_slow(gateway.slow_hook()));
    if let Err(why) = gateway.admit(&session, None) {
        return Err(std::io::Error::other(why));
    }
    info!("session {} opened over stdio", session.short_id());
    let writer = {
        let session = session.clone();
        spawn_named("argus-stdout", SERVICE_STACK_BYTES, move || {
            write_loop(&session, &rx, output)
        })?
    };
    let limit = gateway.config().security.max_body_bytes;
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(limit.saturating_add(1))
            .read_until(b'\n', &mut line);
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                warn!("stdin: {e}");
                break;
            }
        }
        if session.is_closed() {
            break;
        }
        if !line.ends_with(b"\n") && line.len() as u64 > limit {
            session.send(Message::error(
                None,
                code::PARSE_ERROR,
                format!("message longer than {limit} bytes (security.max_body_bytes); skipped"),
            ));
            if skip_line(&mut reader).is_err() {
                break;
            }
            continue;
        }
        handle_line(gateway, &session, &line);
    }
    info!("stdin closed: ending the session");
    gateway.end_session(&session);
    let _ = writer.join();
    Ok(())
}

/// Reads and drops the rest of an over-long line.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    let mut sink = Vec::new();
    loop {
        sink.clear();
        let n = reader.take(64 * 1024).read_until(b'\n', &mut sink)?;
        if n == 0 || sink.ends_with(b"\n") {
            return Ok(());
        }
    }
}

fn handle_line(gateway: &Gateway, session: &Arc<Session>, line: &[u8]) {
    let text = line.trim_ascii();
    if text.is_empty() {
        return;
    }
    let refusal = match decode_text(text, Batches::Refused) {
        Ok(decoded) => {
            for message in decoded.into_messages().0 {
                debug!("session {}: <- {:?}", session.short_id(), message);
                gateway.router.handle(session, message);
            }
            return;
        }
        Err(DecodeError::Json(e)) => {
            Message::error(None, code::PARSE_ERROR, format!("parse error: {e}"))
        }
        Err(DecodeError::BatchRefused | DecodeError::EmptyBatch) => Message::error(
            None,
            code::INVALID_REQUEST,
            "JSON-RPC batches are not supported on the stdio transport",
        ),
        Err(DecodeError::Invalid(invalid)) => Message::error(
            invalid.id,
            code::INVALID_REQUEST,
            format!("invalid request: {}", invalid.reason),
        ),
    };
    session.send(refusal);
}

/// Writes every queued message as one line; ends with the session.
fn write_loop(session: &Session, rx: &Receiver<Outbound>, mut output: impl Write) {
    while let Ok(item) = rx.recv() {
        let line = match item {
            Outbound::Message(json) => {
                session.written();
                json
            }
            Outbound::ListChanged(method) => {
                session.written();
                session.list_changed_taken(method);
                Message::notification(method, None).to_json_text()
            }
            // Only a direct writer leaves a rest; this front has none.
            Outbound::Flush => {
                session.written();
                continue;
            }
            Outbound::Close | Outbound::Yield => return,
        };
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        if let Err(e) = output.write_all(&bytes).and_then(|()| output.flush()) {
            warn!("stdout: {e}; ending the session");
            session.close();
            return;
        }
    }
}
