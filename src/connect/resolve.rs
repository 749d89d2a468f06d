//! Which participant an interactive session joins as (spec/cli.md §5).
use mew_space::config::Space;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub(crate) enum ResolveError {
    #[error("Participant '{0}' not found in space configuration")]
    NotFound(String),
    #[error("No human participants found (all participants have command field)")]
    NoHumans,
    #[error("Could not determine participant. Use --participant flag to specify.")]
    Undetermined,
    #[error("Invalid selection")]
    InvalidSelection,
}

/// Asks the user to pick one of the humans (`Some(index)`, `None` to skip); only on a terminal.
pub(crate) type ChooseFn<'a> =
    dyn FnMut(&[(String, String)]) -> Result<Option<usize>, ResolveError> + 'a;

/// Flag → `space.default_participant` → the only human → a choice (terminal only) → the human
/// named like the OS user → error. Humans are participants without `command`.
pub(crate) fn resolve_participant(
    space: &Space,
    flag: Option<&str>,
    username: &str,
    choose: Option<&mut ChooseFn>,
) -> Result<String, ResolveError> {
    if let Some(id) = flag {
        return space
            .participant(id)
            .map(|p| p.id.clone())
            .ok_or_else(|| ResolveError::NotFound(id.to_string()));
    }
    if let Some(id) = &space.default_participant {
        if space.participant(id).is_some() {
            return Ok(id.clone());
        }
    }
    let humans: Vec<_> = space
        .participants
        .iter()
        .filter(|p| p.command.is_none())
        .collect();
    match humans.as_slice() {
        [] => return Err(ResolveError::NoHumans),
        [one] => return Ok(one.id.clone()),
        _ => {}
    }
    if let Some(choose) = choose {
        let options: Vec<(String, String)> = humans
            .iter()
            .map(|p| (p.id.clone(), capability_kinds(p.capabilities.as_ref())))
            .collect();
        if let Some(i) = choose(&options)? {
            return humans
                .get(i)
                .map(|p| p.id.clone())
                .ok_or(ResolveError::InvalidSelection);
        }
    }
    humans
        .iter()
        .find(|p| p.id == username)
        .map(|p| p.id.clone())
        .ok_or(ResolveError::Undetermined)
}

/// `chat, mcp/*` or `none`.
pub(crate) fn capability_kinds(caps: Option<&serde_json::Value>) -> String {
    let kinds: Vec<&str> = caps
        .and_then(|c| c.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("kind").and_then(|k| k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    if kinds.is_empty() {
        "none".into()
    } else {
        kinds.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mew_space::config::{parse_space, LoadOptions};
    use std::path::Path;

    fn space(yaml: &str) -> Space {
        parse_space(Path::new("/s/space.yaml"), yaml, &LoadOptions::default()).unwrap()
    }

    const TWO: &str = "space: {id: s}\nparticipants:\n  ann: {}\n  bob: {capabilities: [{kind: chat}]}\n  bot: {command: mew, args: [agent, echo], auto_start: true}\n";

    #[test]
    fn order_of_resolution() {
        let s = space(TWO);
        assert_eq!(
            resolve_participant(&s, Some("bot"), "x", None),
            Ok("bot".into())
        );
        assert_eq!(
            resolve_participant(&s, Some("zed"), "x", None),
            Err(ResolveError::NotFound("zed".into()))
        );
        assert_eq!(resolve_participant(&s, None, "bob", None), Ok("bob".into()));
        assert_eq!(
            resolve_participant(&s, None, "carol", None),
            Err(ResolveError::Undetermined)
        );
        let mut pick = |o: &[(String, String)]| {
            assert_eq!(o[1], ("bob".to_string(), "chat".to_string()));
            Ok(Some(1))
        };
        assert_eq!(
            resolve_participant(&s, None, "carol", Some(&mut pick)),
            Ok("bob".into())
        );
        let with_default = space(&TWO.replace("{id: s}", "{id: s, default_participant: ann}"));
        assert_eq!(
            resolve_participant(&with_default, None, "bob", None),
            Ok("ann".into())
        );
        let one = space("space: {id: s}\nparticipants:\n  ann: {}\n  bot: {command: x}\n");
        assert_eq!(resolve_participant(&one, None, "z", None), Ok("ann".into()));
        let none = space("space: {id: s}\nparticipants:\n  bot: {command: x}\n");
        assert_eq!(
            resolve_participant(&none, None, "z", None),
            Err(ResolveError::NoHumans)
        );
    }
}
