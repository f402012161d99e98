//! The command line, parsed with lexopt into a [`Command`].
//!
//! `--help` and `--version` win wherever they appear and return before any
//! config is read. Every usage error is a [`Error`] whose one-line message
//! names the offending argument; `main` prints it and exits 2.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use lexopt::ValueExt as _;

use crate::policy::Question;

/// The usage text.
pub const HELP: &str = "\
argus-mcp: one MCP endpoint in front of many MCP servers

USAGE:
    argus-mcp server [-c|--config PATH] [--host ADDR] [--port N] [-v|-vv] [-q]
    argus-mcp check  [-c|--config PATH] [--connect]
    argus-mcp check  [-c|--config PATH] --explain IDENTITY ITEM [--roles a,b] [--backend NAME]
    argus-mcp stdio  [-c|--config PATH] [-v|-vv] [-q]
    argus-mcp catalog lock [-c|--config PATH] [--out FILE]
    argus-mcp audit verify FILE... [--key PUBLIC.pem] [--checkpoints FILE] [--allow-partial]
    argus-mcp audit show FILE [--since TIME] [--backend NAME] [--identity NAME] [--drift]
    argus-mcp --help | --version

COMMANDS:
    server    run the gateway (SSE at /sse, Streamable HTTP at /mcp)
    stdio     serve the gateway to one client over stdin/stdout (for apps
              whose config takes a command); logs go to stderr; ends when
              stdin closes
    audit     verify: check an audit log's hash chain over its files (oldest
              first) and, with --key, every signed checkpoint; print `ok:
              N records` and the unsigned tail, or the first broken line
              and why (exit 0 or 1); show: print its records as a table
              (--since 2026-12-01[T10:00:00Z], --backend NAME, --identity
              NAME, --drift for catalog drift only)
    catalog   lock: start the backends and write the catalog lock (one line
              per tool, prompt and resource template with its definition
              hash; default catalog.lock_file, else argus.lock beside the
              config), to review and commit
    check     validate the config, print the plan, exit 0 (valid) or 1;
              with --connect, also start the backends and print the
              catalog (exit 1 if a backend fails); with --explain, print
              whether the policies allow IDENTITY (a token's name, or a
              JWT caller with --roles) ITEM (tool:NAME, prompt:NAME or
              resource:URI), and the deciding rule (exit 0 either way)

OPTIONS:
    -c, --config PATH   config file (default: $ARGUS_CONFIG, else the first of
                        ./argus.yaml ./argus.yml ./config.yaml ./config.yml)
        --host ADDR     bind address (overrides server.host)
        --port N        bind port (overrides server.port; 0 picks a free port)
    -v                  info logs (startup progress, one line per request)
    -vv                 debug logs (message bodies)
    -q                  errors only; no banner
    -h, --help          this text
    -V, --version       the version

Exit codes: 0 clean shutdown, 1 startup failure, 2 usage error.
";

/// The commands, in the order messages list them; [`HELP`] describes each
/// (a unit test keeps the two in step).
pub const COMMANDS: [&str; 5] = ["server", "check", "stdio", "audit", "catalog"];

/// The command (with its subcommand, for `audit`) whose arguments are being read.
fn context(command: Option<&str>, sub: Option<&str>) -> Option<String> {
    match (command, sub) {
        (Some(c), Some(sub)) => Some(format!("{c} {sub}")),
        (Some(c), None) => Some(c.to_owned()),
        (None, _) => None,
    }
}

/// Every context that takes options of its own, for "that is an option of …".
const CONTEXTS: [&str; 6] = [
    "server",
    "check",
    "stdio",
    "audit show",
    "audit verify",
    "catalog lock",
];

/// The long options (without `--`) and short ones a context takes, besides
/// `--help` and `--version`.
fn options_of(context: Option<&str>) -> (&'static [&'static str], &'static [char]) {
    match context {
        Some("server") => (&["config", "host", "port", "quiet"], &['c', 'v', 'q']),
        Some("stdio") => (&["config", "quiet"], &['c', 'v', 'q']),
        Some("check") => (
            &["config", "connect", "explain", "roles", "backend"],
            &['c'],
        ),
        Some("audit show") => (&["since", "backend", "identity", "drift"], &[]),
        Some("audit verify") => (&["key", "checkpoints", "allow-partial"], &[]),
        Some("catalog lock") => (&["config", "out"], &['c']),
        _ => (&[], &[]),
    }
}

/// `"a", "b" or "c"`.
fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The known name closest to `typed`: at most two edits away, or one that
/// `typed` begins (`--con` → `--config`); the fewest edits win, then the
/// first listed.
fn closest<'k>(typed: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(typed, k), *k))
        .filter(|(d, k)| *d <= 2 || (!typed.is_empty() && k.starts_with(typed)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The message for an argument the command does not take: names it,
/// suggests the closest option of the command (or says which command has
/// it) and points at `--help`.
fn unexpected(arg: lexopt::Arg<'_>, command: Option<&str>, sub: Option<&str>) -> Error {
    use lexopt::Arg::{Long, Short, Value};
    let here = context(command, sub);
    let help = match command {
        Some(c) => format!("see argus-mcp {c} --help"),
        None => "see argus-mcp --help".to_owned(),
    };
    let (typed, elsewhere, near) = match arg {
        Long(name) => {
            let (long, _) = options_of(here.as_deref());
            let mut known: Vec<&str> = long.to_vec();
            known.extend(["help", "version"]);
            (
                format!("--{name}"),
                CONTEXTS
                    .iter()
                    .find(|x| options_of(Some(x)).0.contains(&name))
                    .copied(),
                closest(name, &known).map(|k| format!("--{k}")),
            )
        }
        Short(c) => (
            format!("-{c}"),
            CONTEXTS
                .iter()
                .find(|x| options_of(Some(x)).1.contains(&c))
                .copied(),
            None,
        ),
        Value(value) => {
            let value = value.to_string_lossy();
            return Error::Usage(format!("unexpected argument \"{value}\" ({help})"));
        }
    };
    match (elsewhere, here) {
        (Some(other), None) => Error::Usage(format!(
            "\"{typed}\" goes after the command, as in \"argus-mcp {other} {typed}\" ({help})"
        )),
        (Some(other), Some(here)) if other != here => Error::Usage(format!(
            "\"{typed}\" is an option of \"argus-mcp {other}\", not of \"argus-mcp {here}\" ({help})"
        )),
        _ => match near {
            Some(near) if near != typed => Error::Usage(format!(
                "unknown option \"{typed}\"; did you mean \"{near}\"? ({help})"
            )),
            _ => Error::Usage(format!("unknown option \"{typed}\" ({help})")),
        },
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print [`HELP`].
    Help,
    /// Print the version.
    Version,
    /// Run the gateway.
    Server(ServerArgs),
    /// Serve one client over stdin/stdout.
    Stdio(ServerArgs),
    /// `audit verify FILE`.
    AuditVerify {
        /// The files, oldest first.
        files: Vec<PathBuf>,
        /// `--key`: the public key that checks the checkpoints.
        key: Option<PathBuf>,
        /// `--checkpoints`: the checkpoints kept elsewhere.
        checkpoints: Option<PathBuf>,
        /// `--allow-partial`: the log may begin after seq 1.
        allow_partial: bool,
    },
    /// `audit show FILE`.
    AuditShow {
        /// The log.
        file: PathBuf,
        /// `--since`: records at or after this time.
        since: Option<String>,
        /// `--backend`: records of this backend.
        backend: Option<String>,
        /// `--identity`: records of this caller.
        identity: Option<String>,
        /// `--drift`: catalog drift records only.
        drift: bool,
    },
    /// Validate the config and print the plan.
    Check {
        /// `--config`.
        config: Option<PathBuf>,
        /// `--connect`: start the backends and print the catalog.
        connect: bool,
    },
    /// `catalog lock`: write the catalog lock.
    CatalogLock {
        /// `--config`.
        config: Option<PathBuf>,
        /// `--out`: where, instead of the config's lock path.
        out: Option<PathBuf>,
    },
    /// `check --explain`: one policy decision, from the config alone.
    Explain {
        /// `--config`.
        config: Option<PathBuf>,
        /// Who asks for what.
        question: Question,
    },
}

/// Arguments of `argus-mcp server`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerArgs {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// -1 for `-q`, 0 by default, 1 for `-v`, 2 for `-vv`.
    pub verbosity: i8,
}

/// A usage error.
#[derive(Debug)]
pub enum Error {
    /// What lexopt found (a missing or non-UTF-8 value, a value where none
    /// is taken), kept whole.
    Parse(lexopt::Error),
    /// A rule of ours, with the message the user sees (it names what is
    /// wrong and where the help is).
    Usage(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Parse(e) => write!(f, "{e}"),
            Error::Usage(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Parse(e) => Some(e),
            Error::Usage(_) => None,
        }
    }
}

impl From<lexopt::Error> for Error {
    fn from(e: lexopt::Error) -> Error {
        Error::Parse(e)
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Error> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut raw = RawArgs::default();
    while let Some(arg) = parser.next()? {
        let command = raw.command.as_deref();
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Value(value) if command.is_none() => raw.command = Some(command_word(value)?),
            Value(value) if command == Some("audit") && raw.sub.is_none() => {
                raw.sub = Some(audit_word(value)?);
            }
            Value(value) if command == Some("catalog") && raw.sub.is_none() => {
                let sub = value.string()?;
                if sub != "lock" {
                    return Err(Error::Usage(format!(
                        "unknown catalog command \"{sub}\" (expected \"lock\")"
                    )));
                }
                raw.sub = Some(sub);
            }
            Long("out") if raw.sub.as_deref() == Some("lock") => {
                raw.out = Some(parser.value()?.into());
            }
            Value(value) if command == Some("audit") => {
                raw.audit_files.push(value.into());
            }
            Long("since") if raw.sub.as_deref() == Some("show") => {
                raw.since = Some(parser.value()?.string()?);
            }
            Long("identity") if raw.sub.as_deref() == Some("show") => {
                raw.identity = Some(parser.value()?.string()?);
            }
            Long("drift") if raw.sub.as_deref() == Some("show") => raw.drift = true,
            Long("key") if raw.sub.as_deref() == Some("verify") => {
                raw.verify_key = Some(parser.value()?.into());
            }
            Long("checkpoints") if raw.sub.as_deref() == Some("verify") => {
                raw.verify_checkpoints = Some(parser.value()?.into());
            }
            Long("allow-partial") if raw.sub.as_deref() == Some("verify") => {
                raw.allow_partial = true
            }
            Long("backend") if raw.sub.as_deref() == Some("show") || command == Some("check") => {
                raw.backend = Some(parser.value()?.string()?);
            }
            Long("explain") if command == Some("check") => {
                let identity = parser.value()?.string()?;
                let item = parser.value()?.string()?;
                raw.explain = Some((identity, item));
            }
            Long("roles") if command == Some("check") => {
                let list = parser.value()?.string()?;
                raw.roles = Some(
                    list.split(',')
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            Short('c') | Long("config") if command.is_some() && command != Some("audit") => {
                raw.server.config = Some(parser.value()?.into());
            }
            Long("host") if command == Some("server") => {
                raw.server.host = Some(host_value(parser.value()?)?);
            }
            Long("port") if command == Some("server") => {
                raw.server.port = Some(port_value(parser.value()?)?);
            }
            Short('v') if matches!(command, Some("server" | "stdio")) => {
                raw.verbose = (raw.verbose + 1).min(2)
            }
            Short('q') | Long("quiet") if matches!(command, Some("server" | "stdio")) => {
                raw.quiet = true
            }
            Long("connect") if command == Some("check") => raw.connect = true,
            _ => return Err(unexpected(arg, command, raw.sub.as_deref())),
        }
    }
    raw.into_command()
}

/// What the arguments said, before it is checked and made a [`Command`].
#[derive(Default)]
struct RawArgs {
    /// The command word.
    command: Option<String>,
    /// `--config`, `--host` and `--port` (the verbosity is set last).
    server: ServerArgs,
    /// `-q`.
    quiet: bool,
    /// How many `-v` (at most 2).
    verbose: i8,
    /// `--connect`.
    connect: bool,
    /// `verify` or `show`, after `audit`.
    sub: Option<String>,
    /// The file after `audit verify` or `audit show`.
    audit_files: Vec<PathBuf>,
    /// `--key`, `--checkpoints`, `--allow-partial` of `audit verify`.
    verify_key: Option<PathBuf>,
    verify_checkpoints: Option<PathBuf>,
    allow_partial: bool,
    /// `--out` of `catalog lock`.
    out: Option<PathBuf>,
    /// `--identity` and `--drift` of `audit show`.
    identity: Option<String>,
    drift: bool,
    /// `--since`.
    since: Option<String>,
    /// `--backend`.
    backend: Option<String>,
    /// `--explain IDENTITY ITEM`.
    explain: Option<(String, String)>,
    /// `--roles`.
    roles: Option<Vec<String>>,
}

impl RawArgs {
    /// The command the arguments ask for, once they make sense together.
    fn into_command(self) -> Result<Command, Error> {
        let RawArgs {
            command,
            mut server,
            quiet,
            verbose,
            connect,
            sub,
            audit_files,
            verify_key,
            verify_checkpoints,
            allow_partial,
            identity,
            drift,
            since,
            backend,
            explain,
            roles,
            out,
        } = self;
        if quiet && verbose > 0 {
            return Err(Error::Usage("-q and -v cannot be used together".into()));
        }
        server.verbosity = if quiet { -1 } else { verbose };
        match command.as_deref() {
            Some("server") => Ok(Command::Server(server)),
            Some("stdio") => Ok(Command::Stdio(server)),
            Some("audit") => match (sub.as_deref(), audit_files.as_slice()) {
                (Some("verify"), [_, ..]) => Ok(Command::AuditVerify {
                    files: audit_files,
                    key: verify_key,
                    checkpoints: verify_checkpoints,
                    allow_partial,
                }),
                (Some("show"), [file]) => Ok(Command::AuditShow {
                    file: file.clone(),
                    since,
                    backend,
                    identity,
                    drift,
                }),
                _ => Err(Error::Usage(
                    "usage: argus-mcp audit verify FILE... [--key PUBLIC.pem] | audit show FILE [--since T] [--backend B] [--identity NAME] [--drift]"
                        .into(),
                )),
            },
            Some("catalog") if sub.is_some() => Ok(Command::CatalogLock {
                config: server.config,
                out,
            }),
            Some("catalog") => Err(Error::Usage(
                "usage: argus-mcp catalog lock [-c CONFIG] [--out FILE]".into(),
            )),
            Some("check") => match explain {
                Some(_) if connect => Err(Error::Usage(
                    "--explain answers from the config alone: it does not go with --connect"
                        .into(),
                )),
                Some((identity, item)) => Ok(Command::Explain {
                    config: server.config,
                    question: Question {
                        identity,
                        item,
                        roles,
                        backend,
                    },
                }),
                None if roles.is_some() || backend.is_some() => Err(Error::Usage(
                    "--roles and --backend go with --explain IDENTITY ITEM".into(),
                )),
                None => Ok(Command::Check {
                    config: server.config,
                    connect,
                }),
            },
            _ => Err(Error::Usage(format!(
                "missing command: {} (see argus-mcp --help)",
                quoted_list(&COMMANDS)
            ))),
        }
    }
}

/// The command word, one of [`COMMANDS`] (else an error that suggests the
/// closest).
fn command_word(value: OsString) -> Result<String, Error> {
    let name = value.string()?;
    if !COMMANDS.contains(&name.as_str()) {
        let hint = closest(&name, &COMMANDS)
            .map(|c| format!("did you mean \"{c}\"? "))
            .unwrap_or_default();
        return Err(Error::Usage(format!(
            "unknown command \"{name}\" ({hint}expected {}; see argus-mcp --help)",
            quoted_list(&COMMANDS)
        )));
    }
    Ok(name)
}

/// The word after `audit`: `verify` or `show`.
fn audit_word(value: OsString) -> Result<String, Error> {
    let sub = value.string()?;
    if sub != "verify" && sub != "show" {
        return Err(Error::Usage(format!(
            "unknown audit command \"{sub}\" (expected \"verify\" or \"show\")"
        )));
    }
    Ok(sub)
}

/// `--host`'s value: not empty.
fn host_value(value: OsString) -> Result<String, Error> {
    let host = value.string()?;
    if host.trim().is_empty() {
        return Err(Error::Usage("--host must not be empty".into()));
    }
    Ok(host)
}

/// `--port`'s value: a port number.
fn port_value(value: OsString) -> Result<u16, Error> {
    let raw = value.string()?;
    raw.parse::<u16>()
        .map_err(|_| Error::Usage(format!("--port: \"{raw}\" is not a port number (0-65535)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, Error> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn server_flags() {
        let c = p(&[
            "server", "-c", "x.yaml", "--host", "0.0.0.0", "--port", "8080", "-vv",
        ])
        .unwrap();
        assert_eq!(
            c,
            Command::Server(ServerArgs {
                config: Some("x.yaml".into()),
                host: Some("0.0.0.0".into()),
                port: Some(8080),
                verbosity: 2,
            })
        );
        assert_eq!(
            p(&["server", "-q"]).unwrap(),
            Command::Server(ServerArgs {
                verbosity: -1,
                ..Default::default()
            })
        );
        assert_eq!(
            p(&["server", "--config=a.yml"]).unwrap(),
            Command::Server(ServerArgs {
                config: Some("a.yml".into()),
                ..Default::default()
            })
        );
    }

    #[test]
    fn check_and_specials() {
        assert_eq!(
            p(&["check", "--config", "a"]).unwrap(),
            Command::Check {
                config: Some("a".into()),
                connect: false
            }
        );
        assert_eq!(
            p(&["check", "--connect"]).unwrap(),
            Command::Check {
                config: None,
                connect: true
            }
        );
        assert_eq!(p(&["--help"]).unwrap(), Command::Help);
        assert_eq!(
            p(&["server", "--port", "x", "--version"])
                .map_err(|e| e.to_string())
                .unwrap_err(),
            "--port: \"x\" is not a port number (0-65535)"
        );
        assert_eq!(p(&["check", "-V"]).unwrap(), Command::Version);
    }

    #[test]
    fn audit_commands() {
        assert_eq!(
            p(&["audit", "verify", "a.jsonl.1", "a.jsonl", "--key", "k.pem"]).unwrap(),
            Command::AuditVerify {
                files: vec!["a.jsonl.1".into(), "a.jsonl".into()],
                key: Some("k.pem".into()),
                checkpoints: None,
                allow_partial: false,
            }
        );
        assert_eq!(
            p(&[
                "audit",
                "show",
                "a.jsonl",
                "--since",
                "2026-12-01",
                "--backend",
                "b"
            ])
            .unwrap(),
            Command::AuditShow {
                file: "a.jsonl".into(),
                since: Some("2026-12-01".into()),
                backend: Some("b".into()),
                identity: None,
                drift: false,
            }
        );
        for bad in [
            &["audit"][..],
            &["audit", "verify"],
            &["audit", "frob", "x"],
            &["audit", "verify", "x", "--since", "t"],
            &["audit", "show", "x", "y"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stdio_flags() {
        assert_eq!(
            p(&["stdio", "-c", "a.yaml", "-v"]).unwrap(),
            Command::Stdio(ServerArgs {
                config: Some("a.yaml".into()),
                verbosity: 1,
                ..Default::default()
            })
        );
        assert!(p(&["stdio", "--port", "1"]).is_err(), "no listener to set");
    }

    fn message(args: &[&str]) -> String {
        p(args).map(|c| format!("{c:?}")).unwrap_err().to_string()
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("connect", "connect"), 0);
        assert_eq!(edit_distance("conect", "connect"), 1);
        assert_eq!(edit_distance("conncet", "connect"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("héllo", "hello"), 1, "counts characters");
    }

    #[test]
    fn the_closest_option_is_near_or_begun() {
        let known = ["config", "connect", "help", "version"];
        assert_eq!(closest("conect", &known), Some("connect"));
        assert_eq!(closest("confg", &known), Some("config"));
        assert_eq!(closest("conn", &known), Some("connect"), "a prefix");
        assert_eq!(closest("verbose", &known), None);
        assert_eq!(closest("xyz", &known), None);
    }

    #[test]
    fn unknown_options_get_a_suggestion_and_a_pointer_to_help() {
        assert_eq!(
            message(&["check", "--conect"]),
            "unknown option \"--conect\"; did you mean \"--connect\"? (see argus-mcp check --help)"
        );
        assert_eq!(
            message(&["server", "--prot", "1"]),
            "unknown option \"--prot\"; did you mean \"--port\"? (see argus-mcp server --help)"
        );
        assert_eq!(
            message(&["server", "--nope"]),
            "unknown option \"--nope\" (see argus-mcp server --help)"
        );
        assert_eq!(
            message(&["check", "--port", "1"]),
            "\"--port\" is an option of \"argus-mcp server\", not of \"argus-mcp check\" (see argus-mcp check --help)"
        );
        assert_eq!(
            message(&["audit", "verify", "x", "--since", "t"]),
            "\"--since\" is an option of \"argus-mcp audit show\", not of \"argus-mcp audit verify\" (see argus-mcp audit --help)"
        );
        assert_eq!(
            message(&["-c", "x", "server"]),
            "\"-c\" goes after the command, as in \"argus-mcp server -c\" (see argus-mcp --help)"
        );
        assert_eq!(
            message(&["--verison"]),
            "unknown option \"--verison\"; did you mean \"--version\"? (see argus-mcp --help)"
        );
        assert_eq!(
            message(&["server", "extra"]),
            "unexpected argument \"extra\" (see argus-mcp server --help)"
        );
    }

    #[test]
    fn command_messages_list_every_command() {
        let all = "\"server\", \"check\", \"stdio\", \"audit\" or \"catalog\"";
        assert_eq!(
            message(&[]),
            format!("missing command: {all} (see argus-mcp --help)")
        );
        assert_eq!(
            message(&["serve"]),
            format!(
                "unknown command \"serve\" (did you mean \"server\"? expected {all}; see argus-mcp --help)"
            )
        );
    }

    #[test]
    fn help_describes_every_command_and_no_other() {
        let section = HELP
            .split("COMMANDS:\n")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .unwrap();
        let described: Vec<&str> = section
            .lines()
            .filter(|l| l.starts_with("    ") && !l.starts_with("     "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let mut expected = COMMANDS.to_vec();
        let mut described_sorted = described.clone();
        expected.sort_unstable();
        described_sorted.sort_unstable();
        assert_eq!(described_sorted, expected, "{section}");
        for command in COMMANDS {
            assert!(HELP.contains(&format!("argus-mcp {command} ")), "{command}");
        }
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &[][..],
            &["serve"],
            &["server", "--port", "70000"],
            &["server", "--bogus"],
            &["server", "-q", "-v"],
            &["check", "--port", "1"],
            &["server", "extra"],
            &["-c", "x", "server"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
