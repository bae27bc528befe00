//! The registry on disk: versions, history, atomicity and corruption handling.

use super::{BASE, base_with, valid};
use chrono::{TimeZone, Utc};
use freshet_project::plan::plan;
use freshet_project::registry::{Registry, RegistryError};

fn at(second: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, second).unwrap()
}

#[test]
fn records_versions_in_order_with_history() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::for_project(dir.path());
    assert!(registry.latest().unwrap().is_none());
    assert!(registry.history().unwrap().is_empty());

    let first = valid(BASE);
    let v1 = registry
        .record(&first, &plan(None, &first), false, at(0))
        .unwrap();
    assert_eq!(v1.version, 1);
    let second = valid(&base_with("ttl: 7d", "ttl: 1d"));
    let p = plan(Some(&first), &second);
    let v2 = registry.record(&second, &p, false, at(1)).unwrap();
    assert_eq!(v2.version, 2);
    assert_ne!(v1.fingerprint, v2.fingerprint);

    let history = registry.history().unwrap();
    assert_eq!(
        history.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(history[1].spec, second);
    assert_eq!(history[1].summary, vec!["~ feature view driver_trips@v1"]);
    assert_eq!(registry.latest().unwrap().unwrap().spec, second);
}

#[test]
fn stray_temporary_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::for_project(dir.path());
    let spec = valid(BASE);
    registry
        .record(&spec, &plan(None, &spec), false, at(0))
        .unwrap();
    // What a crash between write and link leaves behind.
    std::fs::write(
        registry.dir().join(".freshet-interrupted.partial"),
        b"{\"half\":",
    )
    .unwrap();
    assert_eq!(registry.latest().unwrap().unwrap().version, 1);
    let v2 = registry
        .record(&spec, &plan(Some(&spec), &spec), false, at(1))
        .unwrap();
    assert_eq!(v2.version, 2);
}

#[test]
fn concurrent_applies_never_share_or_overwrite_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let spec = valid(BASE);
    let barrier = std::sync::Barrier::new(8);
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (spec, barrier, path) = (&spec, &barrier, dir.path());
                scope.spawn(move || {
                    barrier.wait();
                    Registry::for_project(path).record(spec, &plan(None, spec), false, at(i))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut won: Vec<u64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|v| v.version))
        .collect();
    won.sort_unstable();
    let before = won.len();
    won.dedup();
    assert_eq!(won.len(), before, "two applies claimed one version");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, RegistryError::Conflict(_)), "{e}");
        }
    }
    let history = Registry::for_project(dir.path()).history().unwrap();
    assert_eq!(history.iter().map(|v| v.version).collect::<Vec<_>>(), won);
}

#[test]
fn corrupt_version_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::for_project(dir.path());
    std::fs::create_dir_all(registry.dir()).unwrap();
    std::fs::write(registry.dir().join("v000001.json"), b"not json").unwrap();
    match registry.latest() {
        Err(e @ RegistryError::Corrupt { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("v000001.json") && text.contains("restore it"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
}
