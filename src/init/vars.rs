//! Template variables: resolution (flag → environment → prompt → default) and `{{VAR}}`
//! substitution (spec/cli.md §2.1–2.2). Pure apart from the prompt callback.
use super::template::{TemplateMeta, Variable};
use std::collections::{BTreeMap, BTreeSet};

/// Everything resolution reads from outside the template.
#[derive(Debug, Clone, Default)]
pub(crate) struct VarContext {
    /// Values given by flags (`--name` → `SPACE_NAME`, `--model` → `AGENT_MODEL`, …).
    pub(crate) flags: BTreeMap<String, String>,
    pub(crate) env: BTreeMap<String, String>,
    /// `${dirname}`: the space directory's name.
    pub(crate) dirname: String,
    /// `${username}`.
    pub(crate) username: String,
    /// `${date}`: UTC `YYYY-MM-DD`.
    pub(crate) date: String,
    pub(crate) ui_theme: String,
}

/// Asks the user for a value: (variable, suggested default) → answer (`None` keeps the default).
pub(crate) type AskFn<'a> = dyn FnMut(&Variable, &str) -> Option<String> + 'a;
pub(crate) type Prompt<'a> = &'a mut AskFn<'a>;

/// Resolved values; sensitive ones are kept apart so that nothing writes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) values: BTreeMap<String, String>,
    pub(crate) sensitive: BTreeSet<String>,
}

/// Resolve every variable of the template, then add the extras `SPACE_ID`, `UI_THEME` and
/// `AGENT_PROMPT_JSON`. `SPACE_NAME` always exists and is made usable as a space id.
pub(crate) fn resolve(
    meta: &TemplateMeta,
    ctx: &VarContext,
    mut prompt: Option<Prompt>,
) -> Resolved {
    let mut out = Resolved::default();
    for v in &meta.variables {
        let ask: Option<&mut AskFn> = match &mut prompt {
            Some(p) => Some(&mut **p),
            None => None,
        };
        let value = resolve_one(v, ctx, ask);
        if v.sensitive {
            out.sensitive.insert(v.name.clone());
        } else {
            out.values.insert(v.name.clone(), value);
        }
    }
    for (k, v) in &ctx.flags {
        out.values.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let name = out
        .values
        .get("SPACE_NAME")
        .cloned()
        .unwrap_or_else(|| ctx.dirname.clone());
    let id = space_id_from(&name);
    // Upstream templates use SPACE_NAME as the id too, so it must be one.
    out.values.insert("SPACE_NAME".into(), id.clone());
    out.values.insert("SPACE_ID".into(), id);
    out.values
        .entry("UI_THEME".into())
        .or_insert_with(|| ctx.ui_theme.clone());
    if let Some(p) = out.values.get("AGENT_PROMPT") {
        let json = serde_json::Value::String(p.clone()).to_string();
        out.values.insert("AGENT_PROMPT_JSON".into(), json);
    }
    out
}

fn resolve_one(v: &Variable, ctx: &VarContext, prompt: Option<&mut AskFn>) -> String {
    if let Some(flag) = ctx.flags.get(&v.name) {
        return flag.clone();
    }
    let from_env = v
        .env_sources
        .iter()
        .find_map(|name| ctx.env.get(name).filter(|val| !val.is_empty()).cloned());
    let default = from_env.unwrap_or_else(|| default_of(v, ctx));
    match prompt {
        // Sensitive values are never written, so there is no point asking (and echoing) them.
        Some(ask) if v.prompt && !v.sensitive => ask(v, &default).unwrap_or(default),
        _ => default,
    }
}

/// The variable's default with the specials expanded.
fn default_of(v: &Variable, ctx: &VarContext) -> String {
    let text = match &v.default {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if text.starts_with("${") {
        text.replacen("${dirname}", &ctx.dirname, 1)
            .replacen("${username}", &ctx.username, 1)
            .replacen("${date}", &ctx.date, 1)
    } else {
        text
    }
}

/// A usable space id from a free-form name: characters outside `[A-Za-z0-9_.-]` become `-`,
/// leading punctuation goes, `..` collapses; `space` if nothing is left.
pub(crate) fn space_id_from(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("..") {
        s = s.replace("..", ".");
    }
    let s = s.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    if s.is_empty() {
        "space".into()
    } else {
        s.to_string()
    }
}

/// Whether a placeholder name looks like a secret that must never be written.
fn is_secret_name(name: &str) -> bool {
    name.ends_with("_API_KEY") || name.ends_with("_SECRET") || name.ends_with("_PASSWORD")
}

/// Replace each `{{NAME}}` with its value, inserted literally. Placeholders of sensitive
/// variables and secret-looking names are removed; other unknown ones stay as they are.
pub(crate) fn substitute(text: &str, r: &Resolved) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        if name_len > 0 && after[name_len..].starts_with("}}") {
            if let Some(v) = r.values.get(name) {
                out.push_str(v);
            } else if !(r.sensitive.contains(name) || is_secret_name(name)) {
                out.push_str(&rest[start..start + 4 + name_len]);
            }
            rest = &after[name_len + 2..];
        } else {
            out.push_str("{{");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, default: &str) -> Variable {
        Variable {
            name: name.into(),
            default: Some(serde_json::Value::String(default.into())),
            ..Default::default()
        }
    }

    fn ctx() -> VarContext {
        VarContext {
            dirname: "my dir".into(),
            username: "ann".into(),
            date: "2026-01-02".into(),
            ui_theme: "neon-pulse".into(),
            ..Default::default()
        }
    }

    #[test]
    fn order_flag_env_default_special() {
        let mut model = var("AGENT_MODEL", "gpt-5");
        model.env_sources = vec!["X_MODEL".into(), "MODEL".into()];
        let meta = TemplateMeta {
            name: "t".into(),
            variables: vec![
                var("SPACE_NAME", "${dirname}"),
                model,
                var("WHO", "${username}"),
                var("WHEN", "${date}"),
            ],
            ..Default::default()
        };
        let mut c = ctx();
        c.env.insert("X_MODEL".into(), String::new());
        c.env.insert("MODEL".into(), "m2".into());
        let r = resolve(&meta, &c, None);
        assert_eq!(r.values["SPACE_NAME"], "my-dir");
        assert_eq!(r.values["SPACE_ID"], "my-dir");
        assert_eq!(r.values["AGENT_MODEL"], "m2");
        assert_eq!(r.values["WHO"], "ann");
        assert_eq!(r.values["WHEN"], "2026-01-02");
        c.flags.insert("AGENT_MODEL".into(), "flagged".into());
        assert_eq!(resolve(&meta, &c, None).values["AGENT_MODEL"], "flagged");
    }

    #[test]
    fn prompt_only_for_prompt_variables() {
        let mut a = var("A", "x");
        a.prompt = true;
        let meta = TemplateMeta {
            name: "t".into(),
            variables: vec![a, var("B", "y")],
            ..Default::default()
        };
        let mut asked = Vec::new();
        let mut ask = |v: &Variable, d: &str| {
            asked.push((v.name.clone(), d.to_string()));
            Some("typed".to_string())
        };
        let r = resolve(&meta, &ctx(), Some(&mut ask));
        assert_eq!(asked, vec![("A".to_string(), "x".to_string())]);
        assert_eq!(r.values["A"], "typed");
        assert_eq!(r.values["B"], "y");
    }

    #[test]
    fn substitution_is_literal_and_drops_secrets() {
        let mut r = Resolved::default();
        r.values.insert("V".into(), "$& $$ {{W}}".into());
        r.sensitive.insert("TOKEN_VALUE".into());
        let text = "a={{V}} b={{OPENAI_API_KEY}} c={{TOKEN_VALUE}} d={{UNKNOWN}} e={{ x }} {{";
        assert_eq!(
            substitute(text, &r),
            "a=$& $$ {{W}} b= c= d={{UNKNOWN}} e={{ x }} {{"
        );
    }

    #[test]
    fn prompt_json_and_ids() {
        let meta = TemplateMeta {
            name: "t".into(),
            variables: vec![var("AGENT_PROMPT", "say \"hi\"\n")],
            ..Default::default()
        };
        let r = resolve(&meta, &ctx(), None);
        assert_eq!(r.values["AGENT_PROMPT_JSON"], r#""say \"hi\"\n""#);
        assert_eq!(space_id_from(".tmp..x y"), "tmp.x-y");
        assert_eq!(space_id_from("!!"), "space");
    }
}
