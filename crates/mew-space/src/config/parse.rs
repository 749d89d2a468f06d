//! YAML text → a tree of nodes that remember their line and column, so that every later error
//! can point at the offending key or value. Scalars are resolved with the YAML 1.2 core schema
//! (what js-yaml, and so upstream, uses): `yes`/`no`/`on`/`off` stay strings.
//!
//! The grammar is libyaml's (libyaml-safer), the reader PyYAML and serde_yaml share; it accepts
//! flow collections closed at their key's indentation, as js-yaml does. Every space.yaml reader
//! in mew (runner, gateway, `init`) goes through `parse`.
use super::ConfigError;
use libyaml_safer::{Event, EventData, Mark, Parser, ScalarStyle};
use std::collections::{HashMap, HashSet};
use std::path::Path;

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

/// Largest space.yaml mew reads. Real files are a few KB; the bound keeps a stray or generated
/// file from holding `up` for long (reading is linear, about 0.1 s per MiB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Values that alias copies may add in total: a document of nested aliases ("billion laughs")
/// would otherwise expand exponentially.
const MAX_ALIAS_NODES: usize = 1_000_000;

/// Deeper nesting than any real file has; it also keeps the recursive builder off the stack limit.
const MAX_DEPTH: usize = 200;

/// The one-line refusal of a file over `MAX_FILE_BYTES`.
pub fn too_big(file: &Path, size: u64) -> ConfigError {
    ConfigError::Invalid(format!(
        "{}: file is {size} bytes; space.yaml files over {} MiB ({MAX_FILE_BYTES} bytes) are refused",
        file.display(),
        MAX_FILE_BYTES / (1024 * 1024)
    ))
}

/// A space.yaml's text, refusing files over `MAX_FILE_BYTES` before reading them.
pub fn read_limited(path: &Path) -> Result<String, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.is_dir() {
        return Err(ConfigError::Invalid(format!(
            "{} is a directory, not a space.yaml file",
            path.display()
        )));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big(path, meta.len()));
    }
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => ConfigError::Invalid(format!(
            "{} is not UTF-8 text (a binary file?); space.yaml must be UTF-8",
            path.display()
        )),
        _ => read_err(e),
    })
}

/// Parse the first YAML document of `text`. An empty document is `Null`.
pub fn parse(file: &Path, text: &str) -> Result<Node, ConfigError> {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(file, text.len() as u64));
    }
    let mut parser = Parser::new();
    parser.set_input(text.as_bytes());
    let mut builder = Builder {
        file,
        text,
        parser,
        anchors: HashMap::new(),
        alias_nodes: 0,
        nodes: 0,
        depth: 0,
    };
    builder.document()
}

fn pos_of(m: Mark) -> Pos {
    Pos {
        line: m.line as usize + 1,
        column: m.column as usize + 1,
    }
}

/// Line and column of a byte offset (for reader errors, which carry only an offset).
fn pos_at_offset(text: &str, offset: usize) -> Pos {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    Pos {
        line: before.iter().filter(|&&b| b == b'\n').count() + 1,
        column: String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1,
    }
}

struct Builder<'a> {
    file: &'a Path,
    text: &'a str,
    parser: Parser<&'a [u8]>,
    /// Anchored nodes with their size in values, for the alias budget.
    anchors: HashMap<String, (Node, usize)>,
    alias_nodes: usize,
    /// Values built so far (alias copies included).
    nodes: usize,
    depth: usize,
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

    fn yaml_err(&self, e: libyaml_safer::Error) -> ConfigError {
        let pos = match e.problem_mark() {
            Some(m) => pos_of(m),
            None => {
                // Reader errors (a control character, say) only know the byte offset, and only
                // in their text: `… (offset N, value V)`.
                let text = e.to_string();
                let offset = text
                    .split_once("(offset ")
                    .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|n| n.parse::<usize>().ok());
                offset.map_or(Pos { line: 1, column: 1 }, |o| pos_at_offset(self.text, o))
            }
        };
        let message = match (e.context(), e.context_mark()) {
            (Some(c), Some(m)) => format!(
                "invalid YAML: {} ({c} at line {} column {})",
                e.problem(),
                m.line + 1,
                m.column + 1
            ),
            _ => format!("invalid YAML: {}", e.problem()),
        };
        self.err(pos, message)
    }

    fn next_event(&mut self) -> Result<Event, ConfigError> {
        self.parser.parse().map_err(|e| self.yaml_err(e))
    }

    fn document(&mut self) -> Result<Node, ConfigError> {
        // Skip StreamStart / DocumentStart; an empty stream is an empty document.
        let root = loop {
            let ev = self.next_event()?;
            match ev.data {
                EventData::StreamStart { .. } | EventData::DocumentStart { .. } => {}
                EventData::StreamEnd => {
                    return Ok(Node {
                        value: Value::Null,
                        pos: pos_of(ev.start_mark),
                    })
                }
                EventData::DocumentEnd { .. } => {
                    break Node {
                        value: Value::Null,
                        pos: pos_of(ev.start_mark),
                    }
                }
                _ => break self.node(ev)?,
            }
        };
        // One document, as js-yaml's `load` (upstream) insists: a second one would be silently
        // dropped, and whatever the user put there would never take effect.
        loop {
            let ev = self.next_event()?;
            match ev.data {
                EventData::DocumentEnd { .. } => {}
                EventData::StreamEnd => return Ok(root),
                _ => {
                    return Err(self.err(
                        pos_of(ev.start_mark),
                        "a second YAML document starts here; space.yaml holds exactly one",
                    ))
                }
            }
        }
    }

    /// The node that starts with `ev` (its end events are read too).
    fn node(&mut self, ev: Event) -> Result<Node, ConfigError> {
        let pos = pos_of(ev.start_mark);
        self.nodes += 1;
        let first = self.nodes;
        let (node, anchor) = match ev.data {
            EventData::Scalar {
                anchor,
                tag,
                value,
                style,
                ..
            } => {
                let forced_str = tag.as_deref() == Some("tag:yaml.org,2002:str");
                let value = if style == ScalarStyle::Plain && !forced_str {
                    resolve_plain(&value)
                } else {
                    Value::Str(value)
                };
                (Node { value, pos }, anchor)
            }
            EventData::Alias { anchor } => {
                let Some((n, size)) = self.anchors.get(&anchor) else {
                    return Err(self.err(pos, format!("unknown YAML alias `*{anchor}`")));
                };
                self.alias_nodes += size;
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(self.err(
                        pos,
                        format!("YAML aliases expand to more than {MAX_ALIAS_NODES} values"),
                    ));
                }
                self.nodes += size;
                return Ok(Node {
                    value: n.value.clone(),
                    pos,
                });
            }
            EventData::SequenceStart { anchor, .. } => {
                self.enter(pos)?;
                let mut items = Vec::new();
                loop {
                    let ev = self.next_event()?;
                    if ev.data == EventData::SequenceEnd {
                        break;
                    }
                    items.push(self.node(ev)?);
                }
                self.depth -= 1;
                // A block sequence may be marked before its first item (after a key's
                // newline); the item is the better place to point at.
                let pos = items.first().map_or(pos, |i| earlier(pos, i.pos));
                (
                    Node {
                        value: Value::Seq(items),
                        pos,
                    },
                    anchor,
                )
            }
            EventData::MappingStart { anchor, .. } => {
                self.enter(pos)?;
                let node = self.mapping(pos)?;
                self.depth -= 1;
                (node, anchor)
            }
            other => return Err(self.err(pos, format!("unexpected YAML event {other:?}"))),
        };
        if let Some(a) = anchor {
            let size = self.nodes - first + 1;
            self.anchors.insert(a, (node.clone(), size));
        }
        Ok(node)
    }

    fn enter(&mut self, pos: Pos) -> Result<(), ConfigError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(pos, format!("YAML nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn mapping(&mut self, pos: Pos) -> Result<Node, ConfigError> {
        let mut entries: Vec<Entry> = Vec::new();
        // Keys seen so far: a set keeps the duplicate check linear in the number of keys.
        let mut seen: HashSet<String> = HashSet::new();
        // `<<` merges are applied after the explicit keys, which win; among merged mappings
        // the first to give a key wins.
        let mut merged: Vec<Entry> = Vec::new();
        let mut merged_seen: HashSet<String> = HashSet::new();
        loop {
            let ev = self.next_event()?;
            if ev.data == EventData::MappingEnd {
                break;
            }
            let key = self.node(ev)?;
            let key_text = match &key.value {
                Value::Null => String::new(),
                Value::Seq(_) | Value::Map(_) => {
                    return Err(self.err(key.pos, "a mapping key must be a plain value"))
                }
                _ => key.scalar_text().unwrap_or_default(),
            };
            let ev = self.next_event()?;
            let value = self.node(ev)?;
            if key_text == "<<" && key.value == Value::Str("<<".into()) {
                let sources = match value.value {
                    Value::Map(_) => vec![value],
                    Value::Seq(items) => items,
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
                        if merged_seen.insert(e.key.clone()) {
                            merged.push(e);
                        }
                    }
                }
                continue;
            }
            if !seen.insert(key_text.clone()) {
                return Err(self.err(key.pos, format!("duplicate key `{key_text}`")));
            }
            entries.push(Entry {
                key: key_text,
                key_pos: key.pos,
                value,
            });
        }
        let pos = entries.first().map_or(pos, |e| earlier(pos, e.key_pos));
        entries.extend(merged.into_iter().filter(|e| !seen.contains(&e.key)));
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

#[cfg(test)]
mod libyaml_tests {
    use super::*;

    fn p(text: &str) -> Node {
        parse(Path::new("t.yaml"), text).expect("parses")
    }

    #[test]
    fn flow_sequence_closed_at_the_key_indentation() {
        let n = p("participants:\n  echo-agent:\n    args: [\n      \"./agent.cjs\",\n      \"--gateway\", \"ws://localhost:${PORT}\"\n    ]\n");
        assert_eq!(
            n.to_json(),
            serde_json::json!({"participants": {"echo-agent": {"args": ["./agent.cjs", "--gateway", "ws://localhost:${PORT}"]}}})
        );
    }

    #[test]
    fn bom_and_crlf_keep_positions() {
        let n = p("\u{feff}a: 1\r\nb:\r\n  c: x\r\n");
        let top = n.as_map().unwrap();
        assert_eq!(top[0].key_pos, Pos { line: 1, column: 1 });
        let inner = top[1].value.as_map().unwrap();
        assert_eq!(inner[0].key_pos, Pos { line: 3, column: 3 });
        assert_eq!(inner[0].value.value, Value::Str("x".into()));
    }

    #[test]
    fn control_character_error_has_a_position() {
        let e = parse(Path::new("t.yaml"), "a: 1\nb: \u{7}x\n").unwrap_err();
        assert!(e.to_string().starts_with("t.yaml:2:"), "{e}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            s.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let e = parse(Path::new("t.yaml"), &s).unwrap_err();
        assert!(e.to_string().contains("aliases expand"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = format!("a: {}{}\n", "[".repeat(1000), "]".repeat(1000));
        let e = parse(Path::new("t.yaml"), &s).unwrap_err();
        assert!(e.to_string().contains("nested deeper"), "{e}");
    }
}
