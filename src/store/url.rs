//! Store URLs: which backend, and where. The URL comes from a configuration file, so it is parsed
//! strictly and never echoed whole into an error (a PostgreSQL URL may carry a password).

use std::path::PathBuf;

use super::StoreError;

/// Where a store lives, parsed from its URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// `sqlite:///abs/path.db` (absolute) or `sqlite://relative.db` (relative to the working
    /// directory), optionally `?synchronous=normal`.
    Sqlite(PathBuf, Sync),
    /// `postgres://…` or `postgresql://…`, handed to the PostgreSQL client as written.
    Postgres(String),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p, s) => f.debug_tuple("Sqlite").field(p).field(s).finish(),
            // Never print the connection string: it may hold a password.
            Location::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

/// When a SQLite commit is reported: `Full` (the default) after the write-ahead log is synced, so
/// an accepted row survives a power loss; `Normal` (`?synchronous=normal`) before, so it
/// survives a crash of the process but the last commits may be lost with the machine, in
/// exchange for about a millisecond less per commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    Full,
    Normal,
}

/// Parses a store URL. Unknown schemes are [`StoreError::UnsupportedScheme`], naming the scheme.
pub fn parse(url: &str) -> Result<Location, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidUrl {
        reason: reason.to_owned(),
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid(
            "expected sqlite:///path.db, sqlite://relative.db or postgres://user@host:port/db",
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => {
            if rest.is_empty() {
                return Err(invalid("sqlite:// needs a file path"));
            }
            let (rest, sync) = match rest.split_once('?') {
                None => (rest, Sync::Full),
                Some((path, "synchronous=full")) => (path, Sync::Full),
                Some((path, "synchronous=normal")) => (path, Sync::Normal),
                Some(_) => {
                    return Err(invalid(
                        "a sqlite URL takes a file path and at most ?synchronous=full or ?synchronous=normal",
                    ))
                }
            };
            if rest.is_empty() {
                return Err(invalid("sqlite:// needs a file path"));
            }
            if rest.contains('#') {
                return Err(invalid("sqlite URLs take no fragment"));
            }
            if rest.contains('\0') {
                return Err(invalid("the sqlite path contains a NUL byte"));
            }
            if rest.ends_with('/') {
                return Err(invalid("the sqlite path names a directory, not a file"));
            }
            // `sqlite:///abs` leaves "/abs"; `sqlite://rel` leaves "rel".
            Ok(Location::Sqlite(PathBuf::from(rest), sync))
        }
        "postgres" | "postgresql" => {
            if rest.is_empty() {
                return Err(invalid("postgres:// needs a host"));
            }
            Ok(Location::Postgres(url.to_owned()))
        }
        _ => Err(StoreError::UnsupportedScheme {
            scheme: scheme.chars().take(32).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_absolute_and_relative() {
        assert_eq!(
            parse("sqlite:///var/lib/modelgate/gate.db").unwrap(),
            Location::Sqlite(PathBuf::from("/var/lib/modelgate/gate.db"), Sync::Full)
        );
        assert_eq!(
            parse("sqlite://gate.db").unwrap(),
            Location::Sqlite(PathBuf::from("gate.db"), Sync::Full)
        );
        assert_eq!(
            parse("sqlite://data/gate.db").unwrap(),
            Location::Sqlite(PathBuf::from("data/gate.db"), Sync::Full)
        );
        assert_eq!(
            parse("SQLite://gate.db").unwrap(),
            Location::Sqlite(PathBuf::from("gate.db"), Sync::Full)
        );
        assert_eq!(
            parse("sqlite:///var/gate.db?synchronous=normal").unwrap(),
            Location::Sqlite(PathBuf::from("/var/gate.db"), Sync::Normal)
        );
        assert_eq!(
            parse("sqlite://gate.db?synchronous=full").unwrap(),
            Location::Sqlite(PathBuf::from("gate.db"), Sync::Full)
        );
    }

    #[test]
    fn sqlite_rejects_empty_queries_and_directories() {
        for bad in [
            "sqlite://",
            "sqlite://gate.db?mode=ro",
            "sqlite://gate.db?synchronous=off",
            "sqlite://?synchronous=normal",
            "sqlite://a#b",
            "sqlite:///tmp/",
            "sqlite://a\0b",
        ] {
            assert!(
                matches!(parse(bad), Err(StoreError::InvalidUrl { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn postgres_both_schemes() {
        let url = "postgres://gate:secret@db.internal:5432/modelgate";
        assert_eq!(parse(url).unwrap(), Location::Postgres(url.to_owned()));
        let url = "postgresql://gate@127.0.0.1:5433/modelgate";
        assert_eq!(parse(url).unwrap(), Location::Postgres(url.to_owned()));
        assert!(matches!(
            parse("postgres://"),
            Err(StoreError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn postgres_password_is_never_printed() {
        let loc = parse("postgres://gate:hunter2@db/modelgate").unwrap();
        assert!(!format!("{loc:?}").contains("hunter2"));
    }

    #[test]
    fn unknown_schemes_are_named() {
        match parse("mysql://root@localhost/db") {
            Err(e @ StoreError::UnsupportedScheme { .. }) => {
                assert!(e.to_string().contains("mysql"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse("gate.db"),
            Err(StoreError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse("sqlite:gate.db"),
            Err(StoreError::InvalidUrl { .. })
        ));
    }
}
