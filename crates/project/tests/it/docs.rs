//! Every complete `yaml` example in docs/ must validate, so the reference cannot drift from the code.

use super::valid;
use std::path::Path;

fn yaml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (&mut current, line.trim_start()) {
            (None, "```yaml") => current = Some((i + 1, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn project_file_reference_examples_validate() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/project-file.md");
    let markdown = std::fs::read_to_string(&docs).expect("docs/project-file.md exists");
    let blocks = yaml_blocks(&markdown);
    assert!(blocks.len() >= 5, "expected the reference to hold examples");
    for (line, text) in blocks {
        eprintln!("checking the example at docs/project-file.md:{line}");
        valid(&text);
    }
}

#[test]
fn example_projects_validate() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).expect("examples/ exists") {
        let file = entry.unwrap().path().join("freshet.yaml");
        if file.exists() {
            let text = std::fs::read_to_string(&file).unwrap();
            eprintln!("checking {}", file.display());
            valid(&text);
            checked += 1;
        }
    }
    assert!(checked >= 1, "no example projects found");
}
