//! A linear pre-scan that refuses flow collections (`[…]`, `{…}`) nested
//! deeper than [`MAX_DEPTH`], before the YAML parser sees the text: its
//! scanner takes time that grows with the square of the nesting (a 200 KB
//! file nested 100,000 levels kept it busy for a minute). Block nesting
//! needs its indentation, so a deep one is a large file anyway.

use crate::error::ConfigError;

/// The deepest nesting of flow collections a document may have; the
/// policy's own shapes need fewer than ten.
pub const MAX_DEPTH: usize = 64;

/// Refuses `text` when its flow collections nest deeper than
/// [`MAX_DEPTH`], naming the place.
pub fn check_depth(name: &str, text: &str) -> Result<(), ConfigError> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut prev = '\n';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
        }
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
                column += 1;
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '#' if prev.is_whitespace() => {
                    // A comment: to the end of the line.
                    for n in chars.by_ref() {
                        if n == '\n' {
                            line += 1;
                            column = 0;
                            break;
                        }
                    }
                    prev = '\n';
                    continue;
                }
                '"' | '\'' if prev.is_whitespace() || "[{,:-?".contains(prev) => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(ConfigError {
                            file: name.to_string(),
                            line,
                            column,
                            field: String::new(),
                            message: format!("collections nested deeper than {MAX_DEPTH} levels"),
                        });
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_where_it_passes_the_bound() {
        let deep = format!("rules: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let e = check_depth("d.yaml", &deep).unwrap_err();
        assert_eq!((e.line, e.column), (1, 7 + MAX_DEPTH + 1), "{e}");
        let ok = format!(
            "rules: {}{}\n",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert!(check_depth("d.yaml", &ok).is_ok());
        // Brackets in quotes and comments do not count.
        let quoted = format!(
            "a: \"{}\" # {}\nb: '{}'\n",
            "[".repeat(99),
            "{".repeat(99),
            "[".repeat(99)
        );
        assert!(check_depth("q.yaml", &quoted).is_ok());
        let map = format!("a: {}1{}\n", "{a: ".repeat(70), "}".repeat(70));
        assert_eq!(check_depth("m.yaml", &map).unwrap_err().line, 1);
    }
}
