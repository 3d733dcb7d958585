//! CSV as `clients import` reads it and `clients export` writes it
//! (RFC 4180: comma-separated, fields in double quotes when they hold a
//! comma, a quote or a line break, a quote inside doubled).

/// The rows of `text`, each a list of fields; a line's error names it.
pub fn parse(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            '"' => return Err(format!("line {line}: a quote inside an unquoted field")),
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                line += 1;
                any = false;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(format!("line {line}: a quoted field is not closed"));
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// One field, quoted when it must be.
pub fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_quoted_or_not_and_lines_of_either_ending() {
        let rows = parse("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n,last\n").unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["a".to_string(), "b".into()],
                vec!["x, y".into(), "say \"hi\"".into()],
                vec!["".into(), "last".into()],
            ]
        );
        assert_eq!(parse("no,newline").unwrap(), vec![vec!["no", "newline"]]);
        assert!(parse("\"open").unwrap_err().contains("line 1"));
        assert!(parse("a\nb\"c").unwrap_err().contains("line 2"));
    }

    #[test]
    fn written_fields_read_back() {
        for s in ["plain", "a,b", "q\"uote", "two\nlines", ""] {
            let line = format!("{},end\n", field(s));
            assert_eq!(
                parse(&line).unwrap(),
                vec![vec![s.to_string(), "end".into()]]
            );
        }
    }
}
