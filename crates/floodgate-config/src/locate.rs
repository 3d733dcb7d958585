//! Finds where a node of a YAML document is, by path, so that errors found
//! after parsing (an unknown tier, a missing field) still name a line and a
//! column.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One step of a path into a YAML document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

impl From<&str> for Seg {
    fn from(k: &str) -> Seg {
        Seg::Key(k.to_string())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Seg {
        Seg::Index(i)
    }
}

/// Renders a path as `rules[1].limits[0].refill`.
pub fn render(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

enum Frame {
    Map {
        key: Option<String>,
        expect_key: bool,
    },
    Seq {
        index: usize,
    },
    /// A complex (non-scalar) mapping key: ignored with its contents.
    Skip,
}

struct Walker<'p> {
    target: &'p [Seg],
    frames: Vec<Frame>,
    found: Option<Marker>,
}

impl Walker<'_> {
    fn path_matches(&self) -> bool {
        let mut n = 0;
        for f in &self.frames {
            let seg = match f {
                Frame::Map { key: Some(k), .. } => Seg::Key(k.clone()),
                Frame::Seq { index } => Seg::Index(*index),
                _ => return false,
            };
            if self.target.get(n) != Some(&seg) {
                return false;
            }
            n += 1;
        }
        n == self.target.len()
    }

    fn value_done(&mut self) {
        match self.frames.last_mut() {
            Some(Frame::Map { key, expect_key }) => {
                *key = None;
                *expect_key = true;
            }
            Some(Frame::Seq { index }) => *index += 1,
            _ => {}
        }
    }
}

impl MarkedEventReceiver for Walker<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.found.is_some() {
            return;
        }
        if matches!(self.frames.last(), Some(Frame::Skip)) {
            match ev {
                Event::MappingStart(..) | Event::SequenceStart(..) => self.frames.push(Frame::Skip),
                Event::MappingEnd | Event::SequenceEnd => {
                    self.frames.pop();
                }
                _ => {}
            }
            return;
        }
        let is_node = matches!(
            ev,
            Event::Scalar(..)
                | Event::Alias(_)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
        );
        if is_node {
            if let Some(Frame::Map { key, expect_key }) = self.frames.last_mut() {
                if *expect_key {
                    *expect_key = false;
                    match ev {
                        Event::Scalar(v, ..) => *key = Some(v),
                        Event::Alias(_) => *key = Some(String::new()),
                        _ => self.frames.push(Frame::Skip),
                    }
                    return;
                }
            }
            // A value node: is it the one we look for?
            if (!self.frames.is_empty() || self.target.is_empty()) && self.path_matches() {
                self.found = Some(mark);
                return;
            }
        }
        match ev {
            Event::Scalar(..) | Event::Alias(_) => self.value_done(),
            Event::MappingStart(..) => self.frames.push(Frame::Map {
                key: None,
                expect_key: true,
            }),
            Event::SequenceStart(..) => self.frames.push(Frame::Seq { index: 0 }),
            Event::MappingEnd | Event::SequenceEnd => {
                self.frames.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

/// The 1-based line and column of the node at `path` in `source`, or of
/// its nearest ancestor that exists.
pub fn locate(source: &str, path: &[Seg]) -> Option<(usize, usize)> {
    for len in (0..=path.len()).rev() {
        let mut w = Walker {
            target: &path[..len],
            frames: Vec::new(),
            found: None,
        };
        let mut parser = Parser::new_from_str(source);
        if parser.load(&mut w, false).is_err() && w.found.is_none() {
            return None;
        }
        if let Some(m) = w.found {
            return Some((m.line(), m.col() + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "tiers: [free, pro]\nrules:\n  - name: a\n    limits:\n      - { algorithm: x, limit: 5 }\n  - name: b\n    tiers:\n      gold:\n        - limit: 1\n";

    #[test]
    fn finds_nodes_by_path() {
        let p = |segs: Vec<Seg>| locate(DOC, &segs);
        assert_eq!(p(vec!["tiers".into(), 1.into()]), Some((1, 15)));
        assert_eq!(
            p(vec![
                "rules".into(),
                0.into(),
                "limits".into(),
                0.into(),
                "limit".into()
            ]),
            Some((5, 32))
        );
        assert_eq!(
            p(vec!["rules".into(), 1.into(), "name".into()]),
            Some((6, 11))
        );
        assert_eq!(
            p(vec![
                "rules".into(),
                1.into(),
                "tiers".into(),
                "gold".into()
            ]),
            Some((9, 9))
        );
        // A missing field points at its parent.
        assert_eq!(
            p(vec!["rules".into(), 1.into(), "limits".into()]),
            Some((6, 9))
        );
        assert_eq!(
            render(&[
                Seg::Key("rules".into()),
                Seg::Index(2),
                Seg::Key("key".into())
            ]),
            "rules[2].key"
        );
    }
}
