//! What `participant/*` control messages act on: the conversation memory (forget, clear,
//! compact, restart) and the pause state, plus the `participant/status` payload built from them.
//! Pure state; the agent's connection loop applies the messages and sends the answers.
use std::collections::VecDeque;

use serde_json::{json, Value};
use tokio::time::Instant;

/// Tokens as upstream estimates them: a quarter of the characters, at least one per message.
pub(crate) fn estimate_tokens(text: &str) -> u64 {
    if text.is_empty() {
        0
    } else {
        (text.chars().count() as u64).div_ceil(4).max(1)
    }
}

fn message_tokens(message: &Value) -> u64 {
    message
        .get("content")
        .and_then(Value::as_str)
        .map(estimate_tokens)
        .unwrap_or(0)
}

/// The chat history the model sees (user and assistant messages), oldest first.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    history: VecDeque<Value>,
    /// Bumped by clear and restart: an answer computed before must not land in the new history.
    pub(crate) generation: u64,
}

/// What a forget or compact removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Freed {
    pub(crate) messages: usize,
    pub(crate) tokens: u64,
}

impl Memory {
    pub(crate) fn snapshot(&self) -> Vec<Value> {
        self.history.iter().cloned().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.history.len()
    }

    pub(crate) fn tokens(&self) -> u64 {
        self.history.iter().map(message_tokens).sum()
    }

    /// Append, then keep at most `limit` messages (`conversationHistoryLength`).
    pub(crate) fn push(&mut self, message: Value, limit: usize) {
        self.history.push_back(message);
        while self.history.len() > limit {
            self.history.pop_front();
        }
    }

    /// Drop `entries` messages (default: half, rounded up) from the oldest or the newest end.
    pub(crate) fn forget(&mut self, newest: bool, entries: Option<usize>) -> Freed {
        let count = entries.unwrap_or_else(|| self.history.len().div_ceil(2));
        let mut freed = Freed::default();
        for _ in 0..count {
            let gone = if newest {
                self.history.pop_back()
            } else {
                self.history.pop_front()
            };
            let Some(gone) = gone else { break };
            freed.messages += 1;
            freed.tokens += message_tokens(&gone);
        }
        freed
    }

    /// Drop the oldest messages until at most `target` tokens are left.
    pub(crate) fn compact_to(&mut self, target: u64) -> Freed {
        let mut freed = Freed::default();
        while self.tokens() > target {
            let Some(gone) = self.history.pop_front() else {
                break;
            };
            freed.messages += 1;
            freed.tokens += message_tokens(&gone);
        }
        freed
    }

    pub(crate) fn clear(&mut self) -> Freed {
        let freed = Freed {
            messages: self.history.len(),
            tokens: self.tokens(),
        };
        self.history.clear();
        self.generation += 1;
        freed
    }
}

/// `participant/pause` state: paused until resumed, or until the optional deadline.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pause {
    pub(crate) on: bool,
    pub(crate) until: Option<Instant>,
}

impl Pause {
    pub(crate) fn active(&self) -> bool {
        !self.on || self.until.is_some_and(|u| Instant::now() >= u)
    }

    /// From a pause payload: `timeout_seconds` (a number) sets the deadline.
    pub(crate) fn from_payload(payload: &Value) -> Pause {
        let until = payload
            .get("timeout_seconds")
            .and_then(Value::as_f64)
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| Instant::now() + std::time::Duration::from_secs_f64(s.min(1e9)));
        Pause { on: true, until }
    }
}

/// The `participant/status` payload (upstream's fields). `fields` keeps only the named ones,
/// plus `status` and `messages_in_context`, which are always there.
pub(crate) fn status_payload(
    memory: &Memory,
    max_tokens: u64,
    status: &str,
    fields: Option<&[String]>,
) -> Value {
    let full = json!({
        "status": status,
        "tokens": memory.tokens(),
        "max_tokens": max_tokens,
        "messages_in_context": memory.len(),
    });
    let Some(fields) = fields.filter(|f| !f.is_empty()) else {
        return full;
    };
    let mut out = serde_json::Map::new();
    if let Value::Object(all) = full {
        for (k, v) in all {
            if k == "status" || k == "messages_in_context" || fields.contains(&k) {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(text: &str) -> Value {
        json!({"role": "user", "content": text})
    }

    #[test]
    fn forget_compact_and_clear_shrink_the_memory() {
        let mut m = Memory::default();
        for t in ["aaaa", "bbbbbbbb", "cc", "dddd"] {
            m.push(said(t), 3);
        }
        // The cap keeps the newest three.
        assert_eq!(m.len(), 3);
        assert_eq!(m.snapshot()[0]["content"], "bbbbbbbb");
        assert_eq!(m.tokens(), 2 + 1 + 1);
        let freed = m.forget(true, Some(1));
        assert_eq!(
            freed,
            Freed {
                messages: 1,
                tokens: 1
            }
        );
        assert_eq!(m.snapshot().last().unwrap()["content"], "cc");
        let freed = m.compact_to(1);
        assert_eq!(
            freed,
            Freed {
                messages: 1,
                tokens: 2
            }
        );
        assert_eq!(m.len(), 1);
        let generation = m.generation;
        assert_eq!(m.clear().messages, 1);
        assert_eq!((m.len(), m.tokens()), (0, 0));
        assert_eq!(m.generation, generation + 1);
        // Default forget: half, rounded up.
        for t in ["a", "b", "c"] {
            m.push(said(t), 10);
        }
        assert_eq!(m.forget(false, None).messages, 2);
        assert_eq!(m.snapshot()[0]["content"], "c");
    }

    #[test]
    fn status_carries_upstreams_fields_and_filters() {
        let mut m = Memory::default();
        m.push(said("12345678"), 10);
        let s = status_payload(&m, 500, "active", None);
        assert_eq!(
            s,
            json!({"status": "active", "tokens": 2, "max_tokens": 500, "messages_in_context": 1})
        );
        let only = status_payload(&m, 500, "paused", Some(&["tokens".to_string()]));
        assert_eq!(
            only,
            json!({"status": "paused", "tokens": 2, "messages_in_context": 1})
        );
    }

    #[test]
    fn a_pause_with_a_timeout_ends_by_itself() {
        assert!(Pause::default().active());
        assert!(!Pause::from_payload(&json!({})).active());
        let p = Pause::from_payload(&json!({"timeout_seconds": 0.001}));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(p.active());
        assert!(!Pause::from_payload(&json!({"timeout_seconds": 60})).active());
    }
}
