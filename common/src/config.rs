//! Typed configuration from the environment: every program reads its
//! settings through these helpers so a wrong value stops it at once with one
//! clear line naming the variable.

use std::{str::FromStr, time::Duration};

use secrecy::SecretString;

/// A configuration error: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub name: String,
    pub problem: String,
}

/// Where to read variables from; tests pass a map, programs the process env.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct Env;

impl Source for Env {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }
}

impl Source for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|value| !value.is_empty())
    }
}

/// A variable parsed with `FromStr`, or `default` when unset.
pub fn parsed<T: FromStr>(source: &dyn Source, name: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match source.get(name) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|error: T::Err| ConfigError {
            name: name.to_owned(),
            problem: format!("cannot parse {raw:?}: {error}"),
        }),
    }
}

/// A string variable, or `default` when unset.
pub fn string(source: &dyn Source, name: &str, default: &str) -> String {
    source.get(name).unwrap_or_else(|| default.to_owned())
}

/// A required secret (never printed): from `name`, or from the file that
/// `<name>_FILE` names.
pub fn secret(source: &dyn Source, name: &str) -> Result<SecretString, ConfigError> {
    optional_secret(source, name)?.ok_or_else(|| ConfigError {
        name: name.to_owned(),
        problem: format!("is required and not set (nor {name}_FILE)"),
    })
}

/// A secret setting with a default (a database URL that may carry a
/// password), also from `<name>_FILE`.
pub fn secret_or(
    source: &dyn Source,
    name: &str,
    default: &str,
) -> Result<SecretString, ConfigError> {
    Ok(optional_secret(source, name)?.unwrap_or_else(|| SecretString::from(default.to_owned())))
}

/// A secret from the variable `name`, or read from the file that
/// `<name>_FILE` names, the way Docker and Kubernetes mount secrets, so a
/// secret need not sit in a process's environment. One trailing newline is
/// dropped; setting both is refused, as is an empty or unreadable file.
pub fn optional_secret(
    source: &dyn Source,
    name: &str,
) -> Result<Option<SecretString>, ConfigError> {
    let file_variable = format!("{name}_FILE");
    match (source.get(name), source.get(&file_variable)) {
        (Some(_), Some(_)) => Err(ConfigError {
            name: name.to_owned(),
            problem: format!("set either {name} or {file_variable}, not both"),
        }),
        (Some(value), None) => Ok(Some(SecretString::from(value))),
        (None, None) => Ok(None),
        (None, Some(path)) => {
            let problem = |problem: String| ConfigError {
                name: file_variable.clone(),
                problem,
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|error| problem(format!("cannot read {path:?}: {error}")))?;
            let value = text.strip_suffix('\n').map_or(text.as_str(), |line| {
                line.strip_suffix('\r').unwrap_or(line)
            });
            if value.is_empty() {
                return Err(problem(format!("{path:?} is empty")));
            }
            Ok(Some(SecretString::from(value.to_owned())))
        }
    }
}

/// A duration: whole seconds (`60`) or with a unit (`500ms`, `60s`, `5m`, `1h`).
pub fn duration(
    source: &dyn Source,
    name: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let raw = match source.get(name) {
        None => return Ok(default),
        Some(raw) => raw,
    };
    let parsed = parse_duration(&raw).ok_or_else(|| ConfigError {
        name: name.to_owned(),
        problem: format!("{raw:?} is not a duration (use seconds, or 500ms, 60s, 5m, 1h)"),
    })?;
    // Far beyond any sensible setting, and far from where adding it to a
    // clock reading would overflow.
    if parsed > MAX_DURATION {
        return Err(ConfigError {
            name: name.to_owned(),
            problem: format!("{raw:?} is more than a year"),
        });
    }
    Ok(parsed)
}

/// The longest duration any setting takes.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// A duration that must be at least `min` and at most `max`.
pub fn duration_between(
    source: &dyn Source,
    name: &str,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    let value = duration(source, name, default)?;
    if value < min || value > max {
        return Err(ConfigError {
            name: name.to_owned(),
            problem: format!(
                "must be between {} ms and {} s",
                min.as_millis(),
                max.as_secs()
            ),
        });
    }
    Ok(value)
}

/// Parses `60`, `500ms`, `60s`, `5m`, `1h`.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: u64 = number.parse().ok()?;
    match unit {
        "" | "s" => Some(Duration::from_secs(number)),
        "ms" => Some(Duration::from_millis(number)),
        "m" => number.checked_mul(60).map(Duration::from_secs),
        "h" => number.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

/// Masks a URL's password for printing settings at start.
pub fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:****{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_plain_seconds_and_units() {
        assert_eq!(parse_duration("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn a_duration_with_an_unknown_unit_or_sign_is_refused() {
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration("-5"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn a_secret_comes_from_its_variable_or_from_the_file_its_file_variable_names() {
        use secrecy::ExposeSecret;
        use std::collections::HashMap;
        let directory = std::env::temp_dir().join(format!("sms-secret-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let file = directory.join("pepper");
        std::fs::write(&file, "from-the-file\n").unwrap();
        let path = file.display().to_string();
        let source = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect()
        };

        let from_variable = secret(&source(&[("PEPPER", "from-the-variable")]), "PEPPER").unwrap();
        assert_eq!(from_variable.expose_secret(), "from-the-variable");
        let from_file = secret(&source(&[("PEPPER_FILE", &path)]), "PEPPER").unwrap();
        assert_eq!(from_file.expose_secret(), "from-the-file");

        let both = secret(
            &source(&[("PEPPER", "x"), ("PEPPER_FILE", &path)]),
            "PEPPER",
        );
        assert!(both.unwrap_err().problem.contains("not both"));
        let missing = secret(&source(&[("PEPPER_FILE", "/nonexistent/pepper")]), "PEPPER");
        assert_eq!(missing.unwrap_err().name, "PEPPER_FILE");
        std::fs::write(&file, "\n").unwrap();
        let empty = secret(&source(&[("PEPPER_FILE", &path)]), "PEPPER");
        assert!(empty.unwrap_err().problem.contains("empty"));
        assert!(optional_secret(&source(&[]), "PEPPER").unwrap().is_none());
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn a_password_in_a_url_is_masked() {
        assert_eq!(
            mask_url("postgres://sms:hunter2@db:5432/sms"),
            "postgres://sms:****@db:5432/sms"
        );
        assert_eq!(mask_url("postgres://db/sms"), "postgres://db/sms");
    }
}
