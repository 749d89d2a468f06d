//! YAML text → a tree of nodes that remember their line and column, so that every later error
//! can point at the offending key or value. Scalars are resolved with the YAML 1.2 core schema
//! (what js-yaml, and so upstream, uses): `yes`/`no`/`on`/`off` stay strings.
use super::ConfigError;
use std::collections::HashMap;
use std::path::Path;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// 1-based line and column of a node in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

/// One `key: value` pair of a mapping. Keys are always text (a scalar key such as `8080` is
/// kept as written).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Node {
    /// What the node is, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value of a scalar as text (strings, numbers and booleans), as YAML wrote it.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Plain JSON for data mew passes on untouched (capabilities, payload patterns).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.into()
    } else {
        f.to_string()
    }
}

/// Parse the first YAML document of `text`. An empty document is `Null`.
pub fn parse(file: &Path, text: &str) -> Result<Node, ConfigError> {
    let mut sink = Sink::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut sink, false) {
        let m = e.marker();
        return Err(at_marker(file, *m, format!("invalid YAML: {}", e.info())));
    }
    let mut builder = Builder {
        file,
        events: sink.events,
        next: 0,
        anchors: HashMap::new(),
    };
    builder.document()
}

fn pos_of(m: Marker) -> Pos {
    Pos {
        line: m.line(),
        column: m.col() + 1,
    }
}

fn at_marker(file: &Path, m: Marker, message: String) -> ConfigError {
    let p = pos_of(m);
    ConfigError::At {
        file: file.to_path_buf(),
        line: p.line,
        column: p.column,
        message,
    }
}

#[derive(Default)]
struct Sink {
    events: Vec<(Event, Marker)>,
}

impl MarkedEventReceiver for Sink {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.events.push((ev, mark));
    }
}

struct Builder<'a> {
    file: &'a Path,
    events: Vec<(Event, Marker)>,
    next: usize,
    anchors: HashMap<usize, Node>,
}

impl Builder<'_> {
    fn err(&self, pos: Pos, message: impl Into<String>) -> ConfigError {
        ConfigError::At {
            file: self.file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }

    fn take(&mut self) -> Option<(Event, Marker)> {
        let ev = self.events.get(self.next).cloned();
        self.next += 1;
        ev
    }

    fn document(&mut self) -> Result<Node, ConfigError> {
        // Skip StreamStart / DocumentStart; an empty stream is an empty document.
        loop {
            match self.events.get(self.next) {
                Some((Event::StreamStart, _)) | Some((Event::DocumentStart, _)) => self.next += 1,
                Some((Event::StreamEnd, m)) | Some((Event::DocumentEnd, m)) => {
                    return Ok(Node {
                        value: Value::Null,
                        pos: pos_of(*m),
                    })
                }
                None => {
                    return Ok(Node {
                        value: Value::Null,
                        pos: Pos { line: 1, column: 1 },
                    })
                }
                _ => return self.node(),
            }
        }
    }

    fn node(&mut self) -> Result<Node, ConfigError> {
        let Some((ev, mark)) = self.take() else {
            return Err(self.err(Pos::default(), "unexpected end of YAML"));
        };
        let pos = pos_of(mark);
        let (node, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let forced_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let value = if style == TScalarStyle::Plain && !forced_str {
                    resolve_plain(&text)
                } else {
                    Value::Str(text)
                };
                (Node { value, pos }, anchor)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => (n.clone(), 0),
                None => return Err(self.err(pos, "unknown YAML alias")),
            },
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    if matches!(self.events.get(self.next), Some((Event::SequenceEnd, _))) {
                        self.next += 1;
                        break;
                    }
                    items.push(self.node()?);
                }
                // The parser marks a block collection after its first item; the item is the
                // better place to point at.
                let pos = items.first().map_or(pos, |i| earlier(pos, i.pos));
                (
                    Node {
                        value: Value::Seq(items),
                        pos,
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, _) => (self.mapping(pos)?, anchor),
            other => return Err(self.err(pos, format!("unexpected YAML event {other:?}"))),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn mapping(&mut self, pos: Pos) -> Result<Node, ConfigError> {
        let mut entries: Vec<Entry> = Vec::new();
        // `<<` merges are applied after the explicit keys, which win.
        let mut merged: Vec<Entry> = Vec::new();
        loop {
            if matches!(self.events.get(self.next), Some((Event::MappingEnd, _))) {
                self.next += 1;
                break;
            }
            let key = self.node()?;
            let key_text = match &key.value {
                Value::Null => String::new(),
                Value::Seq(_) | Value::Map(_) => {
                    return Err(self.err(key.pos, "a mapping key must be a plain value"))
                }
                _ => key.scalar_text().unwrap_or_default(),
            };
            let value = self.node()?;
            if key_text == "<<" && key.value == Value::Str("<<".into()) {
                let sources = match &value.value {
                    Value::Map(_) => vec![value.clone()],
                    Value::Seq(items) => items.clone(),
                    _ => {
                        return Err(
                            self.err(value.pos, "`<<` expects a mapping or a list of mappings")
                        )
                    }
                };
                for src in sources {
                    let Value::Map(src_entries) = src.value else {
                        return Err(
                            self.err(src.pos, "`<<` expects a mapping or a list of mappings")
                        );
                    };
                    for e in src_entries {
                        if !merged.iter().any(|m| m.key == e.key) {
                            merged.push(e);
                        }
                    }
                }
                continue;
            }
            if entries.iter().any(|e| e.key == key_text) {
                return Err(self.err(key.pos, format!("duplicate key `{key_text}`")));
            }
            entries.push(Entry {
                key: key_text,
                key_pos: key.pos,
                value,
            });
        }
        let pos = entries.first().map_or(pos, |e| earlier(pos, e.key_pos));
        for e in merged {
            if !entries.iter().any(|x| x.key == e.key) {
                entries.push(e);
            }
        }
        Ok(Node {
            value: Value::Map(entries),
            pos,
        })
    }
}

fn earlier(a: Pos, b: Pos) -> Pos {
    if (b.line, b.column) < (a.line, a.column) {
        b
    } else {
        a
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(s) {
        return Value::Int(i);
    }
    if is_float(s) {
        if let Ok(f) = s.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(body, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn is_float(s: &str) -> bool {
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            a.chars().all(|c| c.is_ascii_digit())
                && b.chars().all(|c| c.is_ascii_digit())
                && !(a.is_empty() && b.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Node {
        parse(Path::new("t.yaml"), text).expect("parses")
    }

    #[test]
    fn positions_are_one_based() {
        let n = p("a:\n  b: 1\n  c: [x, 2]\n");
        let top = n.as_map().unwrap();
        assert_eq!(top[0].key_pos, Pos { line: 1, column: 1 });
        let inner = top[0].value.as_map().unwrap();
        assert_eq!(inner[0].key_pos, Pos { line: 2, column: 3 });
        assert_eq!(inner[0].value.pos, Pos { line: 2, column: 6 });
        assert_eq!(inner[1].value.pos, Pos { line: 3, column: 6 });
        let Value::Seq(items) = &inner[1].value.value else {
            panic!("seq")
        };
        assert_eq!(
            items[1].pos,
            Pos {
                line: 3,
                column: 10
            }
        );
        assert_eq!(items[1].value, Value::Int(2));
    }

    #[test]
    fn core_schema() {
        assert_eq!(resolve_plain("yes"), Value::Str("yes".into()));
        assert_eq!(resolve_plain("no"), Value::Str("no".into()));
        assert_eq!(resolve_plain("True"), Value::Bool(true));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("0x1f"), Value::Int(31));
        assert_eq!(resolve_plain("-12"), Value::Int(-12));
        assert_eq!(resolve_plain("0.5"), Value::Float(0.5));
        assert_eq!(resolve_plain("1e3"), Value::Float(1000.0));
        assert_eq!(resolve_plain("512m"), Value::Str("512m".into()));
        assert_eq!(resolve_plain("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(
            p("a: '12'").as_map().unwrap()[0].value.value,
            Value::Str("12".into())
        );
        assert_eq!(
            p("a: !!str 12").as_map().unwrap()[0].value.value,
            Value::Str("12".into())
        );
    }

    #[test]
    fn duplicate_key_is_an_error() {
        let e = parse(Path::new("t.yaml"), "a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.to_string(), "t.yaml:3:1: duplicate key `a`");
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse(Path::new("t.yaml"), "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.to_string().starts_with("t.yaml:"), "{e}");
        assert!(e.to_string().contains("invalid YAML"), "{e}");
    }

    #[test]
    fn anchors_and_merge_keys() {
        let n = p("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n");
        let other = n.as_map().unwrap()[1].value.as_map().unwrap();
        let keys: Vec<_> = other
            .iter()
            .map(|e| (e.key.as_str(), e.value.value.clone()))
            .collect();
        assert_eq!(keys, vec![("y", Value::Int(3)), ("x", Value::Int(1))]);
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(p("").value, Value::Null);
        assert_eq!(p("# only a comment\n").value, Value::Null);
    }
}
