//! Planning: desired state (from config) + observed engine state → ordered stages of actions.
//! Pure functions only; the text form of a plan is what `mew space up --dry-run` prints.
//!
//! - `desired`: validated `Space` + `ResolveOptions` → `DesiredSpace`.
//! - `diff`: `plan(desired, observed)` and `plan_down(observed, volumes)`.
//! - `port`: the gateway's host port, from what was observed.
//! - `render`: the text form.
pub mod desired;
pub mod diff;
pub mod model;
pub mod port;
pub mod render;

pub use desired::{
    command_key, container_name, default_images, desired, image_overrides, network_name,
    token_env_name, volume_name, ResolveOptions,
};
pub use diff::{health_url, plan, plan_down};
pub use model::*;
pub use port::{choose_port, PortError, DEFAULT_PORTS};
pub use render::{action_line, mask_env, render, render_detailed};
