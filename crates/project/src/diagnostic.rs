//! Diagnostics: every problem found in a project, with where it is and how to fix it.
//!
//! Validation never stops at the first mistake. Each phase pushes [`Diagnostic`]s into one list, which is
//! sorted by position and rendered either for people (source excerpt with a caret, the field path, a help
//! line) or as JSON for tools. A diagnostic without a location is still allowed (a missing file has no
//! line), but every problem inside `freshet.yaml` carries its `file:line:column` and field path.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;
use serde::Serialize;
use std::fmt;
use std::ops::Range;

/// The text of a project file, kept so messages can quote it and byte offsets can become lines.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown to the user.
    pub name: String,
    /// The file's contents.
    pub text: String,
    /// Byte offset of each character, plus one past the end: marked-yaml counts characters, spans are bytes.
    char_offsets: Vec<usize>,
}

impl SourceFile {
    /// Wraps a file's text under the name messages should show.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut char_offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        char_offsets.push(text.len());
        SourceFile {
            name: name.into(),
            text,
            char_offsets,
        }
    }

    /// Byte offset of the character at `index` (clamped to the end of the file).
    pub fn byte_of_char(&self, index: usize) -> usize {
        self.char_offsets
            .get(index)
            .copied()
            .unwrap_or(self.text.len())
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, byte: usize) -> (usize, usize) {
        let byte = byte.min(self.text.len());
        let before = &self.text[..self.text.floor_char_boundary(byte)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }
}

/// A byte range in the project file.
pub type Span = Range<usize>;

/// Where a value sits: its byte span and its field path (`feature_views[0].features[2].window`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    /// Byte range in the file.
    pub span: Span,
    /// Field path from the document root.
    pub path: String,
}

impl At {
    /// The path of a child field.
    pub fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The path of a sequence item.
    pub fn item(&self, index: usize) -> String {
        format!("{}[{index}]", self.path)
    }
}

/// One problem: what is wrong, where, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, lower-case, naming the offending value.
    pub message: String,
    /// Where, if inside the project file.
    pub at: Option<At>,
    /// How to fix it, when that is knowable.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem at a place in the project file.
    pub fn at(at: &At, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            at: Some(at.clone()),
            help: None,
        }
    }

    /// A problem with no place in the file (for example, the file is missing).
    pub fn global(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            at: None,
            help: None,
        }
    }

    /// Adds the fix.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
}

/// The machine-readable form of a diagnostic (`--json`).
#[derive(Debug, Serialize)]
pub struct DiagnosticJson<'a> {
    /// Path of the project file.
    pub file: &'a str,
    /// 1-based line, if located.
    pub line: Option<usize>,
    /// 1-based column, if located.
    pub column: Option<usize>,
    /// Field path, if located.
    pub path: Option<&'a str>,
    /// What is wrong.
    pub message: &'a str,
    /// How to fix it.
    pub help: Option<&'a str>,
}

/// All problems found in one project file, sorted by position.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    file: SourceFile,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Collects `items` about `file`, sorted by position (unlocated ones first), duplicates removed.
    pub fn new(file: SourceFile, mut items: Vec<Diagnostic>) -> Diagnostics {
        items.sort_by_key(|d| d.at.as_ref().map(|a| (a.span.start, a.span.end)));
        items.dedup();
        Diagnostics { file, items }
    }

    /// The problems, in file order.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// The file they are about.
    pub fn file(&self) -> &SourceFile {
        &self.file
    }

    /// One JSON object per problem.
    pub fn to_json(&self) -> Vec<DiagnosticJson<'_>> {
        self.items
            .iter()
            .map(|d| {
                let position = d.at.as_ref().map(|a| self.file.line_column(a.span.start));
                DiagnosticJson {
                    file: &self.file.name,
                    line: position.map(|p| p.0),
                    column: position.map(|p| p.1),
                    path: d.at.as_ref().map(|a| a.path.as_str()),
                    message: &d.message,
                    help: d.help.as_deref(),
                }
            })
            .collect()
    }

    /// The human rendering: each problem with a quoted excerpt, its field path and its fix.
    pub fn render(&self) -> String {
        let files = SimpleFile::new(self.file.name.as_str(), self.file.text.as_str());
        let config = term::Config::default();
        let mut out = String::new();
        for d in &self.items {
            let mut report = Report::error().with_message(&d.message);
            let mut notes = Vec::new();
            if let Some(at) = &d.at {
                let end = at.span.end.max(at.span.start + 1).min(self.file.text.len());
                let start = at.span.start.min(end);
                report = report.with_labels(vec![Label::primary((), start..end)]);
                notes.push(format!("in {}", at.path));
            } else {
                notes.push(format!("in {}", self.file.name));
            }
            if let Some(help) = &d.help {
                notes.push(format!("help: {help}"));
            }
            report = report.with_notes(notes);
            if term::emit_to_string(&mut out, &config, &files, &report).is_err() {
                // The span lies outside the text (only possible for an empty file); fall back to one line.
                out.push_str(&format!("error: {}\n", d.message));
            }
        }
        let n = self.items.len();
        out.push_str(&format!(
            "{n} error{} in {}\n",
            if n == 1 { "" } else { "s" },
            self.file.name
        ));
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_columns_count_characters() {
        let file = SourceFile::new("f.yaml", "a: é\nbb: x\n");
        assert_eq!(file.line_column(0), (1, 1));
        assert_eq!(file.line_column(3), (1, 4));
        assert_eq!(file.line_column(file.byte_of_char(4)), (1, 5));
        assert_eq!(file.line_column(7), (2, 2));
    }

    #[test]
    fn renders_location_path_and_help() {
        let file = SourceFile::new("freshet.yaml", "project: 1bad\n");
        let at = At {
            span: 9..13,
            path: "project".into(),
        };
        let diags = Diagnostics::new(
            file,
            vec![Diagnostic::at(&at, "bad name").help("start with a letter")],
        );
        let text = diags.render();
        assert!(text.contains("freshet.yaml:1:10"), "{text}");
        assert!(text.contains("in project"), "{text}");
        assert!(text.contains("help: start with a letter"), "{text}");
        assert!(text.ends_with("1 error in freshet.yaml\n"), "{text}");
    }
}
