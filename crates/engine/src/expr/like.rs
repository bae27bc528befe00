//! SQL `LIKE` / `ILIKE` patterns, compiled once and matched per row.
//!
//! `%` matches any run of characters, `_` exactly one, and `\` escapes the next character. Matching is the
//! classic greedy two-pointer walk with backtracking to the last `%`, linear in practice and never
//! recursive, so a hostile pattern cannot blow the stack.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyOne,
    AnyMany,
}

/// A compiled `LIKE` pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LikePattern {
    tokens: Vec<Token>,
    case_insensitive: bool,
}

impl LikePattern {
    /// Compiles `pattern`; `case_insensitive` gives `ILIKE`. A trailing lone `\` matches itself.
    pub fn new(pattern: &str, case_insensitive: bool) -> LikePattern {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let token = match c {
                '%' => Token::AnyMany,
                '_' => Token::AnyOne,
                '\\' => Token::Char(chars.next().unwrap_or('\\')),
                other => Token::Char(other),
            };
            let token = match token {
                Token::Char(c) if case_insensitive => Token::Char(fold(c)),
                t => t,
            };
            if !(token == Token::AnyMany && tokens.last() == Some(&Token::AnyMany)) {
                tokens.push(token);
            }
        }
        LikePattern {
            tokens,
            case_insensitive,
        }
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = if self.case_insensitive {
            text.chars().map(fold).collect()
        } else {
            text.chars().collect()
        };
        let (mut t, mut p) = (0, 0);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::AnyMany) => {
                    backtrack = Some((p, t));
                    p += 1;
                }
                Some(Token::AnyOne) => {
                    p += 1;
                    t += 1;
                }
                Some(Token::Char(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match backtrack {
                    Some((star, matched)) => {
                        p = star + 1;
                        t = matched + 1;
                        backtrack = Some((star, matched + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|tok| *tok == Token::AnyMany)
    }
}

/// Simple case folding for ILIKE; full Unicode folding would need tables this crate does not carry.
fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(p: &str, t: &str) -> bool {
        LikePattern::new(p, false).matches(t)
    }

    #[test]
    fn wildcards() {
        assert!(like("abc", "abc"));
        assert!(!like("abc", "abcd"));
        assert!(like("a%", "a"));
        assert!(like("a%c", "abbbc"));
        assert!(like("%b%", "abc"));
        assert!(!like("%x%", "abc"));
        assert!(like("a_c", "abc"));
        assert!(!like("a_c", "ac"));
        assert!(like("%", ""));
        assert!(like("%a%a%a", "aaaa"));
        assert!(!like("%a%a%b", "aaaa"));
    }

    #[test]
    fn escapes_and_case() {
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(LikePattern::new("ÉTÉ%", true).matches("été 2024"));
        assert!(!LikePattern::new("ÉTÉ%", false).matches("été 2024"));
    }
}
