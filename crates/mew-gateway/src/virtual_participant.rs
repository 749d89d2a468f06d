//! Virtual participants (spec/gateway.md §7.5): config participants with `output_log`, to which
//! the gateway "delivers" by appending JSON lines to a file.
use super::emit::Outbox;
use super::state::{Endpoint, Gateway, State, VirtualSink};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// Resolve `output_log` against the gateway's working directory.
pub fn resolve_path(output_log: &str) -> PathBuf {
    let p = PathBuf::from(output_log);
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

/// Register `id` as a virtual participant of `space_id` and deliver its welcome.
/// No presence is sent for virtual participants.
pub fn connect(gw: &Gateway, st: &mut State, out: &mut Outbox, space_id: &str, id: &str) {
    let Some(pc) = gw.participant_config(id) else {
        return;
    };
    let Some(log) = pc.output_log.as_deref() else {
        return;
    };
    let sink = Arc::new(VirtualSink::new(resolve_path(log)));
    st.space_mut(space_id)
        .registry
        .insert(id.to_string(), Endpoint::Virtual(sink.clone()));
    // [U] the virtual welcome shows the raw config list, without the baseline.
    let raw = Value::Array(pc.capabilities.clone().unwrap_or_default());
    let welcome = super::emit::welcome(st, space_id, id, raw);
    let id_json = welcome["id"].to_string();
    let text = welcome.to_string();
    out.virtual_write(sink, text.clone());
    gw.logs.envelope(super::logs::envelope_record(
        "delivered",
        Some(&id_json),
        &text,
        id,
        space_id,
        "outbound",
        "virtual",
        &json!({"type":"system/welcome","auto_connect":true}).to_string(),
    ));
    gw.console.info(&format!(
        "Auto-connected virtual participant {id} (output_log)"
    ));
}
