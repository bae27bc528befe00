//! Fuzz-style property tests: no input makes loading panic, and every diagnostic points inside the file.
//!
//! These stand in for coverage-guided fuzzing (which needs a nightly toolchain): arbitrary text, and
//! valid projects with random bytes deleted, duplicated or replaced, go through the whole loader.

use super::{BASE, env};
use freshet_project::{SourceFile, parse_project};
use proptest::prelude::*;

fn check(text: &str) {
    let file = SourceFile::new("freshet.yaml", text);
    if let Err(d) = parse_project(file, &env()) {
        assert!(!d.items().is_empty(), "an invalid project must say why");
        for item in d.items() {
            if let Some(at) = &item.at {
                assert!(
                    at.span.start <= at.span.end && at.span.end <= text.len(),
                    "span {:?} outside the file",
                    at.span
                );
                assert!(text.is_char_boundary(at.span.start) && text.is_char_boundary(at.span.end));
            }
            assert!(!item.message.is_empty());
        }
        let rendered = d.render();
        assert!(rendered.contains("error"));
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Duplicate(usize, usize),
    Replace(usize, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    let n = BASE.len();
    prop_oneof![
        (0..n, 1usize..12).prop_map(|(i, l)| Edit::Delete(i, l)),
        (0..n, 1usize..40).prop_map(|(i, l)| Edit::Duplicate(i, l)),
        (
            0..n,
            prop::sample::select(vec![
                ':', '-', ' ', '\n', '"', '\'', '{', '}', '[', ']', '$', '#', 'é', 'x', '0', '*'
            ])
        )
            .prop_map(|(i, c)| Edit::Replace(i, c)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let clamp = |i: usize| {
        let mut i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match *edit {
        Edit::Delete(i, l) => format!("{}{}", &text[..clamp(i)], &text[clamp(i + l)..]),
        Edit::Duplicate(i, l) => format!("{}{}", &text[..clamp(i + l)], &text[clamp(i)..]),
        Edit::Replace(i, c) => {
            let i = clamp(i);
            let rest = &text[i..];
            let skip = rest.chars().next().map_or(0, char::len_utf8);
            format!("{}{c}{}", &text[..i], &rest[skip..])
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn mutated_projects_never_panic(edits in prop::collection::vec(edit(), 1..4)) {
        let text = edits.iter().fold(BASE.to_owned(), |t, e| apply(&t, e));
        check(&text);
    }

    #[test]
    fn arbitrary_expressions_never_panic(expr in "[a-z_ ()'=<>!+*/%0-9.,-]{0,60}") {
        let text = BASE.replace("status = 'completed'", &expr.replace('"', ""));
        check(&text);
    }
}
