//! Online and offline store settings, with embedded defaults so a project runs with no server at all.

use super::Validator;
use crate::diagnostic::Diagnostic;
use crate::env::Templated;
use crate::raw::RawStore;
use crate::spec::{OfflineStoreSpec, OnlineStoreSpec};
use crate::yaml::Spanned;

/// Default directory of the embedded online store, relative to the project.
const DEFAULT_ONLINE_PATH: &str = ".freshet/online";
/// Default directory of the local offline store, relative to the project.
const DEFAULT_OFFLINE_PATH: &str = ".freshet/offline";

impl Validator {
    pub(super) fn online_store(&mut self, raw: Option<&RawStore>) -> Option<OnlineStoreSpec> {
        let Some(raw) = raw else {
            return Some(OnlineStoreSpec::Embedded {
                path: Templated::literal(DEFAULT_ONLINE_PATH),
            });
        };
        let kinds = [("embedded", 0), ("redis", 1), ("redis_cluster", 2)];
        match raw
            .kind
            .as_ref()
            .and_then(|k| self.choice(k, "online store type", &kinds))?
        {
            0 => Some(OnlineStoreSpec::Embedded {
                path: raw.path.as_ref().map_or_else(
                    || Templated::literal(DEFAULT_ONLINE_PATH),
                    |p| p.value.clone(),
                ),
            }),
            1 => {
                let url = self.require(
                    (&raw.at, &raw.present),
                    raw.url.as_ref(),
                    "url",
                    "redis://127.0.0.1:6379",
                )?;
                self.redis_url(url).then(|| OnlineStoreSpec::Redis {
                    url: url.value.clone(),
                })
            }
            _ => {
                let urls = self.require(
                    (&raw.at, &raw.present),
                    raw.urls.as_ref(),
                    "urls",
                    "[redis://127.0.0.1:7000]",
                )?;
                if urls.value.is_empty() {
                    self.report(
                        Diagnostic::at(&urls.at, "a Redis Cluster needs at least one node URL")
                            .help("list one or more nodes, e.g. `urls: [redis://127.0.0.1:7000]`"),
                    );
                    return None;
                }
                // Check every URL (no short-circuit) so each bad one is reported.
                let bad = urls.value.iter().filter(|u| !self.redis_url(u)).count();
                (bad == 0).then(|| OnlineStoreSpec::RedisCluster {
                    urls: urls.value.iter().map(|u| u.value.clone()).collect(),
                })
            }
        }
    }

    pub(super) fn offline_store(&mut self, raw: Option<&RawStore>) -> Option<OfflineStoreSpec> {
        let default = || OfflineStoreSpec::Local {
            path: Templated::literal(DEFAULT_OFFLINE_PATH),
        };
        let Some(raw) = raw else {
            return Some(default());
        };
        raw.kind
            .as_ref()
            .and_then(|k| self.choice(k, "offline store type", &[("local", ())]))?;
        Some(match &raw.path {
            Some(p) => OfflineStoreSpec::Local {
                path: p.value.clone(),
            },
            None => default(),
        })
    }

    fn redis_url(&mut self, url: &Spanned<Templated>) -> bool {
        let resolved = url.value.resolved();
        let ok = resolved.starts_with("redis://") || resolved.starts_with("rediss://");
        if !ok {
            // Print the template, never the resolved value: it may contain a password.
            let message = format!("`{}` is not a Redis URL", url.value.template());
            self.report(Diagnostic::at(&url.at, message).help(
                "write `redis://host:port` (or `rediss://` for TLS); put passwords in `${VAR}`",
            ));
        }
        ok
    }
}
