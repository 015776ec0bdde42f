//! The optional TOML configuration file (`--config FILE` or `ROLLCALL_CONFIG`,
//! SPEC §12) and where it stands among the other sources of a setting:
//! flags, then `ROLLCALL_*` environment variables, then the file, then defaults.
//!
//! The file's keys are the long flags of `rollcall serve` without their dashes
//! (`--data-dir` → `data-dir`; a repeatable flag such as `--trusted-proxy` takes
//! an array; a switch such as `--allow-insecure-http` takes true or false), and
//! `log-format`. `serve` reads them all; the commands that work on the server's
//! own database (`migrate`, `admin`, `demo`, `audit verify`, `backup`, `rekey`)
//! read its database keys ([`DATABASE_KEYS`]); every command reads `log-format`.
//! Other commands' flags that happen to share a name (`relay --listen`, `bench
//! --database-url`, `restore --data-dir`: not the server's settings) never come
//! from the file. A key that no `serve` flag has is an error naming it.
//!
//! How: the command line is parsed once (leniently) to find the file and, for
//! each setting, whether a flag or a variable gave it; each key of the file
//! whose setting came from neither becomes a flag appended to the arguments,
//! and the whole is parsed again, so clap validates file values exactly as it
//! validates flags.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::Cli;

/// Why the configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("unknown key '{key}' in the configuration file {path} (keys are the long flags of `rollcall serve`, e.g. data-dir)")]
    UnknownKey { path: PathBuf, key: String },
    #[error("key '{key}' in the configuration file {path}: {reason}")]
    BadValue {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

/// Flags that are no setting of the file.
const NOT_IN_FILE: [&str; 3] = ["config", "help", "version"];

/// The keys that select and open the server's database.
pub const DATABASE_KEYS: [&str; 5] = [
    "data-dir",
    "database-url",
    "database-pool-size",
    "database-ca",
    "db-key",
];

/// Commands (as `rollcall …` words) that work on the server's database and so
/// read [`DATABASE_KEYS`] from the file.
const DATABASE_COMMANDS: [&str; 7] = [
    "migrate",
    "admin init",
    "admin reset-password",
    "demo",
    "audit verify",
    "backup",
    "rekey",
];

/// Whether the file's `key` applies to the command `words` (`"admin init"`).
fn applies_to(key: &str, words: &str) -> bool {
    key == "log-format"
        || words == "serve"
        || (DATABASE_KEYS.contains(&key) && DATABASE_COMMANDS.contains(&words))
}

/// Parses the process's arguments with the configuration file applied; exits
/// as clap does on a bad command line (and for `--help`).
pub fn parse() -> Result<Cli, ConfigError> {
    parse_from(std::env::args_os().collect())
}

/// [`parse`] over given arguments (the first is the program name).
pub fn parse_from(args: Vec<OsString>) -> Result<Cli, ConfigError> {
    let first = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(&args);
    let file = first.as_ref().ok().and_then(config_path);
    let Some(path) = file else {
        return Ok(Cli::parse_or_exit(args));
    };
    let Ok(matches) = first else {
        return Ok(Cli::parse_or_exit(args));
    };
    let table = read(&path)?;
    let extra = flags_from_file(&path, &table, &matches)?;
    let mut all = args;
    all.extend(extra.into_iter().map(OsString::from));
    Ok(Cli::parse_or_exit(all))
}

impl Cli {
    fn parse_or_exit(args: Vec<OsString>) -> Cli {
        let mut command = Cli::command();
        let matches = command
            .try_get_matches_from_mut(args)
            .unwrap_or_else(|e| e.exit());
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit())
    }
}

/// The `--config` path (also `ROLLCALL_CONFIG`), wherever on the line it was given.
fn config_path(matches: &ArgMatches) -> Option<PathBuf> {
    let mut found = matches.get_one::<PathBuf>("config").cloned();
    let mut current = matches;
    while let Some((_, sub)) = current.subcommand() {
        if let Some(path) = sub.get_one::<PathBuf>("config") {
            found = Some(path.clone());
        }
        current = sub;
    }
    found
}

fn read(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })
}

/// Every key the file may hold: `serve`'s long flags and the global ones.
fn known_keys() -> Vec<String> {
    let command = Cli::command();
    let serve = command
        .find_subcommand("serve")
        .map(|s| s.get_arguments().collect::<Vec<_>>())
        .unwrap_or_default();
    command
        .get_arguments()
        .chain(serve)
        .filter_map(|a| a.get_long())
        .filter(|long| !NOT_IN_FILE.contains(long))
        .map(str::to_string)
        .collect()
}

/// The flags that the file's keys add to the running command: only for
/// settings that neither a flag nor an environment variable gave.
fn flags_from_file(
    path: &Path,
    table: &toml::Table,
    matches: &ArgMatches,
) -> Result<Vec<String>, ConfigError> {
    let known = known_keys();
    if let Some(key) = table.keys().find(|k| !known.contains(k)) {
        return Err(ConfigError::UnknownKey {
            path: path.to_path_buf(),
            key: key.clone(),
        });
    }
    // The running (sub)command's arguments and how each was given.
    let mut command = Cli::command();
    command.build();
    let mut leaf_command = &command;
    let mut leaf = matches;
    let mut words = Vec::new();
    while let Some((name, sub)) = leaf.subcommand() {
        match leaf_command.find_subcommand(name) {
            Some(c) => leaf_command = c,
            None => break,
        }
        words.push(name);
        leaf = sub;
    }
    let words = words.join(" ");
    let mut flags = Vec::new();
    for (key, value) in table {
        if !applies_to(key, &words) {
            continue;
        }
        let Some(arg) = leaf_command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()))
        else {
            continue; // a setting of another command
        };
        let given = matches!(
            leaf.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if given {
            continue;
        }
        let long = key;
        let bad = |reason: &str| ConfigError::BadValue {
            path: path.to_path_buf(),
            key: key.clone(),
            reason: reason.to_string(),
        };
        match (arg.get_action(), value) {
            (ArgAction::SetTrue, toml::Value::Boolean(on)) => {
                if *on {
                    flags.push(format!("--{long}"));
                }
            }
            (ArgAction::SetTrue, _) => return Err(bad("must be true or false")),
            (ArgAction::Append, toml::Value::Array(items)) => {
                for item in items {
                    flags.push(format!(
                        "--{long}={}",
                        scalar(item)
                            .ok_or_else(|| bad("must be an array of strings or numbers"))?
                    ));
                }
            }
            (_, toml::Value::Array(_)) => return Err(bad("takes one value, not an array")),
            (_, other) => {
                let text =
                    scalar(other).ok_or_else(|| bad("must be a string, a number or a boolean"))?;
                flags.push(format!("--{long}={text}"));
            }
        }
    }
    Ok(flags)
}

fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings of the parsed command as `Debug` shows them.
    fn shown(cli: Cli) -> String {
        match cli.command {
            crate::cli::Command::Serve(args) => format!("{args:?}"),
            crate::cli::Command::Migrate { db } => format!("{db:?}"),
            _ => panic!("a command these tests do not run"),
        }
    }

    fn parse_with(file: &str, args: &[&str]) -> Result<Cli, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollcall.toml");
        std::fs::write(&path, file).unwrap();
        let mut all: Vec<OsString> = vec!["rollcall".into()];
        all.extend(args.iter().map(OsString::from));
        all.push("--config".into());
        all.push(path.into());
        parse_from(all)
    }

    #[test]
    fn every_serve_flag_is_a_key_and_nothing_else() {
        let keys = known_keys();
        for key in [
            "data-dir",
            "database-url",
            "db-key",
            "listen",
            "metrics-listen",
            "trusted-proxy",
            "log-format",
            "report-timeout",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
        assert!(!keys.iter().any(|k| k == "config" || k == "help"));
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err = parse_with(
            "listen = \"127.0.0.1:1\"\nlisten-adress = \"x\"\n",
            &["serve"],
        )
        .err()
        .expect("an error");
        assert!(err.to_string().contains("'listen-adress'"), "{err}");
        // Keys are the flags' spelling, not the fields'.
        let err = parse_with("data_dir = \"/x\"\n", &["serve"])
            .err()
            .expect("an error");
        assert!(err.to_string().contains("'data_dir'"), "{err}");
    }

    #[test]
    fn a_value_of_the_wrong_shape_is_an_error_naming_its_key() {
        let err = parse_with("allow-insecure-http = \"yes\"\n", &["serve"])
            .err()
            .expect("an error");
        assert!(err.to_string().contains("allow-insecure-http"), "{err}");
        let err = parse_with("listen = [\"a\", \"b\"]\n", &["serve"])
            .err()
            .expect("an error");
        assert!(err.to_string().contains("'listen'"), "{err}");
    }

    #[test]
    fn a_flag_beats_the_file_and_the_file_beats_the_default() {
        let cli = parse_with(
            "listen = \"127.0.0.9:1\"\nmax-body-bytes = 77\ntrusted-proxy = [\"10.0.0.1\", \"10.1.0.0/16\"]\nallow-insecure-http = true\n",
            &["serve", "--listen", "127.0.0.8:2"],
        )
        .unwrap();
        let shown = shown(cli);
        assert!(shown.contains("127.0.0.8:2"), "{shown}");
        assert!(shown.contains("max_body_bytes: 77"), "{shown}");
        assert!(shown.contains("allow_insecure_http: true"), "{shown}");
        assert!(shown.contains("10.1.0.0"), "{shown}");
    }

    #[test]
    fn keys_of_other_commands_are_left_alone() {
        // `migrate` has no --listen: the serve setting in the shared file is skipped.
        let cli = parse_with(
            "listen = \"127.0.0.9:1\"\ndata-dir = \"/srv/rc\"\n",
            &["migrate"],
        )
        .unwrap();
        let shown = shown(cli);
        assert!(shown.contains("/srv/rc"), "{shown}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let cli = parse_with(
            "database-url = \"postgres://rc:pa55word@db.example.com/rc\"\ndb-key = \"k3y-material-123\"\n",
            &["serve"],
        )
        .unwrap();
        let shown = shown(cli);
        assert!(!shown.contains("pa55word"), "{shown}");
        assert!(!shown.contains("k3y-material"), "{shown}");
        assert!(
            shown.contains("postgres://rc:***@db.example.com/rc"),
            "{shown}"
        );
    }

    #[test]
    fn the_packaged_default_file_is_valid_and_names_only_real_keys() {
        let text = include_str!("../debian/rollcall.toml");
        let shown = shown(parse_with(text, &["serve"]).unwrap());
        assert!(shown.contains("/var/lib/rollcall"), "{shown}");
        // Its commented-out examples name real keys too.
        let known = known_keys();
        let examples: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# ")?.split_once(" = "))
            .map(|(key, _)| key)
            .filter(|key| key.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
            .collect();
        assert!(examples.len() > 10, "{examples:?}");
        for key in examples {
            assert!(known.iter().any(|k| k == key), "{key} is no flag of serve");
        }
    }

    #[test]
    fn every_serve_flag_has_a_rollcall_variable() {
        let command = Cli::command();
        let serve = command.find_subcommand("serve").unwrap();
        for arg in command.get_arguments().chain(serve.get_arguments()) {
            let Some(long) = arg.get_long() else { continue };
            let env = arg.get_env().and_then(|e| e.to_str());
            assert!(
                env.is_some_and(|e| e.starts_with("ROLLCALL_")),
                "--{long} has no ROLLCALL_* variable"
            );
        }
    }

    /// The flags the file adds to `args`.
    fn added(file: &str, args: &[&str]) -> Vec<String> {
        let table: toml::Table = file.parse().unwrap();
        let mut all = vec!["rollcall"];
        all.extend_from_slice(args);
        let matches = Cli::command()
            .ignore_errors(true)
            .try_get_matches_from(all)
            .unwrap();
        flags_from_file(Path::new("rollcall.toml"), &table, &matches).unwrap()
    }

    #[test]
    fn only_commands_on_the_servers_database_take_its_database_keys() {
        let file = "listen = \"127.0.0.1:8080\"\ndata-dir = \"/srv/rc\"\ndatabase-url = \"postgres://db/rc\"\nlog-format = \"json\"\n";
        let mut serve = added(file, &["serve"]);
        serve.sort();
        assert_eq!(
            serve,
            [
                "--data-dir=/srv/rc",
                "--database-url=postgres://db/rc",
                "--listen=127.0.0.1:8080",
                "--log-format=json"
            ]
        );
        let mut init = added(file, &["admin", "init", "--json"]);
        init.sort();
        assert_eq!(
            init,
            [
                "--data-dir=/srv/rc",
                "--database-url=postgres://db/rc",
                "--log-format=json"
            ]
        );
        assert_eq!(
            added(file, &["backup", "--out", "x"]),
            ["--data-dir=/srv/rc", "--log-format=json"]
        );
        // The relay's own --listen, the bench's own database, restore's new directory.
        assert_eq!(
            added(file, &["relay", "--server", "http://x", "--api-key", "k"]),
            ["--log-format=json"]
        );
        assert_eq!(added(file, &["bench", "--quick"]), ["--log-format=json"]);
        assert_eq!(
            added(file, &["restore", "--from", "b", "--data-dir", "d"]),
            ["--log-format=json"]
        );
    }
}
