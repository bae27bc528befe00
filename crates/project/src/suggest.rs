//! "Did you mean" suggestions for misspelt keys, names and keywords.

/// The closest candidate to `input`, if any is close enough to be a plausible typo.
///
/// Uses Jaro-Winkler similarity, which favours shared prefixes (`aggregaton` -> `aggregation`), with a
/// case-insensitive exact match always winning (`Sum` -> `sum`).
pub(crate) fn closest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = input.to_lowercase();
    let mut best: Option<(&str, f64)> = None;
    for candidate in candidates {
        let score = if candidate.to_lowercase() == lower {
            2.0
        } else {
            strsim::jaro_winkler(&lower, &candidate.to_lowercase())
        };
        if score >= 0.8 && best.is_none_or(|(_, s)| score > s) {
            best = Some((candidate, score));
        }
    }
    best.map(|(c, _)| c)
}

/// A help line: "did you mean `x`?" when a candidate is close, else the list of valid choices.
pub(crate) fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    match closest(input, candidates.clone()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => {
            let all: Vec<String> = candidates.into_iter().map(|c| format!("`{c}`")).collect();
            if all.is_empty() {
                "nothing of that kind is declared yet".to_owned()
            } else {
                format!("expected one of {}", all.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_matches_only() {
        let keys = ["aggregation", "column", "window", "name"];
        assert_eq!(closest("aggregaton", keys), Some("aggregation"));
        assert_eq!(closest("Window", keys), Some("window"));
        assert_eq!(closest("zzz", keys), None);
        assert_eq!(did_you_mean("summ", ["sum", "mean"]), "did you mean `sum`?");
        assert_eq!(did_you_mean("qq", ["a", "b"]), "expected one of `a`, `b`");
    }
}
