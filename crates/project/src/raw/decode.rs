//! Decoding `freshet.yaml`'s nodes into the `Raw*` structs, section by section: each reader takes a
//! node and its path, reports what is missing, unknown or of the wrong shape through the [`Decoder`],
//! and keeps going, so one run reports every such mistake. The tables below are the file's
//! vocabulary: the keys each section, and each kind of source and store, accepts.

use super::{
    RawAssignment, RawDerivedColumn, RawEntity, RawFeature, RawModel, RawProject, RawService,
    RawServing, RawSource, RawStore, RawView, S,
};
use crate::yaml::{Decoder, MapReader, Spanned};
use marked_yaml::Node;

/// Source kinds and the settings each accepts beyond the common ones.
pub(crate) const SOURCE_KINDS: [(&str, &[&str]); 6] = [
    (
        "kafka",
        &[
            "brokers",
            "topic",
            "format",
            "group_id",
            "start_offset",
            "key",
            "event_time",
            "options",
            "assignment",
        ],
    ),
    ("file", &["path", "format", "every"]),
    ("postgres", &["url", "table", "query", "every"]),
    ("postgres_cdc", &["url", "table", "slot", "publication"]),
    ("push", &[]),
    (
        "generator",
        &["scenario", "rate", "entities", "seed", "speedup", "history"],
    ),
];

const SOURCE_COMMON: [&str; 9] = [
    "name",
    "type",
    "description",
    "schema",
    "timestamp_field",
    "timezone",
    "event_id_field",
    "ingest_time_field",
    "kind",
];

/// Store kinds and their settings: (section, kind, keys).
const STORE_KINDS: [(&str, &str, &[&str]); 4] = [
    ("online_store", "embedded", &["type", "path"]),
    ("online_store", "redis", &["type", "url"]),
    ("online_store", "redis_cluster", &["type", "urls"]),
    ("offline_store", "local", &["type", "path"]),
];

const TOP_LEVEL: [&str; 10] = [
    "project",
    "online_store",
    "offline_store",
    "serving",
    "entities",
    "sources",
    "feature_views",
    "feature_services",
    "models",
    "description",
];

fn string(d: &mut Decoder<'_>, n: &Node, p: String) -> S<String> {
    d.string(n, p)
}

fn strings(d: &mut Decoder<'_>, n: &Node, p: String) -> S<Vec<Spanned<String>>> {
    d.list(n, p, |d, n, p| d.string(n, p))
}

/// Decodes the document root.
pub(crate) fn decode(d: &mut Decoder<'_>, root: &Node) -> RawProject {
    let Some(m) = d.mapping(root, String::new(), &TOP_LEVEL) else {
        return RawProject::default();
    };
    let items = |d: &mut Decoder<'_>, key: &str| {
        m.optional(d, key, |d, n, p| {
            d.list(n, p, |_, n, p| Some((n.clone(), p)))
        })
        .map(|s| s.value)
        .unwrap_or_default()
    };
    let (entities, sources, views, services, models) = (
        items(d, "entities"),
        items(d, "sources"),
        items(d, "feature_views"),
        items(d, "feature_services"),
        items(d, "models"),
    );
    let _description = m.optional(d, "description", string);
    RawProject {
        project: m.required(d, "project", string),
        online_store: m.optional(d, "online_store", |d, n, p| store(d, n, p, "online_store")),
        offline_store: m.optional(d, "offline_store", |d, n, p| {
            store(d, n, p, "offline_store")
        }),
        serving: m.optional(d, "serving", serving),
        entities: entities
            .iter()
            .filter_map(|(n, p)| entity(d, n, p.clone()))
            .collect(),
        sources: sources
            .iter()
            .filter_map(|(n, p)| source(d, n, p.clone()))
            .collect(),
        feature_views: views
            .iter()
            .filter_map(|(n, p)| view(d, n, p.clone()))
            .collect(),
        feature_services: services
            .iter()
            .filter_map(|(n, p)| service(d, n, p.clone()))
            .collect(),
        models: models
            .iter()
            .filter_map(|(n, p)| model(d, n, p.clone()))
            .collect(),
    }
}

/// Reads `type` first, then checks the remaining keys against that kind's settings.
fn kind_and_keys<'n>(
    d: &mut Decoder<'_>,
    node: &'n Node,
    path: String,
    kinds: &[(&str, &[&str])],
    common: &[&str],
) -> Option<(MapReader<'n>, S<String>)> {
    let kind = node
        .as_mapping()
        .and_then(|m| m.get_node("type"))
        .and_then(|n| n.as_scalar())
        .map(|s| s.as_str().to_owned());
    let mut keys: Vec<&str> = common.to_vec();
    match kinds.iter().find(|(k, _)| Some(*k) == kind.as_deref()) {
        Some((_, own)) => keys.extend_from_slice(own),
        // Unknown kind: accept every kind's keys so the one real error is not buried under others.
        None => kinds
            .iter()
            .for_each(|(_, own)| keys.extend_from_slice(own)),
    }
    keys.sort_unstable();
    keys.dedup();
    let m = d.mapping(node, path, &keys)?;
    let kind = m.required(d, "type", string);
    Some((m, kind))
}

fn store(d: &mut Decoder<'_>, node: &Node, path: String, section: &str) -> Option<RawStore> {
    let kinds: Vec<(&str, &[&str])> = STORE_KINDS
        .iter()
        .filter(|(s, ..)| *s == section)
        .map(|(_, k, keys)| (*k, *keys))
        .collect();
    let (m, kind) = kind_and_keys(d, node, path, &kinds, &["type"])?;
    let templated = |d: &mut Decoder<'_>, n: &Node, p| d.templated(n, p);
    Some(RawStore {
        at: m.at().clone(),
        present: present(&m, &["path", "url", "urls"]),
        kind,
        path: m.optional(d, "path", templated),
        url: m.optional(d, "url", templated),
        urls: m.optional(d, "urls", |d, n, p| {
            d.list(n, p, |d, n, p| d.templated(n, p))
        }),
    })
}

const SERVING_KEYS: [&str; 7] = [
    "host",
    "port",
    "max_body_bytes",
    "max_entities",
    "max_features",
    "auth_tokens",
    "cors_origins",
];

fn serving(d: &mut Decoder<'_>, node: &Node, path: String) -> Option<RawServing> {
    let m = d.mapping(node, path, &SERVING_KEYS)?;
    let integer = |d: &mut Decoder<'_>, n: &Node, p| d.integer(n, p);
    Some(RawServing {
        host: m.optional(d, "host", string),
        port: m.optional(d, "port", integer),
        max_body_bytes: m.optional(d, "max_body_bytes", integer),
        max_entities: m.optional(d, "max_entities", integer),
        max_features: m.optional(d, "max_features", integer),
        auth_tokens: m.optional(d, "auth_tokens", |d, n, p| {
            d.list(n, p, |d, n, p| d.templated(n, p))
        }),
        cors_origins: m.optional(d, "cors_origins", strings),
    })
}

fn present(m: &MapReader<'_>, keys: &[&'static str]) -> Vec<&'static str> {
    keys.iter().copied().filter(|k| m.has(k)).collect()
}

fn entity(d: &mut Decoder<'_>, node: &Node, path: String) -> Option<RawEntity> {
    let m = d.mapping(node, path, &["name", "join_keys", "description"])?;
    Some(RawEntity {
        name: m.required(d, "name", string),
        join_keys: m.required(d, "join_keys", strings),
        description: m.optional(d, "description", string),
    })
}

fn source(d: &mut Decoder<'_>, node: &Node, path: String) -> Option<RawSource> {
    // `kind` is listed so that writing it instead of `type` gets a pointed message, not a generic one.
    let (m, kind) = kind_and_keys(d, node, path, &SOURCE_KINDS, &SOURCE_COMMON)?;
    let t = |d: &mut Decoder<'_>, n: &Node, p| d.templated(n, p);
    let schema = m.optional(d, "schema", |d, n, p| {
        let map = d.free_mapping(n, p)?;
        let at = map.at().clone();
        let entries = map.entries(d);
        let value = entries
            .into_iter()
            .filter_map(|(k, v)| d.string(v, k.at.path.clone()).map(|t| (k, t)))
            .collect();
        Some(Spanned { value, at })
    });
    if let Some(k) = m.get("kind") {
        let at = d.at(k, m.at().field("kind"));
        d.report(
            crate::Diagnostic::at(&at, "sources say `type:`, not `kind:`")
                .help("rename `kind` to `type`"),
        );
    }
    Some(RawSource {
        at: m.at().clone(),
        present: present(
            &m,
            &[
                "brokers",
                "topic",
                "path",
                "url",
                "table",
                "schema",
                "timestamp_field",
                "scenario",
            ],
        ),
        name: m.required(d, "name", string),
        kind,
        description: m.optional(d, "description", string),
        schema,
        timestamp_field: m.optional(d, "timestamp_field", string),
        timezone: m.optional(d, "timezone", string),
        event_id_field: m.optional(d, "event_id_field", string),
        ingest_time_field: m.optional(d, "ingest_time_field", string),
        brokers: m.optional(d, "brokers", t),
        topic: m.optional(d, "topic", t),
        format: m.optional(d, "format", string),
        group_id: m.optional(d, "group_id", t),
        start_offset: m.optional(d, "start_offset", string),
        key: m.optional(d, "key", string),
        event_time: m.optional(d, "event_time", string),
        options: m.optional(d, "options", |d, n, p| {
            let map = d.free_mapping(n, p)?;
            let at = map.at().clone();
            let value = map
                .entries(d)
                .into_iter()
                .filter_map(|(k, v)| d.templated(v, k.at.path.clone()).map(|x| (k, x)))
                .collect();
            Some(Spanned { value, at })
        }),
        assignment: m.optional(d, "assignment", assignment),
        path: m.optional(d, "path", t),
        every: m.optional(d, "every", string),
        url: m.optional(d, "url", t),
        table: m.optional(d, "table", t),
        query: m.optional(d, "query", string),
        slot: m.optional(d, "slot", string),
        publication: m.optional(d, "publication", string),
        scenario: m.optional(d, "scenario", string),
        rate: m.optional(d, "rate", |d, n, p| d.number(n, p)),
        entities: m.optional(d, "entities", |d, n, p| d.integer(n, p)),
        seed: m.optional(d, "seed", |d, n, p| d.integer(n, p)),
        speedup: m.optional(d, "speedup", |d, n, p| d.number(n, p)),
        history: m.optional(d, "history", string),
    })
}

fn assignment(d: &mut Decoder<'_>, node: &Node, path: String) -> S<RawAssignment> {
    if !matches!(node, Node::Mapping(_)) {
        let name = d.string(node, path)?;
        let at = name.at.clone();
        return Some(Spanned {
            value: RawAssignment::Named(name),
            at,
        });
    }
    let m = d.mapping(node, path, &["worker", "workers"])?;
    let value = RawAssignment::Share {
        worker: m.optional(d, "worker", |d, n, p| d.templated(n, p)),
        workers: m.optional(d, "workers", |d, n, p| d.integer(n, p)),
        present: present(&m, &["worker", "workers"]),
    };
    Some(Spanned {
        value,
        at: m.at().clone(),
    })
}

fn view(d: &mut Decoder<'_>, node: &Node, path: String) -> Option<RawView> {
    const KEYS: [&str; 9] = [
        "name",
        "version",
        "description",
        "entities",
        "source",
        "columns",
        "filter",
        "ttl",
        "features",
    ];
    let m = d.mapping(node, path, &KEYS)?;
    let columns = m
        .optional(d, "columns", |d, n, p| d.list(n, p, derived_column))
        .map(|s| s.value)
        .unwrap_or_default();
    Some(RawView {
        name: m.required(d, "name", string),
        version: m.optional(d, "version", |d, n, p| d.integer(n, p)),
        description: m.optional(d, "description", string),
        entities: m.required(d, "entities", strings),
        source: m.required(d, "source", string),
        columns,
        filter: m.optional(d, "filter", string),
        ttl: m.optional(d, "ttl", string),
        features: m.required(d, "features", |d, n, p| d.list(n, p, feature)),
    })
}

fn derived_column(d: &mut Decoder<'_>, node: &Node, path: String) -> Option<RawDerivedColumn> {
    let m = d.mapping(node, path, &["name", "expr"])?;
    Some(RawDerivedColumn {
        name: m.required(d, "name", string),
        expr: m.required(d, "expr", string),
    })
}

fn feature(d: &mut Decoder<'_>, node: &Node, path: String) -> Option<RawFeature> {
    const KEYS: [&str; 6] = [
        "name",
        "aggregation",
        "column",
        "window",
        "n",
        "description",
    ];
    let m = d.mapping(node, path, &KEYS)?;
    Some(RawFeature {
        at: m.at().clone(),
        name: m.required(d, "name", string),
        aggregation: m.required(d, "aggregation", string),
        column: m.optional(d, "column", string),
        window: m.optional(d, "window", string),
        n: m.optional(d, "n", |d, n, p| d.integer(n, p)),
        description: m.optional(d, "description", string),
    })
}

fn service(d: &mut Decoder<'_>, node: &Node, path: String) -> Option<RawService> {
    let m = d.mapping(node, path, &["name", "description", "features"])?;
    Some(RawService {
        name: m.required(d, "name", string),
        description: m.optional(d, "description", string),
        features: m.required(d, "features", strings),
    })
}

fn model(d: &mut Decoder<'_>, node: &Node, path: String) -> Option<RawModel> {
    const KEYS: [&str; 7] = [
        "name",
        "description",
        "feature_service",
        "label",
        "task",
        "algorithm",
        "params",
    ];
    let m = d.mapping(node, path, &KEYS)?;
    let label = m
        .required_node(d, "label")
        .and_then(|(n, p)| d.mapping(n, p, &["source", "column"]));
    let (label_source, label_column) = match &label {
        Some(l) => (
            l.required(d, "source", string),
            l.required(d, "column", string),
        ),
        None => (None, None),
    };
    let params = m.optional(d, "params", |d, n, p| {
        let map = d.free_mapping(n, p)?;
        let at = map.at().clone();
        let value = map
            .entries(d)
            .into_iter()
            .filter_map(|(k, v)| d.number(v, k.at.path.clone()).map(|x| (k, x)))
            .collect();
        Some(Spanned { value, at })
    });
    Some(RawModel {
        at: m.at().clone(),
        name: m.required(d, "name", string),
        description: m.optional(d, "description", string),
        feature_service: m.required(d, "feature_service", string),
        label_source,
        label_column,
        task: m.optional(d, "task", string),
        algorithm: m.required(d, "algorithm", string),
        params,
    })
}
