//! Store URLs: which backend, and where. The URL comes from a configuration file, so it is parsed
//! strictly and never echoed whole into an error (a PostgreSQL URL may carry a password).

use std::path::PathBuf;

use super::StoreError;

/// Where a store lives, parsed from its URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// `sqlite:///abs/path.db` (absolute) or `sqlite://relative.db` (relative to the working
    /// directory).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, handed to the PostgreSQL client as written.
    Postgres(String),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            // Never print the connection string: it may hold a password.
            Location::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
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
            if rest.contains(['?', '#']) {
                return Err(invalid(
                    "sqlite URLs take a plain file path (no query string or fragment)",
                ));
            }
            if rest.contains('\0') {
                return Err(invalid("the sqlite path contains a NUL byte"));
            }
            if rest.ends_with('/') {
                return Err(invalid("the sqlite path names a directory, not a file"));
            }
            // `sqlite:///abs` leaves "/abs"; `sqlite://rel` leaves "rel".
            Ok(Location::Sqlite(PathBuf::from(rest)))
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
            Location::Sqlite(PathBuf::from("/var/lib/modelgate/gate.db"))
        );
        assert_eq!(
            parse("sqlite://gate.db").unwrap(),
            Location::Sqlite(PathBuf::from("gate.db"))
        );
        assert_eq!(
            parse("sqlite://data/gate.db").unwrap(),
            Location::Sqlite(PathBuf::from("data/gate.db"))
        );
        assert_eq!(
            parse("SQLite://gate.db").unwrap(),
            Location::Sqlite(PathBuf::from("gate.db"))
        );
    }

    #[test]
    fn sqlite_rejects_empty_queries_and_directories() {
        for bad in [
            "sqlite://",
            "sqlite://gate.db?mode=ro",
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
