//! `freshet init`: write the starter project.

use crate::output::{Failure, print_json, print_text};
use freshet_project::starter::write_starter;
use std::path::Path;

/// Whether `dir` holds the starter project exactly as `init` writes it.
fn is_untouched_starter(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(freshet_project::PROJECT_FILE))
        .is_ok_and(|text| text == freshet_project::starter::STARTER_PROJECT)
}

pub(crate) fn run(dir: &Path, json: bool) -> Result<(), Failure> {
    let written = match write_starter(dir) {
        Ok(written) => written,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && is_untouched_starter(dir) => {
            // Running the README's first command again is not a mistake: the project is there.
            if json {
                print_json(&serde_json::json!({ "ok": true, "files": [], "unchanged": true }));
            } else {
                print_text(&format!(
                    "{} already holds the starter project; nothing written\n",
                    dir.display()
                ));
            }
            return Ok(());
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Failure::Refused {
                message: format!("{} already holds a freshet.yaml", dir.display()),
                help: "choose another directory; init never overwrites a project you changed"
                    .to_owned(),
            });
        }
        Err(e) => {
            return Err(Failure::Other(anyhow::Error::new(e).context(format!(
                "writing the starter project into {}",
                dir.display()
            ))));
        }
    };
    if json {
        let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        print_json(&serde_json::json!({ "ok": true, "files": files }));
    } else {
        let mut text = String::new();
        for path in &written {
            text.push_str(&format!("created {}\n", path.display()));
        }
        let p = dir.display();
        text.push_str(&format!(
            "\nNext:\n  freshet validate -p {p}\n  freshet plan -p {p}\n  freshet apply -p {p}\n"
        ));
        print_text(&text);
    }
    Ok(())
}
