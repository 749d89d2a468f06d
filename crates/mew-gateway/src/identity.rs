//! Who a join may be (spec/gateway.md §4.2, mew's departure from upstream).
//!
//! Upstream gives a join whatever id it claims, so a client with no token, or with someone
//! else's, takes over a configured or connected participant and its capabilities. mew decides
//! from the token instead:
//! - an id that is configured, invited or connected right now is *protected*: only a token of
//!   that id may claim it;
//! - a token is valid only for its own id (a known token under another id is refused);
//! - a join with a known token and no claimed id becomes the token's owner;
//! - everything else is *anonymous* (no token or an unknown one, under a new id) and is allowed
//!   only where the space allows it: `space.allow_anonymous_joins: true`, or a gateway that runs
//!   without any config file.
use super::state::{Ctx, State};

/// Why an id may only be claimed with its own token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    Configured,
    Invited,
    Connected,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// `id: None` = anonymous join without an id: the caller generates one.
    Accept {
        id: Option<String>,
        authenticated: bool,
    },
    Refuse {
        /// Short machine-readable reason (`payload.reason`).
        reason: &'static str,
        message: String,
    },
}

/// The pure rule. `owners` are the ids the presented token belongs to (empty for no token or
/// an unknown one); `protection` is that of the claimed id.
pub fn decide(
    claimed: Option<&str>,
    token_given: bool,
    owners: &[String],
    protection: Option<Protection>,
    anonymous_allowed: bool,
) -> Decision {
    let refuse = |reason, message: String| Decision::Refuse { reason, message };
    match claimed {
        Some(id) if owners.iter().any(|o| o == id) => Decision::Accept {
            id: Some(id.to_string()),
            authenticated: true,
        },
        // The owner is not named: a token is valid only for its own id.
        Some(id) if !owners.is_empty() => refuse(
            "token_of_another_participant",
            format!(
                "join as {id} refused: the token belongs to another participant (a token is valid only for its own participant id)"
            ),
        ),
        Some(id) => match protection {
            Some(p) => {
                let what = match p {
                    Protection::Configured => "is a participant configured in this space",
                    Protection::Invited => "was invited to this space",
                    Protection::Connected => "is connected right now",
                };
                let given = if token_given {
                    "the token given is not its token"
                } else {
                    "no token was given"
                };
                refuse(
                    "token_required",
                    format!("join as {id} refused: {id} {what} and may only be joined with its own token ({given})"),
                )
            }
            None if anonymous_allowed => Decision::Accept {
                id: Some(id.to_string()),
                authenticated: false,
            },
            None => refuse("anonymous_not_allowed", anonymous_refusal(Some(id), token_given)),
        },
        None => match owners.first() {
            Some(owner) => Decision::Accept {
                id: Some(owner.clone()),
                authenticated: true,
            },
            None if anonymous_allowed => Decision::Accept {
                id: None,
                authenticated: false,
            },
            None => refuse("anonymous_not_allowed", anonymous_refusal(None, token_given)),
        },
    }
}

fn anonymous_refusal(id: Option<&str>, token_given: bool) -> String {
    let who = id.map_or_else(
        || "without a participant id".to_string(),
        |id| format!("as {id}"),
    );
    let token = if token_given {
        "the token is not any participant's token"
    } else {
        "no token was given"
    };
    format!(
        "join {who} refused: {token}, and this space does not allow anonymous joins (space.allow_anonymous_joins is not true)"
    )
}

/// The ids `token` belongs to, in a stable order: token map (token files, `MEW_TOKEN_<P>`,
/// invites), then `participants.P.tokens`, then tokens remembered from accepted joins.
pub fn token_owners(ctx: &Ctx, st: &State, token: &str) -> Vec<String> {
    let mut owners: Vec<String> = Vec::new();
    let mut add = |id: &str| {
        if !owners.iter().any(|o| o == id) {
            owners.push(id.to_string());
        }
    };
    for (id, t) in &st.token_map {
        if t == token {
            add(id);
        }
    }
    if let Some(cfg) = ctx.config {
        for (id, p) in &cfg.participants {
            if p.tokens.iter().any(|t| t == token) {
                add(id);
            }
        }
    }
    // Sorted: the map's order is random and the first owner names a join without an id.
    let mut remembered: Vec<&String> = st
        .participant_tokens
        .iter()
        .filter(|(_, t)| t.as_str() == token)
        .map(|(id, _)| id)
        .collect();
    remembered.sort();
    for id in remembered {
        add(id);
    }
    owners
}

/// Whether `id` may only be claimed with its own token, and why.
pub fn protection(ctx: &Ctx, st: &State, id: &str) -> Option<Protection> {
    if ctx.participant_config(id).is_some() {
        Some(Protection::Configured)
    } else if st.invited.contains_key(id) || st.token_map.contains_key(id) {
        Some(Protection::Invited)
    } else if st.spaces.values().any(|s| s.registry.contains_key(id)) {
        Some(Protection::Connected)
    } else {
        None
    }
}

/// With a config file, only `space.allow_anonymous_joins: true` allows anonymous joins; a
/// gateway started without one (tests, ad-hoc use) keeps upstream's open behaviour.
pub fn anonymous_allowed(ctx: &Ctx) -> bool {
    ctx.config.is_none_or(|c| c.allow_anonymous_joins)
}

/// The rule applied to the gateway's current state.
pub fn decide_join(ctx: &Ctx, st: &State, claimed: Option<&str>, token: Option<&str>) -> Decision {
    let owners = token.map(|t| token_owners(ctx, st, t)).unwrap_or_default();
    let prot = claimed.and_then(|id| protection(ctx, st, id));
    decide(
        claimed,
        token.is_some(),
        &owners,
        prot,
        anonymous_allowed(ctx),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn refused(d: &Decision) -> &'static str {
        match d {
            Decision::Refuse { reason, .. } => reason,
            Decision::Accept { .. } => panic!("expected a refusal, got {d:?}"),
        }
    }

    #[test]
    fn own_token_is_accepted_and_authenticated() {
        let d = decide(
            Some("echo"),
            true,
            &owners(&["echo"]),
            Some(Protection::Configured),
            false,
        );
        assert_eq!(
            d,
            Decision::Accept {
                id: Some("echo".into()),
                authenticated: true
            }
        );
        // A token shared by two configured participants is valid for both.
        let d = decide(Some("b"), true, &owners(&["a", "b"]), None, false);
        assert!(matches!(
            d,
            Decision::Accept {
                authenticated: true,
                ..
            }
        ));
    }

    #[test]
    fn a_known_token_under_another_id_is_refused_even_for_new_ids() {
        for prot in [
            None,
            Some(Protection::Configured),
            Some(Protection::Connected),
        ] {
            let d = decide(Some("client"), true, &owners(&["echo"]), prot, true);
            assert_eq!(refused(&d), "token_of_another_participant");
        }
    }

    #[test]
    fn protected_ids_need_their_token_whatever_the_anonymous_setting() {
        for prot in [
            Protection::Configured,
            Protection::Invited,
            Protection::Connected,
        ] {
            for token_given in [false, true] {
                let d = decide(Some("client"), token_given, &[], Some(prot), true);
                assert_eq!(refused(&d), "token_required");
            }
        }
    }

    #[test]
    fn anonymous_joins_follow_the_space_setting() {
        let d = decide(Some("visitor"), false, &[], None, false);
        assert_eq!(refused(&d), "anonymous_not_allowed");
        let d = decide(None, true, &[], None, false);
        assert_eq!(refused(&d), "anonymous_not_allowed");
        let d = decide(Some("visitor"), true, &[], None, true);
        assert_eq!(
            d,
            Decision::Accept {
                id: Some("visitor".into()),
                authenticated: false
            }
        );
        let d = decide(None, false, &[], None, true);
        assert_eq!(
            d,
            Decision::Accept {
                id: None,
                authenticated: false
            }
        );
    }

    #[test]
    fn a_token_without_an_id_becomes_its_owner() {
        let d = decide(None, true, &owners(&["human", "other"]), None, false);
        assert_eq!(
            d,
            Decision::Accept {
                id: Some("human".into()),
                authenticated: true
            }
        );
    }

    #[test]
    fn refusal_messages_say_which_rule() {
        let Decision::Refuse { message, .. } = decide(
            Some("client"),
            false,
            &[],
            Some(Protection::Configured),
            true,
        ) else {
            panic!()
        };
        assert!(
            message.contains("configured") && message.contains("no token"),
            "{message}"
        );
        let Decision::Refuse { message, .. } = decide(Some("x"), false, &[], None, false) else {
            panic!()
        };
        assert!(message.contains("allow_anonymous_joins"), "{message}");
    }
}
