//! `serving`: the feature server's address, limits, bearer tokens and CORS origins, with defaults so a
//! project needs no section at all.

use super::Validator;
use crate::diagnostic::Diagnostic;
use crate::raw::RawServing;
use crate::spec::ServingSpec;
use crate::yaml::Spanned;

impl Validator {
    pub(super) fn serving(&mut self, raw: Option<&RawServing>) -> Option<ServingSpec> {
        let defaults = ServingSpec::default();
        let Some(raw) = raw else {
            return Some(defaults);
        };
        let mut ok = true;
        let mut limit =
            |v: &mut Validator, value: Option<&Spanned<i64>>, default: u64, what: &str| match value
            {
                None => default,
                Some(s) if s.value >= 1 => s.value as u64,
                Some(s) => {
                    v.report(
                        Diagnostic::at(
                            &s.at,
                            format!("{what} must be at least 1, found {}", s.value),
                        )
                        .help(format!(
                            "remove it for the default ({default}), or give a positive number"
                        )),
                    );
                    ok = false;
                    default
                }
            };
        let max_body_bytes = limit(
            self,
            raw.max_body_bytes.as_ref(),
            defaults.max_body_bytes,
            "max_body_bytes",
        );
        let max_entities = limit(
            self,
            raw.max_entities.as_ref(),
            defaults.max_entities,
            "max_entities",
        );
        let max_features = limit(
            self,
            raw.max_features.as_ref(),
            defaults.max_features,
            "max_features",
        );
        let port = match &raw.port {
            None => defaults.port,
            Some(p) => match u16::try_from(p.value) {
                Ok(port) if port > 0 => port,
                _ => {
                    self.report(
                        Diagnostic::at(&p.at, format!("port {} is not a TCP port", p.value))
                            .help("use a number from 1 to 65535; freshet's default is 6566"),
                    );
                    ok = false;
                    defaults.port
                }
            },
        };
        let mut auth_tokens = Vec::new();
        for token in raw.auth_tokens.iter().flat_map(|t| &t.value) {
            if !token.value.is_interpolated() {
                self.report(
                    Diagnostic::at(&token.at, "a bearer token written in the project file")
                        .help("write `${API_TOKEN}` and set the variable in the environment, so the file holds no secret"),
                );
                ok = false;
            } else if token.value.resolved().trim().is_empty() {
                self.report(
                    Diagnostic::at(&token.at, format!("`{}` is empty", token.value.template()))
                        .help("set the variable to a long random token"),
                );
                ok = false;
            } else {
                auth_tokens.push(token.value.clone());
            }
        }
        let cors_origins = raw
            .cors_origins
            .iter()
            .flat_map(|o| &o.value)
            .map(|o| o.value.clone())
            .collect();
        ok.then(|| ServingSpec {
            host: raw.host.as_ref().map_or(defaults.host, |h| h.value.clone()),
            port,
            max_body_bytes,
            max_entities,
            max_features,
            auth_tokens,
            cors_origins,
        })
    }
}
