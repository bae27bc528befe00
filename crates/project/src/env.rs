//! `${VAR}` interpolation of environment variables, for secrets and per-deployment settings.
//!
//! Only connection settings (URLs, brokers, topics, paths, tokens) are interpolated; names and expressions
//! never are, so the meaning of a feature cannot depend on the environment. The spec keeps the *template*
//! (`redis://:${REDIS_PASSWORD}@host`) next to the resolved value and only ever prints or stores the
//! template, so a secret never reaches a message, the registry or a log.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// Where variables come from: the process environment, or a fixed map in tests.
pub trait Env {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A setting that may contain `${VAR}` references. Displays and serializes as its template only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Templated {
    template: String,
    resolved: String,
}

impl Templated {
    /// A value with no references (the template is the value).
    pub fn literal(value: impl Into<String>) -> Templated {
        let value = value.into();
        Templated {
            template: value.clone(),
            resolved: value,
        }
    }

    /// The text as written in `freshet.yaml`, safe to print.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The value with variables substituted. Never print it: it may hold a secret.
    pub fn resolved(&self) -> &str {
        &self.resolved
    }

    /// Whether the value came (partly) from the environment.
    pub fn is_interpolated(&self) -> bool {
        self.template != self.resolved || self.template.contains("$$")
    }
}

impl From<String> for Templated {
    /// Deserialized templates (from the registry) are not re-resolved: the registry only compares them.
    fn from(template: String) -> Templated {
        Templated {
            resolved: template.clone(),
            template,
        }
    }
}

impl From<Templated> for String {
    fn from(t: Templated) -> String {
        t.template
    }
}

impl fmt::Debug for Templated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.template, f)
    }
}

impl fmt::Display for Templated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.template)
    }
}

/// What went wrong while interpolating, with the byte range of the reference inside the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    /// `${NAME}` where NAME is not set.
    Missing {
        /// The variable.
        name: String,
        /// Byte range of `${NAME}` in the template.
        range: std::ops::Range<usize>,
    },
    /// `${` without a closing brace, or an empty or invalid name.
    Malformed {
        /// Byte range of the bad reference.
        range: std::ops::Range<usize>,
    },
}

/// Substitutes every `${NAME}` in `template`; `$$` stands for a literal `$`.
pub fn interpolate(template: &str, env: &dyn Env) -> Result<Templated, Vec<InterpolationError>> {
    let mut resolved = String::with_capacity(template.len());
    let mut errors = Vec::new();
    let mut rest = template.char_indices().peekable();
    while let Some((i, c)) = rest.next() {
        match (c, rest.peek().map(|&(_, n)| n)) {
            ('$', Some('$')) => {
                rest.next();
                resolved.push('$');
            }
            ('$', Some('{')) => {
                let Some(close) = template[i..].find('}').map(|o| i + o) else {
                    errors.push(InterpolationError::Malformed {
                        range: i..template.len(),
                    });
                    break;
                };
                let name = &template[i + 2..close];
                let valid = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit());
                if !valid {
                    errors.push(InterpolationError::Malformed {
                        range: i..close + 1,
                    });
                } else if let Some(value) = env.var(name) {
                    resolved.push_str(&value);
                } else {
                    errors.push(InterpolationError::Missing {
                        name: name.to_owned(),
                        range: i..close + 1,
                    });
                }
                while rest.next_if(|&(j, _)| j <= close).is_some() {}
            }
            (c, _) => resolved.push(c),
        }
    }
    if errors.is_empty() {
        Ok(Templated {
            template: template.to_owned(),
            resolved,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        HashMap::from([("PASS".to_owned(), "s3cret".to_owned())])
    }

    #[test]
    fn substitutes_and_hides_secrets() {
        let t = interpolate("redis://:${PASS}@h:6379", &env()).unwrap();
        assert_eq!(t.resolved(), "redis://:s3cret@h:6379");
        assert_eq!(t.to_string(), "redis://:${PASS}@h:6379");
        assert_eq!(format!("{t:?}"), "\"redis://:${PASS}@h:6379\"");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"redis://:${PASS}@h:6379\""
        );
        assert!(t.is_interpolated());
    }

    #[test]
    fn dollar_escape_and_plain_text() {
        assert_eq!(interpolate("a$$b", &env()).unwrap().resolved(), "a$b");
        assert_eq!(interpolate("a$b", &env()).unwrap().resolved(), "a$b");
    }

    #[test]
    fn reports_missing_and_malformed() {
        let errors = interpolate("${NOPE}-${PASS}-${", &env()).unwrap_err();
        assert_eq!(
            errors,
            vec![
                InterpolationError::Missing {
                    name: "NOPE".into(),
                    range: 0..7
                },
                InterpolationError::Malformed { range: 16..18 },
            ]
        );
        assert!(matches!(
            interpolate("${1X}", &env()).unwrap_err()[0],
            InterpolationError::Malformed { .. }
        ));
    }
}
