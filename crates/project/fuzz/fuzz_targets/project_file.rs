//! Any text as `freshet.yaml` validates or is refused with diagnostics, never a panic: every
//! diagnostic says what is wrong, its place lies inside the text, and the report the CLI prints can
//! be rendered. (The YAML, the SQL of filters and derived columns, durations and every section's
//! checks all run on the way.)
#![no_main]

use freshet_project::{SourceFile, parse_project};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|text: &str| {
    // `${VAR}` references resolve against this environment, so both the set and the unset case run.
    let env: HashMap<String, String> = HashMap::from([("SET".to_owned(), "value".to_owned())]);
    let Err(diagnostics) = parse_project(SourceFile::new("freshet.yaml", text), &env) else {
        return;
    };
    assert!(!diagnostics.items().is_empty(), "refused without a reason");
    for diagnostic in diagnostics.items() {
        assert!(!diagnostic.message.is_empty());
        if let Some(at) = &diagnostic.at {
            assert!(
                at.span.start <= at.span.end && at.span.end <= text.len(),
                "{at:?}"
            );
        }
    }
    let _ = diagnostics.render();
});
