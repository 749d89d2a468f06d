//! YAML node tree → validated `Space`. Every check reports the exact place in the file.
use super::model::*;
use super::parse::{self, Entry, Node, Pos, Value};
use super::schema;
use super::values;
use super::ConfigError;
use crate::model::LogConfig;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Things from outside the file that change how it is read.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--space-dir`; otherwise the directory holding `.mew/` (or the file itself).
    pub space_dir: Option<PathBuf>,
    /// `--space-id` / `MEW_SPACE_ID`, which wins over `space.id`.
    pub space_id: Option<String>,
}

/// Longest `stop_grace_period`: one day.
const MAX_STOP_GRACE_MS: u64 = 24 * 3_600_000;

/// Read and validate a space.yaml. Paths in the result are absolute (symlinks resolved), so that
/// the space directory is the same string on every run.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Space, ConfigError> {
    let text = parse::read_limited(path)?;
    let file = canonical(path)?;
    let opts = LoadOptions {
        space_dir: match &opts.space_dir {
            Some(d) => Some(canonical(d)?),
            None => None,
        },
        space_id: opts.space_id.clone(),
    };
    parse_space(&file, &text, &opts)
}

fn canonical(p: &Path) -> Result<PathBuf, ConfigError> {
    std::fs::canonicalize(p).map_err(|source| ConfigError::Read {
        path: p.to_path_buf(),
        source,
    })
}

/// The space directory a config file belongs to: `<dir>` for `<dir>/.mew/space.yaml`, else the
/// file's own directory.
pub fn space_dir_of(file: &Path) -> PathBuf {
    let parent = file.parent().unwrap_or(Path::new("/"));
    if parent.file_name().is_some_and(|n| n == ".mew") {
        parent.parent().unwrap_or(parent).to_path_buf()
    } else {
        parent.to_path_buf()
    }
}

/// Validate space.yaml text. Pure: `file` (absolute) is only used for messages and paths.
pub fn parse_space(file: &Path, text: &str, opts: &LoadOptions) -> Result<Space, ConfigError> {
    let root = parse::parse(file, text)?;
    let dir = opts.space_dir.clone().unwrap_or_else(|| space_dir_of(file));
    let r = Reader { file, dir: &dir };
    let top = match &root.value {
        Value::Map(m) => m.as_slice(),
        Value::Null => return Err(r.err(root.pos, "space.yaml is empty")),
        _ => {
            return Err(r.err(
                root.pos,
                format!("space.yaml must be a mapping, found {}", root.kind_name()),
            ))
        }
    };
    r.check_keys(top, schema::TOP, "at the top level")?;
    let section = r.space_section(&root, get(top, "space"), opts)?;
    let defaults = match get(top, "defaults") {
        Some(n) => r.defaults(n)?,
        None => Defaults::default(),
    };
    let gateway = match get(top, "gateway") {
        Some(n) => r.gateway_settings(n)?,
        None => GatewaySettings::default(),
    };
    let gateway_logging = match get(top, "gateway_logging") {
        Some(n) => r.gateway_logging(n)?,
        None => GatewayLogging::default(),
    };
    if let Some(n) = get(top, "cleanup") {
        r.map(n, "`cleanup`")?;
    }
    let pnode =
        get(top, "participants").ok_or_else(|| r.err(root.pos, "missing `participants`"))?;
    let participants = r.participants(pnode, &defaults)?;
    let warnings = r.warnings(top, &participants);

    Ok(Space {
        file: file.to_path_buf(),
        dir,
        id: section.id,
        file_id: section.file_id,
        name: section.name,
        description: section.description,
        default_participant: section.default_participant,
        network_mode: section.network_mode,
        allow_anonymous_joins: section.allow_anonymous_joins,
        participants,
        defaults,
        gateway,
        gateway_logging,
        warnings,
    })
}

/// What the `space:` section holds.
struct SpaceSection {
    id: String,
    file_id: Option<String>,
    name: String,
    description: Option<String>,
    default_participant: Option<String>,
    network_mode: NetworkMode,
    allow_anonymous_joins: bool,
}

/// What an id is to the engine: case and `-`/`_` do not count.
fn identity(id: &str) -> String {
    id.to_ascii_lowercase().replace('-', "_")
}

/// The value under `key`, treating `key:` with nothing after it as absent.
fn get<'a>(entries: &'a [Entry], key: &str) -> Option<&'a Node> {
    entries
        .iter()
        .find(|e| e.key == key)
        .map(|e| &e.value)
        .filter(|n| n.value != Value::Null)
}

struct Reader<'a> {
    file: &'a Path,
    /// The space directory, which relative bind sources start from.
    dir: &'a Path,
}

impl Reader<'_> {
    fn err(&self, pos: Pos, message: impl Into<String>) -> ConfigError {
        ConfigError::At {
            file: self.file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }

    fn expected(&self, node: &Node, what: &str, expected: &str) -> ConfigError {
        let found = match node.scalar_text() {
            Some(t) => format!("{} (`{t}`)", node.kind_name()),
            None => node.kind_name().to_string(),
        };
        self.err(
            node.pos,
            format!("{what} must be {expected}, found {found}"),
        )
    }

    fn space_section(
        &self,
        root: &Node,
        space: Option<&Node>,
        opts: &LoadOptions,
    ) -> Result<SpaceSection, ConfigError> {
        let m = match space {
            Some(n) => self.map(n, "`space`")?,
            None => &[],
        };
        self.check_keys(m, schema::SPACE, "in `space`")?;
        // space.yaml's own id, even when --space-id overrides it (it decides the log layout).
        let file_id = get(m, "id").and_then(|n| self.scalar_string(n, "`space.id`").ok());
        let id = match (&opts.space_id, get(m, "id")) {
            (Some(over), _) => {
                values::check_space_id(over).map_err(ConfigError::Invalid)?;
                over.clone()
            }
            (None, Some(n)) => {
                let id = self.scalar_string(n, "`space.id`")?;
                values::check_space_id(&id).map_err(|msg| self.err(n.pos, msg))?;
                id
            }
            (None, None) => {
                let pos = space.map_or(root.pos, |n| n.pos);
                return Err(self.err(
                    pos,
                    "missing `space.id`: set it in space.yaml or pass --space-id (a generated id would make every `up` a new space)",
                ));
            }
        };
        let text = |key: &str| -> Result<Option<String>, ConfigError> {
            get(m, key)
                .map(|n| self.scalar_string(n, &format!("`space.{key}`")))
                .transpose()
        };
        let name = text("name")?.unwrap_or_else(|| "unnamed-space".to_string());
        let description = text("description")?;
        let default_participant = text("default_participant")?;
        text("ui_theme")?;
        let allow_anonymous_joins = get(m, "allow_anonymous_joins")
            .map(|n| self.bool(n, "`space.allow_anonymous_joins`"))
            .transpose()?
            .unwrap_or(false);
        let network_mode = match get(m, "network") {
            None => NetworkMode::Bridge,
            Some(n) => {
                let nm = self.map(n, "`space.network`")?;
                self.check_keys(nm, schema::NETWORK, "in `space.network`")?;
                match get(nm, "mode") {
                    None => NetworkMode::Bridge,
                    Some(v) => match self.string(v, "`space.network.mode`")?.as_str() {
                        "bridge" => NetworkMode::Bridge,
                        "shared" => NetworkMode::Shared,
                        other => {
                            return Err(self.err(
                                v.pos,
                                format!("invalid `space.network.mode` `{other}` (expected `bridge` or `shared`)"),
                            ))
                        }
                    },
                }
            }
        };
        Ok(SpaceSection {
            id,
            file_id,
            name,
            description,
            default_participant,
            network_mode,
            allow_anonymous_joins,
        })
    }

    fn defaults(&self, n: &Node) -> Result<Defaults, ConfigError> {
        let m = self.map(n, "`defaults`")?;
        self.check_keys(m, schema::DEFAULTS, "in `defaults`")?;
        let mut default_to = BTreeMap::new();
        if let Some(routing) = get(m, "routing") {
            let rm = self.map(routing, "`defaults.routing`")?;
            self.check_keys(rm, schema::ROUTING, "in `defaults.routing`")?;
            if let Some(d) = get(rm, "default_to") {
                default_to = self.default_to(d, "`defaults.routing.default_to`")?;
            }
        }
        Ok(Defaults {
            default_to,
            capabilities: get(m, "capabilities")
                .map(|c| self.capabilities(c, "`defaults.capabilities`"))
                .transpose()?,
            env: match get(m, "env") {
                Some(e) => self.string_map(e, "`defaults.env`")?,
                None => BTreeMap::new(),
            },
            volumes: match get(m, "volumes") {
                Some(v) => self.volumes(v, "`defaults`")?,
                None => Vec::new(),
            },
            lifecycle: self.lifecycle(m, "`defaults`")?,
        })
    }

    /// `gateway.*`: `port`/`space` are upstream documentation only; the rest is mew's.
    fn gateway_settings(&self, n: &Node) -> Result<GatewaySettings, ConfigError> {
        let m = self.map(n, "`gateway`")?;
        self.check_keys(m, schema::GATEWAY, "in `gateway`")?;
        let l = self.lifecycle(m, "`gateway`")?;
        Ok(GatewaySettings {
            image: l.image,
            memory_bytes: l.memory_bytes,
            nano_cpus: l.nano_cpus,
            pids_limit: l.pids_limit,
            restart: l.restart,
            logging: l.logging,
        })
    }

    fn gateway_logging(&self, n: &Node) -> Result<GatewayLogging, ConfigError> {
        let m = self.map(n, "`gateway_logging`")?;
        self.check_keys(m, schema::GATEWAY_LOGGING, "in `gateway_logging`")?;
        let switch = |key: &str| -> Result<bool, ConfigError> {
            let Some(s) = get(m, key) else {
                return Ok(true);
            };
            let sm = self.map(s, &format!("`gateway_logging.{key}`"))?;
            self.check_keys(sm, schema::ENABLED, &format!("in `gateway_logging.{key}`"))?;
            get(sm, "enabled")
                .map(|e| self.bool(e, &format!("`gateway_logging.{key}.enabled`")))
                .transpose()
                .map(|b| b.unwrap_or(true))
        };
        Ok(GatewayLogging {
            enabled: get(m, "enabled")
                .map(|e| self.bool(e, "`gateway_logging.enabled`"))
                .transpose()?
                .unwrap_or(true),
            envelope_history: switch("envelope_history")?,
            capability_decisions: switch("capability_decisions")?,
        })
    }

    fn participants(&self, n: &Node, defaults: &Defaults) -> Result<Vec<Participant>, ConfigError> {
        let m = self.map(n, "`participants`")?;
        let mut participants: Vec<Participant> = Vec::with_capacity(m.len());
        // Normalised id → index, so that the clash check stays linear in the participants.
        let mut identities: HashMap<String, usize> = HashMap::with_capacity(m.len());
        for e in m {
            let p = self.participant(e, defaults)?;
            // Network aliases are case-insensitive and MEW_TOKEN_<ID> folds `-` into `_`, so
            // such ids would collide in the engine.
            if let Some(&other) = identities.get(&identity(&p.id)) {
                return Err(self.err(
                    e.key_pos,
                    format!("participant id `{}` clashes with `{}` (ids must differ in more than case, `-` and `_`)", p.id, participants[other].id),
                ));
            }
            identities.insert(identity(&p.id), participants.len());
            participants.push(p);
        }
        Ok(participants)
    }

    fn warn(&self, pos: Pos, message: impl std::fmt::Display) -> String {
        format!(
            "{}:{}:{}: {message}",
            self.file.display(),
            pos.line,
            pos.column
        )
    }

    fn warnings(&self, top: &[Entry], participants: &[Participant]) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(g) = get(top, "gateway").and_then(Node::as_map) {
            for e in g {
                match e.key.as_str() {
                    "port" => out.push(self.warn(
                        e.key_pos,
                        "`gateway.port` is ignored: the port comes from --port",
                    )),
                    "space" => out.push(self.warn(
                        e.key_pos,
                        "`gateway.space` is ignored: the space is `space.id`",
                    )),
                    _ => {}
                }
            }
        }
        for p in participants {
            if p.auto_start && !p.kind.has_container() {
                out.push(self.warn(
                    p.pos,
                    format!("participant `{}` has `auto_start` but nothing to start (no `command`, or `type: mcp-bridge` without `mcp_server`)", p.id),
                ));
            }
            if matches!(p.kind, Kind::Agent | Kind::Bridge) && p.fifo && p.auto_connect {
                out.push(self.warn(
                    p.pos,
                    format!("participant `{}` runs its own program; its FIFO client (`fifo` + `auto_connect`) is not started", p.id),
                ));
            }
        }
        out
    }

    fn check_keys(
        &self,
        entries: &[Entry],
        known: &[&str],
        context: &str,
    ) -> Result<(), ConfigError> {
        for e in entries {
            if known.contains(&e.key.as_str()) || schema::is_extension(&e.key) {
                continue;
            }
            let hint = match schema::suggest(&e.key, known) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None => String::new(),
            };
            return Err(self.err(
                e.key_pos,
                format!("unknown key `{}` {context}{hint}", e.key),
            ));
        }
        Ok(())
    }

    fn map<'n>(&self, node: &'n Node, what: &str) -> Result<&'n [Entry], ConfigError> {
        match &node.value {
            Value::Map(m) => Ok(m),
            Value::Null => Ok(&[]),
            _ => Err(self.expected(node, what, "a mapping")),
        }
    }

    /// `default_to: {chat: [ids]}` (a single id may be written without the list).
    fn default_to(
        &self,
        node: &Node,
        what: &str,
    ) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
        let mut out = BTreeMap::new();
        for e in self.map(node, what)? {
            let ctx = format!("{}.{}`", what.trim_end_matches('`'), e.key);
            let ids = match &e.value.value {
                Value::Seq(_) => self.string_list(&e.value, &ctx)?,
                Value::Null => Vec::new(),
                _ => vec![self.scalar_string(&e.value, &ctx)?],
            };
            out.insert(e.key.clone(), ids);
        }
        Ok(out)
    }

    fn string(&self, node: &Node, what: &str) -> Result<String, ConfigError> {
        match &node.value {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(self.expected(node, what, "a string")),
        }
    }

    /// A string, or a number/boolean taken as text (ids and names such as `2024`).
    fn scalar_string(&self, node: &Node, what: &str) -> Result<String, ConfigError> {
        node.scalar_text()
            .ok_or_else(|| self.expected(node, what, "a string"))
    }

    fn bool(&self, node: &Node, what: &str) -> Result<bool, ConfigError> {
        match node.value {
            Value::Bool(b) => Ok(b),
            _ => Err(self.expected(node, what, "true or false")),
        }
    }

    fn uint(&self, node: &Node, what: &str) -> Result<u64, ConfigError> {
        match node.value {
            Value::Int(i) if i >= 0 => Ok(i as u64),
            _ => Err(self.expected(node, what, "a whole number")),
        }
    }

    fn string_list(&self, node: &Node, what: &str) -> Result<Vec<String>, ConfigError> {
        let Value::Seq(items) = &node.value else {
            return Err(self.expected(node, what, "a list"));
        };
        items
            .iter()
            .map(|i| {
                i.scalar_text()
                    .ok_or_else(|| self.expected(i, &format!("each item of {what}"), "a string"))
            })
            .collect()
    }

    /// A `name: value` map whose values are scalars, kept as text (`null` → empty).
    fn string_map(&self, node: &Node, what: &str) -> Result<BTreeMap<String, String>, ConfigError> {
        let m = self.map(node, what)?;
        let mut out = BTreeMap::new();
        for e in m {
            let v = match &e.value.value {
                Value::Null => String::new(),
                _ => e.value.scalar_text().ok_or_else(|| {
                    self.expected(&e.value, &format!("{what}.{}", e.key), "a string")
                })?,
            };
            out.insert(e.key.clone(), v);
        }
        Ok(out)
    }

    fn capabilities(&self, node: &Node, what: &str) -> Result<serde_json::Value, ConfigError> {
        let Value::Seq(items) = &node.value else {
            return Err(self.expected(node, what, "a list of `{kind, payload}`"));
        };
        for item in items {
            let m = match &item.value {
                Value::Map(m) => m,
                _ => {
                    return Err(self.expected(
                        item,
                        &format!("each item of {what}"),
                        "a mapping with `kind`",
                    ))
                }
            };
            self.check_keys(m, schema::CAPABILITY, &format!("in a capability of {what}"))?;
            match get(m, "kind") {
                Some(k) => {
                    self.string(k, "`kind`")?;
                }
                None => {
                    return Err(self.err(item.pos, format!("a capability in {what} has no `kind`")))
                }
            }
        }
        Ok(node.to_json())
    }

    /// A `volumes:` list: each entry in compose's short syntax (`SRC:TARGET[:ro|rw]`,
    /// `NAME:TARGET[:ro|rw]`) or long syntax (`type`, `source`, `target`, `read_only`).
    fn volumes(&self, node: &Node, owner: &str) -> Result<Vec<VolumeEntry>, ConfigError> {
        let Value::Seq(items) = &node.value else {
            return Err(self.expected(node, &format!("`volumes` of {owner}"), "a list"));
        };
        let mut out: Vec<VolumeEntry> = Vec::with_capacity(items.len());
        for item in items {
            let entry =
                match &item.value {
                    Value::Str(s) => self.volume_short(item, s, owner)?,
                    Value::Map(m) => self.volume_long(item, m, owner)?,
                    _ => return Err(self.expected(
                        item,
                        &format!("each item of `volumes` of {owner}"),
                        "`SOURCE:TARGET[:ro|rw]` or a mapping with `type`, `source` and `target`",
                    )),
                };
            if out.iter().any(|v| v.target == entry.target) {
                return Err(self.err(
                    item.pos,
                    format!("`volumes` of {owner} mounts {} twice", entry.target),
                ));
            }
            out.push(entry);
        }
        Ok(out)
    }

    fn volume_short(&self, item: &Node, s: &str, owner: &str) -> Result<VolumeEntry, ConfigError> {
        let parts: Vec<&str> = s.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [_] => {
                return Err(self.err(
                    item.pos,
                    format!("volume `{s}` of {owner} has no source: write `SOURCE:TARGET` (a host path or a volume name; anonymous volumes are not supported)"),
                ))
            }
            [source, target] => (*source, *target, None),
            [source, target, mode] => (*source, *target, Some(*mode)),
            _ => {
                return Err(self.err(
                    item.pos,
                    format!("volume `{s}` of {owner} has too many `:` (expected `SOURCE:TARGET[:ro|rw]`)"),
                ))
            }
        };
        let read_only = match mode {
            None => None,
            Some("ro") => Some(true),
            Some("rw") => Some(false),
            Some(other) => {
                return Err(self.err(
                    item.pos,
                    format!(
                        "unknown mode `{other}` in volume `{s}` of {owner} (expected `ro` or `rw`)"
                    ),
                ))
            }
        };
        let kind = if source.starts_with(['.', '/', '~']) {
            "bind"
        } else {
            "volume"
        };
        self.volume_entry(item.pos, kind, source, target, read_only, owner)
    }

    fn volume_long(
        &self,
        item: &Node,
        m: &[Entry],
        owner: &str,
    ) -> Result<VolumeEntry, ConfigError> {
        let context = format!("in a volume of {owner}");
        self.check_keys(m, schema::VOLUME, &context)?;
        let text = |key: &str| -> Result<Option<(String, Pos)>, ConfigError> {
            get(m, key)
                .map(|n| {
                    self.string(n, &format!("`{key}` of a volume of {owner}"))
                        .map(|s| (s, n.pos))
                })
                .transpose()
        };
        let missing = |key: &str| self.err(item.pos, format!("a volume of {owner} has no `{key}`"));
        let (kind, kind_pos) = text("type")?.ok_or_else(|| missing("type"))?;
        if kind != "bind" && kind != "volume" {
            return Err(self.err(
                kind_pos,
                format!("volume type `{kind}` of {owner} is not supported (expected `bind` or `volume`)"),
            ));
        }
        let (source, _) = text("source")?.ok_or_else(|| missing("source"))?;
        let (target, _) = text("target")?.ok_or_else(|| missing("target"))?;
        let read_only = get(m, "read_only")
            .map(|n| self.bool(n, &format!("`read_only` of a volume of {owner}")))
            .transpose()?;
        self.volume_entry(item.pos, &kind, &source, &target, read_only, owner)
    }

    fn volume_entry(
        &self,
        pos: Pos,
        kind: &str,
        source: &str,
        target: &str,
        read_only: Option<bool>,
        owner: &str,
    ) -> Result<VolumeEntry, ConfigError> {
        if source.is_empty() {
            return Err(self.err(pos, format!("a volume of {owner} has an empty source")));
        }
        if !target.starts_with('/')
            || Path::new(target)
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(self.err(
                pos,
                format!("the target `{target}` of a volume of {owner} must be an absolute path in the container without `..`"),
            ));
        }
        let target = super::paths::normalize(Path::new(target))
            .display()
            .to_string();
        if target == "/" {
            return Err(self.err(pos, format!("a volume of {owner} cannot be mounted at `/`")));
        }
        let source = if kind == "bind" {
            if source.starts_with('~') {
                return Err(self.err(
                    pos,
                    format!("`~` in the bind source `{source}` of {owner} is not expanded; write the path absolute or relative to the space directory"),
                ));
            }
            let written = Path::new(source);
            VolumeSource::Bind {
                path: super::paths::normalize(&self.dir.join(written)),
                relative: (!written.is_absolute()).then(|| source.to_string()),
            }
        } else {
            if !values::is_name_part(source) {
                return Err(self.err(
                    pos,
                    format!("invalid volume name `{source}` of {owner}: use letters, digits, `_`, `.` and `-` (a host path starts with `/`, `./` or `../`)"),
                ));
            }
            VolumeSource::Named(source.to_string())
        };
        let read_only = read_only.unwrap_or(matches!(source, VolumeSource::Bind { .. }));
        Ok(VolumeEntry {
            source,
            target,
            read_only,
            pos,
        })
    }

    /// mew's container settings (image, resources, restart_policy, logging, stop_grace_period).
    fn lifecycle(&self, m: &[Entry], owner: &str) -> Result<Lifecycle, ConfigError> {
        let mut l = Lifecycle::default();
        if let Some(n) = get(m, "image") {
            let image = self.string(n, &format!("`image` of {owner}"))?;
            if image.trim().is_empty() || image.chars().any(char::is_whitespace) {
                return Err(self.err(n.pos, format!("invalid image `{image}`")));
            }
            l.image = Some(image);
        }
        if let Some(n) = get(m, "resources") {
            let rm = self.map(n, &format!("`resources` of {owner}"))?;
            self.check_keys(rm, schema::RESOURCES, &format!("in `resources` of {owner}"))?;
            if let Some(v) = get(rm, "memory") {
                let text = match &v.value {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    _ => return Err(self.expected(v, "`memory`", "a size such as `512m` or `1g`")),
                };
                l.memory_bytes = Some(values::parse_memory(&text).map_err(|m| self.err(v.pos, m))?);
            }
            if let Some(v) = get(rm, "cpus") {
                let cpus = match &v.value {
                    Value::Int(i) => *i as f64,
                    Value::Float(f) => *f,
                    Value::Str(s) => s
                        .parse::<f64>()
                        .map_err(|_| self.expected(v, "`cpus`", "a number such as 0.5 or 2"))?,
                    _ => return Err(self.expected(v, "`cpus`", "a number such as 0.5 or 2")),
                };
                l.nano_cpus = Some(values::cpus_to_nano(cpus).map_err(|m| self.err(v.pos, m))?);
            }
            if let Some(v) = get(rm, "pids") {
                match v.value {
                    Value::Int(i) if i >= 1 => l.pids_limit = Some(i),
                    _ => return Err(self.expected(v, "`pids`", "a positive whole number")),
                }
            }
        }
        if let Some(n) = get(m, "restart_policy") {
            let s = self.scalar_string(n, "`restart_policy`")?;
            l.restart = Some(values::parse_restart(&s).map_err(|msg| self.err(n.pos, msg))?);
        }
        if let Some(n) = get(m, "logging") {
            let lm = self.map(n, &format!("`logging` of {owner}"))?;
            self.check_keys(lm, schema::LOGGING, &format!("in `logging` of {owner}"))?;
            let driver = match get(lm, "driver") {
                Some(d) => self.string(d, "`logging.driver`")?,
                None => "json-file".to_string(),
            };
            let options = match get(lm, "options") {
                Some(o) => self.string_map(o, "`logging.options`")?,
                None if driver == "json-file" => default_log().options,
                None => BTreeMap::new(),
            };
            l.logging = Some(LogConfig { driver, options });
        }
        if let Some(n) = get(m, "stop_grace_period") {
            let ms = match &n.value {
                Value::Str(s) => {
                    values::parse_duration_ms(s).map_err(|msg| self.err(n.pos, msg))?
                }
                // A bare number is seconds, like Docker's --stop-timeout.
                Value::Int(i) if *i >= 0 => (*i as u64) * 1000,
                _ => {
                    return Err(self.expected(n, "`stop_grace_period`", "a duration such as `5s`"))
                }
            };
            // The engine takes whole seconds as an i32 and a grace period beyond a day is a typo.
            if ms > MAX_STOP_GRACE_MS {
                return Err(self.err(
                    n.pos,
                    "`stop_grace_period` is longer than a day (24h at most)",
                ));
            }
            l.stop_grace_ms = Some(ms);
        }
        Ok(l)
    }

    fn participant(&self, e: &Entry, defaults: &Defaults) -> Result<Participant, ConfigError> {
        let id = e.key.clone();
        if !values::is_name_part(&id) {
            return Err(self.err(
                e.key_pos,
                format!("invalid participant id `{id}`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit"),
            ));
        }
        if id.len() > values::MAX_ID_LEN {
            return Err(self.err(e.key_pos, values::too_long("participant id", &id)));
        }
        if id == "gateway" {
            return Err(self.err(
                e.key_pos,
                "participant id `gateway` is reserved for the gateway container",
            ));
        }
        let owner = format!("participant `{id}`");
        let m = self.map(&e.value, &format!("participant `{id}`"))?;
        self.check_keys(m, schema::PARTICIPANT, &format!("in {owner}"))?;

        let kind_name = get(m, "type")
            .map(|n| self.string(n, "`type`"))
            .transpose()?;
        let command_node = get(m, "command");
        let command = command_node
            .map(|n| self.string(n, "`command`"))
            .transpose()?;
        if let (Some(c), Some(n)) = (&command, command_node) {
            if c.trim().is_empty() {
                return Err(self.err(n.pos, "`command` is empty"));
            }
        }
        let args_node = get(m, "args");
        let args = args_node
            .map(|n| self.string_list(n, "`args`"))
            .transpose()?
            .unwrap_or_default();
        let args_pos = match args_node.map(|n| &n.value) {
            Some(Value::Seq(items)) => items.iter().map(|i| i.pos).collect(),
            _ => Vec::new(),
        };
        let own_volumes = match get(m, "volumes") {
            Some(v) => self.volumes(v, &owner)?,
            None => Vec::new(),
        };
        // Compose's rule for merged files: entries are matched by target, the participant's win.
        let mut volumes: Vec<VolumeEntry> = defaults
            .volumes
            .iter()
            .filter(|d| own_volumes.iter().all(|v| v.target != d.target))
            .cloned()
            .collect();
        volumes.extend(own_volumes);
        let mut env = defaults.env.clone();
        if let Some(n) = get(m, "env") {
            env.extend(self.string_map(n, "`env`")?);
        }
        let flag = |key: &str| -> Result<bool, ConfigError> {
            get(m, key)
                .map(|n| self.bool(n, &format!("`{key}`")))
                .transpose()
                .map(|b| b.unwrap_or(false))
        };
        let auto_start = flag("auto_start")?;
        let auto_connect = flag("auto_connect")?;
        let fifo = flag("fifo")?;
        let output_log = get(m, "output_log")
            .map(|n| self.string(n, "`output_log`"))
            .transpose()?;
        let tokens = get(m, "tokens")
            .map(|n| self.string_list(n, "`tokens`"))
            .transpose()?
            .unwrap_or_default();
        let capabilities = match get(m, "capabilities") {
            Some(n) => Some(self.capabilities(n, "`capabilities`")?),
            None => defaults.capabilities.clone(),
        };
        let default_to = match get(m, "default_to") {
            Some(n) => self.default_to(n, "`default_to`")?,
            None => defaults.default_to.clone(),
        };
        let mcp_server = match get(m, "mcp_server") {
            None => None,
            Some(n) => {
                let mm = self.map(n, "`mcp_server`")?;
                self.check_keys(
                    mm,
                    schema::MCP_SERVER,
                    &format!("in `mcp_server` of {owner}"),
                )?;
                let command = match get(mm, "command") {
                    Some(c) => self.string(c, "`mcp_server.command`")?,
                    None => {
                        return Err(
                            self.err(n.pos, format!("`mcp_server` of {owner} has no `command`"))
                        )
                    }
                };
                Some(McpServer {
                    command,
                    args: get(mm, "args")
                        .map(|a| self.string_list(a, "`mcp_server.args`"))
                        .transpose()?
                        .unwrap_or_default(),
                    env: get(mm, "env")
                        .map(|a| self.string_map(a, "`mcp_server.env`"))
                        .transpose()?
                        .unwrap_or_default(),
                    cwd: get(mm, "cwd")
                        .map(|a| self.string(a, "`mcp_server.cwd`"))
                        .transpose()?,
                })
            }
        };
        let bridge_config = match get(m, "bridge_config") {
            None => BridgeConfig::default(),
            Some(n) => {
                let bm = self.map(n, "`bridge_config`")?;
                self.check_keys(
                    bm,
                    schema::BRIDGE_CONFIG,
                    &format!("in `bridge_config` of {owner}"),
                )?;
                BridgeConfig {
                    init_timeout: get(bm, "init_timeout")
                        .map(|v| self.uint(v, "`init_timeout`"))
                        .transpose()?,
                    reconnect: get(bm, "reconnect")
                        .map(|v| self.bool(v, "`reconnect`"))
                        .transpose()?,
                    max_reconnects: get(bm, "max_reconnects")
                        .map(|v| self.uint(v, "`max_reconnects`"))
                        .transpose()?,
                }
            }
        };
        let lifecycle = self.lifecycle(m, &owner)?.or(&defaults.lifecycle);

        let kind =
            if kind_name.as_deref() == Some("mcp-bridge") && auto_start && mcp_server.is_some() {
                Kind::Bridge
            } else if auto_start && command.is_some() {
                Kind::Agent
            } else if fifo && auto_connect {
                Kind::FifoClient
            } else if output_log.is_some() && auto_connect && !tokens.is_empty() {
                Kind::Virtual
            } else {
                Kind::Passive
            };

        Ok(Participant {
            id,
            pos: e.key_pos,
            kind,
            kind_name,
            command,
            command_pos: command_node.map(|n| n.pos),
            args,
            args_pos,
            volumes,
            env,
            auto_start,
            auto_connect,
            fifo,
            output_log,
            tokens,
            capabilities,
            default_to,
            mcp_server,
            bridge_config,
            lifecycle,
        })
    }
}

/// The log settings a container gets when space.yaml says nothing (design.md §3).
pub fn default_log() -> LogConfig {
    LogConfig {
        driver: "json-file".into(),
        options: BTreeMap::from([
            ("max-file".to_string(), "3".to_string()),
            ("max-size".to_string(), "10m".to_string()),
        ]),
    }
}
