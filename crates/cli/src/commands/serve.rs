//! `freshet serve`: the feature server over the project's online store, until Ctrl-C or SIGTERM.

use crate::cli::ServeArgs;
use crate::output::{Failure, print_text};
use freshet_server::AppState;
use freshet_server::predict::follow_promotions;
use std::path::Path;
use std::sync::Arc;

/// How often a running server looks for models promoted or rolled back by another process.
pub(crate) const PROMOTION_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) fn run(dir: &Path, args: &ServeArgs) -> Result<(), Failure> {
    let project = super::load(dir)?;
    let serving = &project.spec.serving;
    let mut config = super::serving::server_config(serving);
    for name in &args.auth_token_env {
        match std::env::var(name) {
            Ok(token) if !token.trim().is_empty() => config.tokens.push(token.trim().to_owned()),
            _ => {
                return Err(Failure::Refused {
                    message: format!(
                        "environment variable `{name}` (--auth-token-env) is unset or empty"
                    ),
                    help: format!("export {name}=<a long random token>, or drop --auth-token-env"),
                });
            }
        }
    }
    config.cors_origins.extend(args.cors_origin.iter().cloned());
    let limits = &mut config.limits;
    limits.max_body_bytes = args.max_body_bytes.unwrap_or(limits.max_body_bytes);
    limits.max_entities = args.max_entities.unwrap_or(limits.max_entities);
    limits.max_features = args.max_features.unwrap_or(limits.max_features);
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let store = super::serving::open_store(&project).await?;
        let host = args.host.as_deref().unwrap_or(&serving.host);
        let (listener, bound) =
            super::serving::listen(host, args.port.unwrap_or(serving.port)).await?;
        let views = project.spec.feature_views.len();
        let state = Arc::new(AppState::new(&project, store, config));
        print_text(&format!(
            "serving {views} feature views of project `{}` on http://{bound} ({} store); Ctrl-C stops\n",
            project.spec.project,
            state.store.kind()
        ));
        let promotions = tokio::spawn(follow_promotions(
            state.clone(),
            project.clone(),
            PROMOTION_CHECK,
        ));
        let served = freshet_server::serve(listener, state, freshet_server::shutdown_signal()).await;
        promotions.abort();
        served
            .map_err(|e| Failure::Other(anyhow::Error::new(e)))
    })
}
