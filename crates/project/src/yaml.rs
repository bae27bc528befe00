//! Reading the YAML tree into spanned values, reporting every shape error on the way.
//!
//! `marked-yaml` gives a tree whose nodes know where they start. On top of it, [`Decoder`] offers typed
//! accessors (`string`, `integer`, `list`, ...) that record a diagnostic and return `None` instead of
//! failing, and [`MapReader`] checks a mapping's keys against the ones its section allows, suggesting the
//! closest for each unknown key. Decoding therefore always runs to the end of the file and reports all
//! shape errors in one pass; the semantic checks run afterwards on whatever could be read.

use crate::diagnostic::{At, Diagnostic, SourceFile, Span};
use crate::env::{Env, InterpolationError, Templated, interpolate};
use crate::suggest::did_you_mean;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoaderOptions, Node};

/// A decoded value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned<T> {
    /// The value.
    pub(crate) value: T,
    /// Its place in the file.
    pub(crate) at: At,
}

/// Decoding state: the file (for spans), the environment (for `${VAR}`) and the problems found so far.
pub(crate) struct Decoder<'a> {
    file: &'a SourceFile,
    env: &'a dyn Env,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// Parses YAML text into a marked tree, or a located syntax diagnostic.
pub(crate) fn parse(file: &SourceFile) -> Result<Node, Diagnostic> {
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    marked_yaml::parse_yaml_with_options(0, &file.text, options).map_err(|e| {
        use marked_yaml::LoadError as E;
        let (marker, message, help) = match &e {
            E::TopLevelMustBeMapping(m) => (
                *m,
                "the project file must be a mapping at the top level".to_owned(),
                "start with `project: <name>`; `freshet init` writes a starter file",
            ),
            E::DuplicateKey(inner) => (
                inner.key.span().start().copied().unwrap_or_else(file_start),
                format!("duplicate key `{}`", inner.key.as_str()),
                "each key may appear once per mapping; remove or merge the repeated one",
            ),
            E::ScanError(m, scan) => (
                *m,
                format!("invalid YAML: {}", scan.info()),
                "check indentation, colons and quoting near this position",
            ),
            E::UnexpectedAnchor(m) | E::UnexpectedTag(m) => (
                *m,
                "YAML anchors, aliases and tags are not supported in freshet.yaml".to_owned(),
                "write the value out in full",
            ),
            other => (
                marker_of(other),
                format!("invalid YAML: {other}"),
                "check the YAML syntax near this position",
            ),
        };
        let start = file.byte_of_char(marker.character());
        let at = At {
            span: start..line_end(&file.text, start),
            path: "(document)".to_owned(),
        };
        Diagnostic::at(&at, message).help(help)
    })
}

/// Where a marker-less error is reported: the first character of the file.
fn file_start() -> marked_yaml::Marker {
    marked_yaml::Marker::new(0, 0, 1, 1)
}

fn marker_of(e: &marked_yaml::LoadError) -> marked_yaml::Marker {
    use marked_yaml::LoadError as E;
    match e {
        E::TopLevelMustBeMapping(m)
        | E::TopLevelMustBeSequence(m)
        | E::UnexpectedAnchor(m)
        | E::MappingKeyMustBeScalar(m)
        | E::UnexpectedTag(m)
        | E::ScanError(m, _) => *m,
        E::DuplicateKey(inner) => inner.key.span().start().copied().unwrap_or_else(file_start),
    }
}

fn line_end(text: &str, from: usize) -> usize {
    text[from.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| from + i)
}

/// How a node is described in "expected X, found Y" messages.
fn describe(node: &Node) -> &'static str {
    match node {
        Node::Mapping(_) => "a mapping",
        Node::Sequence(_) => "a list",
        Node::Scalar(s) if is_null(s) => "nothing",
        Node::Scalar(_) => "a scalar",
    }
}

fn is_null(s: &MarkedScalarNode) -> bool {
    s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(file: &'a SourceFile, env: &'a dyn Env) -> Decoder<'a> {
        Decoder {
            file,
            env,
            diagnostics: Vec::new(),
        }
    }

    /// Records a problem.
    pub(crate) fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// The place of a node. Scalars span their text; mappings and lists span their first line.
    pub(crate) fn at(&self, node: &Node, path: String) -> At {
        let span = match node {
            Node::Scalar(s) => self.scalar_span(s),
            other => {
                let start = self.start_of(other.span().start());
                start..line_end(&self.file.text, start)
            }
        };
        At { span, path }
    }

    fn start_of(&self, marker: Option<&marked_yaml::Marker>) -> usize {
        marker.map_or(0, |m| self.file.byte_of_char(m.character()))
    }

    /// The bytes a scalar occupies: its quotes included, or up to the end of the line for block scalars.
    fn scalar_span(&self, s: &MarkedScalarNode) -> Span {
        let start = self.start_of(s.span().start());
        let text = &self.file.text[start.min(self.file.text.len())..];
        let end = match text.chars().next() {
            Some(q @ ('"' | '\'')) => closing_quote(text, q).map(|i| start + i + 1),
            _ if !s.as_str().is_empty() && text.starts_with(s.as_str()) => {
                Some(start + s.as_str().len())
            }
            _ => None,
        };
        start..end.unwrap_or_else(|| line_end(&self.file.text, start))
    }

    fn expected(&mut self, node: &Node, path: String, expected: &str, help: &str) {
        let at = self.at(node, path);
        let message = format!("expected {expected}, found {}", describe(node));
        self.report(Diagnostic::at(&at, message).help(help));
    }

    /// A mapping whose keys must all be in `known`; each unknown key is reported with a suggestion.
    pub(crate) fn mapping<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        known: &[&str],
    ) -> Option<MapReader<'n>> {
        let Node::Mapping(map) = node else {
            let keys = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>();
            self.expected(
                node,
                path,
                "a mapping",
                &format!("write keys such as {}", keys.join(", ")),
            );
            return None;
        };
        let reader = MapReader {
            map,
            at: self.at(node, path),
        };
        for (key, _) in map.iter() {
            if !known.contains(&key.as_str()) {
                let at = At {
                    span: self.scalar_span(key),
                    path: reader.at.field(key.as_str()),
                };
                let message = format!("unknown field `{}`", key.as_str());
                let help = did_you_mean(key.as_str(), known.iter().copied());
                self.report(Diagnostic::at(&at, message).help(help));
            }
        }
        Some(reader)
    }

    /// A mapping whose keys are data (schema columns, parameters), so any key is accepted.
    pub(crate) fn free_mapping<'n>(
        &mut self,
        node: &'n Node,
        path: String,
    ) -> Option<MapReader<'n>> {
        let Node::Mapping(map) = node else {
            self.expected(node, path, "a mapping", "write one `key: value` per line");
            return None;
        };
        Some(MapReader {
            map,
            at: self.at(node, path),
        })
    }

    /// Any non-null scalar, as text.
    pub(crate) fn string(&mut self, node: &Node, path: String) -> Option<Spanned<String>> {
        match node {
            Node::Scalar(s) if !is_null(s) => Some(Spanned {
                value: s.as_str().to_owned(),
                at: self.at(node, path),
            }),
            _ => {
                self.expected(node, path, "a string", "write a single value on this key");
                None
            }
        }
    }

    /// A string setting with `${VAR}` references substituted from the environment.
    pub(crate) fn templated(&mut self, node: &Node, path: String) -> Option<Spanned<Templated>> {
        let text = self.string(node, path)?;
        match interpolate(&text.value, self.env) {
            Ok(value) => Some(Spanned { value, at: text.at }),
            Err(errors) => {
                for error in errors {
                    self.report(interpolation_diagnostic(&text, error));
                }
                None
            }
        }
    }

    /// An unquoted integer.
    pub(crate) fn integer(&mut self, node: &Node, path: String) -> Option<Spanned<i64>> {
        self.coerced(node, path, "an integer", |s| s.as_i64())
    }

    /// An unquoted number.
    pub(crate) fn number(&mut self, node: &Node, path: String) -> Option<Spanned<f64>> {
        self.coerced(node, path, "a number", |s| {
            s.as_f64().filter(|f| f.is_finite())
        })
    }

    fn coerced<T>(
        &mut self,
        node: &Node,
        path: String,
        expected: &str,
        read: impl Fn(&MarkedScalarNode) -> Option<T>,
    ) -> Option<Spanned<T>> {
        if let Node::Scalar(s) = node
            && let Some(value) = read(s)
        {
            return Some(Spanned {
                value,
                at: self.at(node, path),
            });
        }
        let help = match node {
            Node::Scalar(s) if !s.may_coerce() => "remove the quotes".to_owned(),
            _ => format!("write {expected}"),
        };
        self.expected(node, path, expected, &help);
        None
    }

    /// A list whose items are read by `item`; a single scalar is not silently promoted to a list.
    pub(crate) fn list<T>(
        &mut self,
        node: &Node,
        path: String,
        mut item: impl FnMut(&mut Decoder<'a>, &Node, String) -> Option<T>,
    ) -> Option<Spanned<Vec<T>>> {
        let Node::Sequence(seq) = node else {
            self.expected(
                node,
                path,
                "a list",
                "write `[a, b]` or one `- item` per line",
            );
            return None;
        };
        let at = self.at(node, path);
        let value = seq
            .iter()
            .enumerate()
            .filter_map(|(i, n)| item(self, n, at.item(i)))
            .collect();
        Some(Spanned { value, at })
    }
}

/// Index of the quote closing a quoted scalar that starts at `text[0]`.
fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if quote == '"' => {
                chars.next();
            }
            c if c == quote => {
                // In single quotes, '' is an escaped quote.
                if quote == '\'' && chars.peek().map(|&(_, n)| n) == Some('\'') {
                    chars.next();
                } else {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

impl Spanned<String> {
    /// The place of `range` (bytes of the value) in the file, when the scalar is written so that value
    /// bytes map one-to-one onto file bytes (plain, or quoted without escapes); otherwise the whole scalar.
    pub(crate) fn at_offset(&self, range: std::ops::Range<usize>) -> At {
        let len = self.at.span.len();
        let offset = if len == self.value.len() {
            Some(0)
        } else if len == self.value.len() + 2 {
            Some(1)
        } else {
            None
        };
        let span = match offset {
            Some(o) if range.end <= self.value.len() => {
                let start = self.at.span.start + o;
                start + range.start..start + range.end
            }
            _ => self.at.span.clone(),
        };
        At {
            span,
            path: self.at.path.clone(),
        }
    }
}

fn interpolation_diagnostic(text: &Spanned<String>, error: InterpolationError) -> Diagnostic {
    let narrow = |range: std::ops::Range<usize>| text.at_offset(range);
    match error {
        InterpolationError::Missing { name, range } => Diagnostic::at(
            &narrow(range),
            format!("environment variable `{name}` is not set"),
        )
        .help(format!(
            "export {name}=... before running freshet, or write the value without `${{{name}}}`"
        )),
        InterpolationError::Malformed { range } => {
            Diagnostic::at(&narrow(range), "malformed `${...}` reference").help(
                "write `${NAME}` with a name of letters, digits and `_`, or `$$` for a literal `$`",
            )
        }
    }
}

/// A mapping being read, with the place of the mapping itself for "missing key" messages.
pub(crate) struct MapReader<'n> {
    map: &'n MarkedMappingNode,
    at: At,
}

impl<'n> MapReader<'n> {
    /// Where the mapping is.
    pub(crate) fn at(&self) -> &At {
        &self.at
    }

    /// The value under `key`, treating an explicit null (`key:` or `key: null`) as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&'n Node> {
        self.map.get_node(key).filter(|n| match n {
            Node::Scalar(s) => !is_null(s),
            _ => true,
        })
    }

    /// Whether the mapping has `key` with a non-null value (even one that failed to decode).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Reads an optional key.
    pub(crate) fn optional<'a, T>(
        &self,
        d: &mut Decoder<'a>,
        key: &str,
        read: impl FnOnce(&mut Decoder<'a>, &Node, String) -> Option<T>,
    ) -> Option<T> {
        self.get(key)
            .and_then(|node| read(d, node, self.at.field(key)))
    }

    /// Reads a required key, reporting it as missing if absent.
    pub(crate) fn required<'a, T>(
        &self,
        d: &mut Decoder<'a>,
        key: &str,
        read: impl FnOnce(&mut Decoder<'a>, &Node, String) -> Option<T>,
    ) -> Option<T> {
        let (node, path) = self.required_node(d, key)?;
        read(d, node, path)
    }

    /// The node under a required key with its path, reporting the key as missing if absent.
    pub(crate) fn required_node(
        &self,
        d: &mut Decoder<'_>,
        key: &str,
    ) -> Option<(&'n Node, String)> {
        let Some(node) = self.get(key) else {
            let message = format!("missing required field `{key}`");
            d.report(Diagnostic::at(&self.at, message).help(format!("add `{key}: ...` here")));
            return None;
        };
        Some((node, self.at.field(key)))
    }

    /// Every entry, keys as spanned strings, in file order.
    pub(crate) fn entries<'a>(&self, d: &Decoder<'a>) -> Vec<(Spanned<String>, &'n Node)> {
        self.map
            .iter()
            .map(|(key, value)| {
                let at = At {
                    span: d.scalar_span(key),
                    path: self.at.field(key.as_str()),
                };
                let key = Spanned {
                    value: key.as_str().to_owned(),
                    at,
                };
                (key, value)
            })
            .collect()
    }
}
