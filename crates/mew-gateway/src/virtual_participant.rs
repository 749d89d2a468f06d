//! Virtual participants (spec/gateway.md §7.5): config participants with `output_log`, to which
//! the gateway "delivers" by appending JSON lines to a file.
use super::effect::{Delivery, Effect, Level, Outgoing, Record};
use super::state::{Ctx, Endpoint, State, VirtualSink};
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
pub fn connect(ctx: &Ctx, st: &mut State, out: &mut Vec<Effect>, space_id: &str, id: &str) {
    let Some(pc) = ctx.participant_config(id) else {
        return;
    };
    let Some(log) = pc.output_log.as_deref() else {
        return;
    };
    let ep = Endpoint::Virtual(Arc::new(VirtualSink::new(resolve_path(log))));
    let key: Arc<str> = id.into();
    st.space_mut(space_id)
        .registry
        .insert(key.clone(), ep.clone());
    // [U] the virtual welcome shows the raw config list, without the baseline.
    let raw = Value::Array(pc.capabilities.clone().unwrap_or_default());
    let msg = Outgoing::new(&super::emit::welcome(st, space_id, id, raw));
    if ctx.switches.envelope_history {
        out.push(Effect::Log(Record::Envelope(super::logs::envelope_record(
            "delivered",
            Some(&msg.id_json),
            &msg.text,
            id,
            space_id,
            "outbound",
            "virtual",
            &json!({"type":"system/welcome","auto_connect":true}).to_string(),
        ))));
    }
    // Logged above, with its own transport.
    out.push(Effect::Deliver {
        to: key,
        ep,
        msg: Arc::new(Delivery { msg, log: None }),
    });
    out.push(Effect::Console(
        Level::Info,
        format!("Auto-connected virtual participant {id} (output_log)"),
    ));
}
