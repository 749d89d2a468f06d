//! `mew space export --format compose|stack|kubernetes`: the space as a file for another engine
//! (no secrets in it; the Kubernetes Secret is a file of its own).
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

use crate::error::InvalidInput;
use mew_space::export::{self, ComposeOptions};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// The Compose specification, for `docker compose` (every setting).
    Compose,
    /// Compose format 3.9, for `docker stack deploy` (Swarm).
    Stack,
    /// Kubernetes manifests (a Pod per participant, a Service for the gateway), for `kubectl
    /// apply` or `podman kube play`.
    Kubernetes,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    mew space export --format compose -o compose.yaml\n  \
    MEW_UID=$(id -u) MEW_GID=$(id -g) docker compose up -d --wait\n  \
    mew space export --format stack -o stack.yaml      # for docker stack deploy (Swarm)\n  \
    mew space export --format kubernetes -o space.k8s.yaml --secret-file tokens.yaml\n\n\
    Tokens are not written into the file: each participant's token file (.mew/tokens/, created\n\
    here when missing) is a compose secret mounted at /run/secrets/mew-token. The space directory\n\
    is bound from `.` at /space, so keep the file in the space directory. The image is the one\n\
    `mew image build` makes from this mew; --static-image names mew:<version> instead.")]
pub(crate) struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "compose")]
    pub(crate) format: Format,
    /// Space directory (default: the current directory).
    #[arg(short = 'd', long, value_name = "DIR")]
    pub(crate) space_dir: Option<PathBuf>,
    /// The space.yaml to read (default: <dir>/.mew/space.yaml, else <dir>/space.yaml).
    #[arg(short = 'c', long, visible_alias = "config", value_name = "FILE")]
    pub(crate) space_config: Option<PathBuf>,
    /// Override space.id.
    #[arg(long, value_name = "ID")]
    pub(crate) space_id: Option<String>,
    /// Gateway port (inside the network, and published on 127.0.0.1; Swarm publishes it on
    /// every interface of the node running the gateway).
    #[arg(short, long, default_value_t = 8080)]
    pub(crate) port: u16,
    /// Write the compose file here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Also write MEW_TOKEN_<ID>=<token> lines (0600), for args or env that spell out a token
    /// with ${TOKEN}.
    #[arg(long, value_name = "FILE")]
    pub(crate) env_file: Option<PathBuf>,
    /// Name the static runtime image, mew:<version> running /opt/mew/mew (what `mew image build`
    /// of a static musl mew or images/Dockerfile make), instead of this mew's own image: the same
    /// file whichever mew exports (compose-examples/ use it).
    #[arg(long)]
    pub(crate) static_image: bool,
    /// Kubernetes: write the Secret the Pods read (tokens, and env values naming host
    /// variables) to this file (0600), for `kubectl apply -f`.
    #[arg(long, value_name = "FILE")]
    pub(crate) secret_file: Option<PathBuf>,
    /// Kubernetes: write the same Secret as `podman secret create <space>-tokens FILE` takes
    /// it (Podman's `kube play` cannot read its own copy of a Secret manifest for env values).
    #[arg(long, value_name = "FILE")]
    pub(crate) podman_secret_file: Option<PathBuf>,
}

pub(crate) async fn run(args: ExportArgs) -> anyhow::Result<()> {
    if let Some(id) = &args.space_id {
        mew_space::config::values::check_space_id(id).map_err(InvalidInput::new)?;
    }
    let space = mew_space::config::find_and_load(
        args.space_dir.as_deref(),
        args.space_config.as_deref(),
        args.space_id.as_deref(),
    )?;
    for w in &space.warnings {
        eprintln!("warning: {w}");
    }
    let text = std::fs::read_to_string(&space.file)
        .with_context(|| format!("cannot read {}", space.file.display()))?;
    let mut opts = if args.static_image {
        ComposeOptions::new(mew_engine::image::crate_version())
    } else {
        this_build().map_err(|e| InvalidInput::new(e.to_string()))?
    };
    opts.port = args.port;
    let flavour = match args.format {
        Format::Compose => export::Flavour::Compose,
        Format::Stack => export::Flavour::Stack,
        Format::Kubernetes => return kubernetes(&args, &space, &text, &opts),
    };
    if args.secret_file.is_some() || args.podman_secret_file.is_some() {
        return Err(InvalidInput::new(
            "--secret-file and --podman-secret-file go with --format kubernetes; compose and Swarm read the token files as secrets",
        )
        .into());
    }
    let yaml = export::export(&space, &text, &opts, flavour)?;
    // The secrets name the token files, which must exist when compose or Swarm reads them;
    // the gateway reads every participant's (passive ones included) from the same directory.
    let mew_dir = mew_space::tokens::ensure_mew_dir(&space.file)
        .context("cannot create the space's .mew directory")?;
    let all: Vec<String> = space.participants.iter().map(|p| p.id.clone()).collect();
    mew_space::tokens::resolve_all(&mew_dir, &all)
        .context("cannot read or create the participants' tokens")?;
    match &args.output {
        Some(path) => std::fs::write(path, &yaml)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{yaml}"),
    }
    if let Some(path) = &args.env_file {
        let ids: Vec<String> = space
            .participants
            .iter()
            .filter(|p| p.kind.has_container())
            .map(|p| p.id.clone())
            .collect();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let tokens = mew_space::tokens::resolve_all(&mew_dir, &ids)
            .context("cannot read or create the participants' tokens")?;
        export::write_private(path, export::env_file_text(&tokens).as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// `--format kubernetes`: the manifests, and the Secret they refer to when asked for.
fn kubernetes(
    args: &ExportArgs,
    space: &mew_space::config::Space,
    text: &str,
    opts: &ComposeOptions,
) -> anyhow::Result<()> {
    use mew_space::export::kubernetes::{self as kube, SecretKey};
    if args.env_file.is_some() {
        return Err(InvalidInput::new(
            "--env-file is for compose; with --format kubernetes the tokens go into the Secret (--secret-file)",
        )
        .into());
    }
    let host_dir = std::fs::canonicalize(&space.dir)
        .with_context(|| format!("cannot resolve {}", space.dir.display()))?;
    let k = kube::KubeOptions {
        host_dir: host_dir.display().to_string(),
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
    };
    let out = kube::kubernetes(space, text, opts, &k)?;
    // The gateway reads every participant's token file from the space directory.
    let mew_dir = mew_space::tokens::ensure_mew_dir(&space.file)
        .context("cannot create the space's .mew directory")?;
    let all: Vec<String> = space.participants.iter().map(|p| p.id.clone()).collect();
    let tokens = mew_space::tokens::resolve_all(&mew_dir, &all)
        .context("cannot read or create the participants' tokens")?;
    match &args.output {
        Some(path) => std::fs::write(path, &out.manifest)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{}", out.manifest),
    }
    if args.secret_file.is_none() && args.podman_secret_file.is_none() {
        return Ok(());
    }
    let host_env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let values: Vec<(String, String)> = out
        .secret_keys
        .iter()
        .map(|key| {
            let value = match key {
                SecretKey::Token { participant, .. } => tokens
                    .iter()
                    .find(|(id, _)| id == participant)
                    .map(|(_, t)| t.clone())
                    .unwrap_or_default(),
                SecretKey::HostEnv { template, .. } => {
                    mew_space::config::substitute::host_vars(template, &host_env)
                }
            };
            (key.key().to_string(), value)
        })
        .collect();
    if let Some(path) = &args.secret_file {
        let yaml = kube::secret_manifest(&out.secret_name, &values)?;
        export::write_private(path, yaml.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.podman_secret_file {
        export::write_private(path, kube::podman_secret(&values).as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The options for the image `mew image build` makes from the running executable: its own tag
/// (the `mew:<version>` alias moves to whichever build ran last, static or not) and its argv (a
/// dynamically linked mew starts through the loader it ships in `/opt/mew/lib/`).
fn this_build() -> Result<ComposeOptions, export::ExportError> {
    let rt = mew_engine::image::Runtime::current()
        .map_err(|e| export::ExportError::UnknownRuntime(e.to_string()))?;
    Ok(ComposeOptions {
        runtime_image: rt.image_tag(),
        // Not `up`'s volume: `docker compose down --volumes` may remove this one, and `up`
        // takes a volume that exists for one it filled.
        runtime_volume: format!("{}-export", rt.volume_name()),
        mew_argv: rt.argv(),
        static_image: false,
        ..ComposeOptions::new(mew_engine::image::crate_version())
    })
}
