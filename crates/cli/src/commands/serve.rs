//! `freshet serve`: the feature server over the project's online store, until Ctrl-C or SIGTERM.

use crate::cli::ServeArgs;
use crate::output::{Failure, print_text};
use freshet_online::OnlineStore;
use freshet_server::{AppState, Limits, ServerConfig};
use std::path::Path;
use std::sync::Arc;

pub(crate) fn run(dir: &Path, args: &ServeArgs) -> Result<(), Failure> {
    let project = super::load(dir)?;
    let serving = &project.spec.serving;
    let mut tokens: Vec<String> = serving
        .auth_tokens
        .iter()
        .map(|t| t.resolved().trim().to_owned())
        .collect();
    for name in &args.auth_token_env {
        match std::env::var(name) {
            Ok(token) if !token.trim().is_empty() => tokens.push(token.trim().to_owned()),
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
    let config = ServerConfig {
        limits: Limits {
            max_body_bytes: args
                .max_body_bytes
                .unwrap_or(usize::try_from(serving.max_body_bytes).unwrap_or(usize::MAX)),
            max_entities: args
                .max_entities
                .unwrap_or(usize::try_from(serving.max_entities).unwrap_or(usize::MAX)),
            max_features: args
                .max_features
                .unwrap_or(usize::try_from(serving.max_features).unwrap_or(usize::MAX)),
        },
        tokens,
        cors_origins: serving
            .cors_origins
            .iter()
            .chain(&args.cors_origin)
            .cloned()
            .collect(),
        ..ServerConfig::default()
    };
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let store = OnlineStore::open(&project).await.map_err(|e| Failure::Refused {
            message: e.to_string(),
            help: "start the online store, or check `online_store` in freshet.yaml".to_owned(),
        })?;
        let host = args.host.as_deref().unwrap_or(&serving.host);
        let address = format!("{host}:{}", args.port.unwrap_or(serving.port));
        let listener = tokio::net::TcpListener::bind(&address).await.map_err(|e| Failure::Refused {
            message: format!("cannot listen on {address}: {e}"),
            help: "choose another --port, or stop what uses this one".to_owned(),
        })?;
        let bound = listener
            .local_addr()
            .map_or_else(|_| address.clone(), |a| a.to_string());
        let views = project.spec.feature_views.len();
        let state = Arc::new(AppState::new(&project, store, config));
        print_text(&format!(
            "serving {views} feature views of project `{}` on http://{bound} ({} store); Ctrl-C stops\n",
            project.spec.project,
            state.store.kind()
        ));
        freshet_server::serve(listener, state, freshet_server::shutdown_signal())
            .await
            .map_err(|e| Failure::Other(anyhow::Error::new(e)))
    })
}
