//! The `argus-mcp` binary: command line → logger → config → run.
//! Maps every failure to one clear line on stderr and an exit code:
//! 0 clean shutdown, 1 startup failure, 2 usage error.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use argus_mcp::cli::{self, Command};
use argus_mcp::config::{self, Config, Location};
use argus_mcp::{app, audit, child_guard, mcp, policy};
use log::{LevelFilter, warn};

/// Runs the command line's command and maps how it went to the exit code.
fn main() -> ExitCode {
    // Started as the guard of a backend process (see `child_guard`).
    if let Some(code) = child_guard::run_if_guard() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("argus-mcp: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            print!("{}", cli::HELP);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("argus-mcp {}", mcp::VERSION);
            ExitCode::SUCCESS
        }
        Command::Check { config, connect } => check(config.as_deref(), connect),
        Command::Explain { config, question } => explain(config.as_deref(), &question),
        Command::CatalogLock { config, out } => catalog_lock(config.as_deref(), out.as_deref()),
        Command::AuditVerify {
            files,
            key,
            checkpoints,
            allow_partial,
        } => audit_verify(
            &files,
            key.as_deref(),
            checkpoints.as_deref(),
            allow_partial,
        ),
        Command::AuditShow {
            file,
            since,
            backend,
            identity,
            drift,
        } => {
            let filter = audit::Selection {
                since: None,
                backend: backend.as_deref(),
                identity: identity.as_deref(),
                drift,
            };
            audit_show(&file, since.as_deref(), filter)
        }
        Command::Stdio(args) => stdio(args),
        Command::Server(args) => server(args),
    }
}

/// `argus-mcp check [--connect]`: prints the plan, and with `--connect`
/// what the backends serve (exit 1 if one failed).
fn check(config: Option<&Path>, connect: bool) -> ExitCode {
    init_logging(0);
    match load(config) {
        Ok(config) if connect => {
            print!("{}", app::plan(&config));
            let (text, ok) = app::connect_plan(config);
            print!("{text}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Ok(config) => {
            print!("{}", app::plan(&config));
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("argus-mcp: {message}");
            ExitCode::from(1)
        }
    }
}

/// The config, or exit 1 having said why.
fn loaded(config: Option<&Path>) -> Result<Config, ExitCode> {
    load(config).map_err(|message| {
        eprintln!("argus-mcp: {message}");
        ExitCode::from(1)
    })
}

/// `argus-mcp catalog lock [--out FILE]`: starts the backends and writes
/// the lock of their catalog (exit 1, nothing written, if one failed).
fn catalog_lock(config: Option<&Path>, out: Option<&Path>) -> ExitCode {
    init_logging(0);
    let config = match loaded(config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let path = out.map_or_else(|| config.lock_path(), Path::to_owned);
    let (lock, failed) = app::catalog_lock(config);
    if !failed.is_empty() {
        for f in failed {
            eprintln!("argus-mcp: {f}");
        }
        eprintln!("argus-mcp: the lock was not written: the catalog is not whole");
        return ExitCode::from(1);
    }
    let text = lock.text();
    match std::fs::write(&path, &text) {
        Ok(()) => {
            println!("wrote {} items to {}", text.lines().count(), path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("argus-mcp: cannot write \"{}\": {e}", path.display());
            ExitCode::from(1)
        }
    }
}

/// `argus-mcp check --explain IDENTITY ITEM`: one policy decision, from
/// the config alone; exit 0 whatever it is, 2 for an item that is not one.
fn explain(config: Option<&Path>, question: &policy::Question) -> ExitCode {
    init_logging(0);
    let config = match loaded(config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    match policy::explain(&config, question) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(policy::BadQuestion(why)) => {
            eprintln!("argus-mcp: {why}");
            ExitCode::from(2)
        }
    }
}

/// `argus-mcp audit verify FILE... [--key K] [--checkpoints C]
/// [--allow-partial]`: checks the chain over the files, oldest first, and
/// with a key every checkpoint; exit 0 when it holds, 1 when not.
fn audit_verify(
    files: &[PathBuf],
    key: Option<&Path>,
    checkpoints: Option<&Path>,
    allow_partial: bool,
) -> ExitCode {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| {
            eprintln!("argus-mcp: cannot read \"{}\": {e}", path.display());
            ExitCode::from(1)
        })
    };
    let mut contents = Vec::with_capacity(files.len());
    for f in files {
        match read(f) {
            Ok(bytes) => contents.push((f.display().to_string(), bytes)),
            Err(code) => return code,
        }
    }
    let verifier = match key.map(|k| (k, std::fs::read_to_string(k))) {
        None => None,
        Some((k, Ok(pem))) => match audit::Verifier::from_pem(&pem) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("argus-mcp: --key \"{}\": {e}", k.display());
                return ExitCode::from(2);
            }
        },
        Some((k, Err(e))) => {
            eprintln!("argus-mcp: cannot read \"{}\": {e}", k.display());
            return ExitCode::from(1);
        }
    };
    let kept = match checkpoints.map(read).transpose() {
        Ok(kept) => kept,
        Err(code) => return code,
    };
    let files: Vec<(&str, &[u8])> = contents
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let options = audit::Options {
        key: verifier.as_ref(),
        checkpoints: kept.as_deref(),
        allow_partial,
    };
    match audit::verify(&files, options) {
        Ok(report) => {
            print!("{}", verified(&report, verifier.is_some()));
            ExitCode::SUCCESS
        }
        Err(broken) => {
            println!(
                "broken at line {} of {}: {}",
                broken.line, broken.file, broken.why
            );
            ExitCode::from(1)
        }
    }
}

/// What a log that holds proves, in words.
fn verified(report: &audit::Report, signed: bool) -> String {
    let mut out = format!("ok: {} records", report.records);
    if report.first_seq > 1 {
        out.push_str(&format!(" (from seq {}, partial)", report.first_seq));
    }
    if signed {
        out.push_str(&format!(
            ", {} checkpoints verified\nunsigned tail: {} records\n",
            report.checkpoints, report.unsigned_tail
        ));
    } else {
        out.push_str(
            "\nchain only: without --key this cannot show that records were not rewritten and re-chained\n",
        );
    }
    out
}

/// `argus-mcp audit show FILE [--since T] [--backend B] [--identity I]
/// [--drift]`: prints the records that match (exit 2 for a `--since` that
/// is not a time).
fn audit_show(file: &Path, since: Option<&str>, mut filter: audit::Selection<'_>) -> ExitCode {
    filter.since = match since.map(|s| (s, audit::parse_time(s))) {
        Some((s, None)) => {
            eprintln!(
                "argus-mcp: --since: \"{s}\" is not a date (YYYY-MM-DD) or an RFC 3339 UTC time"
            );
            return ExitCode::from(2);
        }
        Some((_, t)) => t,
        None => None,
    };
    match std::fs::read_to_string(file) {
        Ok(text) => {
            print!("{}", audit::show(&text, filter));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("argus-mcp: cannot read \"{}\": {e}", file.display());
            ExitCode::from(1)
        }
    }
}

/// `argus-mcp stdio`: serves one client on stdin/stdout.
fn stdio(args: cli::ServerArgs) -> ExitCode {
    init_logging(args.verbosity);
    enable_child_guard();
    match load(args.config.as_deref()) {
        Ok(config) => match app::serve_stdio(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("argus-mcp: {e}");
                ExitCode::from(1)
            }
        },
        Err(message) => {
            eprintln!("argus-mcp: {message}");
            ExitCode::from(1)
        }
    }
}

/// `argus-mcp server`: runs the gateway until it is shut down.
fn server(args: cli::ServerArgs) -> ExitCode {
    init_logging(args.verbosity);
    enable_child_guard();
    let config = match load(args.config.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("argus-mcp: {message}");
            return ExitCode::from(1);
        }
    };
    let overrides = app::Overrides {
        host: args.host,
        port: args.port,
    };
    match app::serve(config, overrides, args.verbosity >= 0) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("argus-mcp: {e}");
            ExitCode::from(1)
        }
    }
}

/// Local backends die with the gateway, even on SIGKILL (`child_guard`).
fn enable_child_guard() {
    match std::env::current_exe() {
        Ok(exe) => child_guard::enable(exe),
        Err(e) => warn!("cannot find our own binary ({e}): backends may outlive a killed gateway"),
    }
}

/// Why no config could be loaded.
#[derive(Debug)]
enum NoConfig {
    /// The working directory (where the config is looked for) is unreadable.
    WorkingDirectory(std::io::Error),
    /// The config file is unreadable or invalid.
    Config(config::Error),
    /// No file, and the environment's overrides of the defaults are invalid.
    Environment(Vec<config::Problem>),
}

impl std::fmt::Display for NoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoConfig::WorkingDirectory(e) => write!(f, "cannot read the working directory: {e}"),
            NoConfig::Config(e) => write!(f, "{e}"),
            NoConfig::Environment(problems) => {
                let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                write!(f, "invalid environment: {}", lines.join("; "))
            }
        }
    }
}

impl std::error::Error for NoConfig {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NoConfig::WorkingDirectory(e) => Some(e),
            NoConfig::Config(e) => Some(e),
            NoConfig::Environment(_) => None,
        }
    }
}

/// Loads the config the command line, `$ARGUS_CONFIG` or the working directory names.
fn load(flag: Option<&Path>) -> Result<Config, NoConfig> {
    let env_config = std::env::var("ARGUS_CONFIG").ok();
    let cwd = std::env::current_dir().map_err(NoConfig::WorkingDirectory)?;
    match config::locate(flag, env_config.as_deref(), &cwd) {
        Location::File(path) => Config::load(&path).map_err(NoConfig::Config),
        Location::NotFound(tried) => {
            let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            warn!(
                "no config file found (looked for {}); starting with no backends",
                tried.join(", ")
            );
            let env = |name: &str| std::env::var(name).ok();
            Config::empty(&env).map_err(NoConfig::Environment)
        }
    }
}

fn init_logging(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-1 => LevelFilter::Error,
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        _ => LevelFilter::Debug,
    };
    let dependencies = level.min(LevelFilter::Warn);
    // How each backend's start goes is shown unless `-q` asks for errors only.
    let progress = if verbosity >= 0 {
        level.max(LevelFilter::Info)
    } else {
        level
    };
    let result = simple_logger::SimpleLogger::new()
        .with_level(level)
        .with_module_level(argus_mcp::supervisor::PROGRESS_LOG, progress)
        .with_module_level("ureq", dependencies)
        .with_module_level("rustls", dependencies)
        .init();
    if let Err(e) = result {
        eprintln!("argus-mcp: cannot set up logging: {e}");
    }
}
