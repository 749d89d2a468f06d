//! `DesiredSpace` → Kubernetes manifests that `kubectl apply` and `podman kube play` accept.
//!
//! One Pod per container (restart policies differ per participant, and a Deployment only
//! restarts `Always`), named `<space>-<participant>` as under `up`, plus a Service named like
//! the gateway's Pod. Participants reach the gateway by that name: through the Service on
//! Kubernetes, and through the Pod's own DNS name on Podman (which has no Services).
//!
//! Nothing secret is in the manifest: each participant's `MEW_TOKEN` comes from the Secret
//! `<space>-tokens` (key = participant id) through `secretKeyRef`, and so do env values that
//! name a host variable (`${VAR}`, filled from the exporting shell into the same Secret, key
//! `<participant>.<NAME>` for the variable NAME it sets). `secret_manifest` writes that Secret for `kubectl apply`;
//! `podman_secret` writes it in the form Podman 4.3's `kube play` reads from `podman secret
//! create` (its own copy of a Secret manifest is stored in a form its env lookup refuses).
use super::compose::{desired_for_export, ComposeOptions, ExportError, CONTAINER_DIR};
use crate::config::Space;
use crate::plan::model::{ContainerSpec, MountKind, RestartPolicy, Role};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Labels whose values Kubernetes accepts as label values (≤ 63 characters, no `/`).
const LABEL_KEYS: &[&str] = &[
    crate::plan::model::labels::SPACE,
    crate::plan::model::labels::PARTICIPANT,
    crate::plan::model::labels::ROLE,
    crate::plan::model::labels::VERSION,
];

/// The exporting machine's side of a Kubernetes export.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    /// Absolute host path of the space directory (a `hostPath` volume: the manifests are for a
    /// node that has the space directory, as `up` is).
    pub host_dir: String,
    /// The user and group the containers run as (the caller's, as under `up`).
    pub uid: u32,
    pub gid: u32,
}

/// The manifests and the secret values they refer to.
#[derive(Debug, Clone)]
pub struct KubeExport {
    pub manifest: String,
    /// Secret `<space>-tokens`: key → value, in key order.
    pub secret_name: String,
    pub secret_keys: Vec<SecretKey>,
}

/// What one key of the Secret holds, filled in by the caller (which reads token files and the
/// environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretKey {
    /// The participant's token.
    Token { key: String, participant: String },
    /// An env value that names host variables (`${VAR}`), to expand from the exporting shell.
    HostEnv { key: String, template: String },
}

impl SecretKey {
    pub fn key(&self) -> &str {
        match self {
            SecretKey::Token { key, .. } | SecretKey::HostEnv { key, .. } => key,
        }
    }
}

/// A DNS-1123 name: lower-case letters, digits and `-`, starting and ending alphanumeric, at
/// most 63 characters.
pub fn dns_name(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let mut name = mapped.trim_matches('-').to_string();
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

/// The gateway's Pod and Service name, which participants connect to.
pub fn gateway_host(space_id: &str) -> String {
    dns_name(&format!("{space_id}-gateway"))
}

pub fn secret_name(space_id: &str) -> String {
    dns_name(&format!("{space_id}-tokens"))
}

/// The space as Kubernetes manifests (multi-document YAML).
pub fn kubernetes(
    space: &Space,
    text: &str,
    o: &ComposeOptions,
    k: &KubeOptions,
) -> Result<KubeExport, ExportError> {
    let d = desired_for_export(space, text, o)?;
    if d.runtime_volume.is_some() {
        let other = d
            .participants
            .iter()
            .find(|p| p.image != d.runtime_image)
            .map(|p| format!("{} runs image {}", p.participant, p.image))
            .unwrap_or_else(|| "a participant runs another image".into());
        return Err(ExportError::Unsupported(format!(
            "{other}, and Kubernetes has no volume to carry mew into it; use the runtime image ({}) or --format compose",
            d.runtime_image
        )));
    }
    let host = gateway_host(&space.id);
    let mut secret_keys = Vec::new();
    let mut docs = vec![service(&d.gateway, &host, o.port)];
    for c in std::iter::once(&d.gateway).chain(&d.participants) {
        if c.network.starts_with("container:") {
            return Err(ExportError::Unsupported(
                "space.network.mode `shared` puts every participant in the gateway's network namespace; export the default bridge mode for Kubernetes".into(),
            ));
        }
        docs.push(pod(c, &space.id, &host, k, &mut secret_keys));
    }
    // Named volumes persist as claims on the cluster's default storage class.
    for v in &d.volumes {
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": dns_name(&v.name),
                "labels": {crate::plan::model::labels::SPACE: label_value(&space.id)},
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }));
    }
    secret_keys.sort_by(|a, b| a.key().cmp(b.key()));
    secret_keys.dedup();
    let mut manifest = format!(
        "# Generated by `mew space export --format kubernetes` from {}; do not edit.\n\
         # The Pods mount the space directory {} from the node (hostPath), read the Secret\n\
         # {} (write it with --secret-file), and run image {}.\n\
         # Kubernetes has no pids limit per container and no log driver: the node's settings apply.\n\
         # Kubernetes: kubectl apply -f <secret file> -f <this file>\n\
         # Podman: podman network create mew-{id}; podman secret create {secret} <podman secret file>;\n\
         #         podman kube play --network mew-{id} <this file>\n",
        space
            .file
            .strip_prefix(&space.dir)
            .unwrap_or(&space.file)
            .display(),
        k.host_dir,
        secret_name(&space.id),
        o.runtime_image,
        id = space.id,
        secret = secret_name(&space.id),
    );
    for doc in docs {
        manifest.push_str("---\n");
        manifest.push_str(&serde_norway::to_string(&to_yaml(doc))?);
    }
    Ok(KubeExport {
        manifest,
        secret_name: secret_name(&space.id),
        secret_keys,
    })
}

/// The Secret manifest for `kubectl apply -f` (values as given, base64-encoded here).
pub fn secret_manifest(name: &str, values: &[(String, String)]) -> Result<String, ExportError> {
    let data = encoded(values);
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": data,
    });
    Ok(serde_norway::to_string(&to_yaml(doc))?)
}

/// JSON → YAML value. serde_json's arbitrary-precision numbers (a workspace feature) would
/// otherwise serialise as a private wrapper map.
fn to_yaml(v: Value) -> serde_norway::Value {
    use serde_norway::Value as Y;
    match v {
        Value::Null => Y::Null,
        Value::Bool(b) => Y::Bool(b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Y::Number(u.into()),
            (None, Some(i)) => Y::Number(i.into()),
            _ => Y::Number(n.as_f64().unwrap_or(0.0).into()),
        },
        Value::String(s) => Y::String(s),
        Value::Array(a) => Y::Sequence(a.into_iter().map(to_yaml).collect()),
        Value::Object(m) => Y::Mapping(
            m.into_iter()
                .map(|(k, v)| (Y::String(k), to_yaml(v)))
                .collect(),
        ),
    }
}

/// The same values for `podman secret create <name> FILE`: a JSON object of base64 values,
/// which is what Podman 4.3's `kube play` reads for `secretKeyRef`.
pub fn podman_secret(values: &[(String, String)]) -> String {
    Value::Object(encoded(values)).to_string() + "\n"
}

/// The Secret's `data`: each value base64-encoded, as both Kubernetes and Podman read it.
fn encoded(values: &[(String, String)]) -> Map<String, Value> {
    values
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(base64(v.as_bytes()))))
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// mew's labels that Kubernetes can carry. The config hashes (64 characters) are left out:
/// nothing reconciles by them there, and Podman refuses annotation values over 63 characters.
fn pod_labels(c: &ContainerSpec) -> Map<String, Value> {
    c.labels
        .iter()
        .filter(|(k, _)| LABEL_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), Value::String(label_value(v))))
        .collect()
}

/// A label value: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn label_value(v: &str) -> String {
    let mapped: String = v
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '-',
        })
        .collect();
    let mut s = mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    s.truncate(63);
    s.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

fn service(gateway: &ContainerSpec, host: &str, port: u16) -> Value {
    let labels = pod_labels(gateway);
    let selector: Map<String, Value> = labels
        .iter()
        .filter(|(k, _)| {
            *k == crate::plan::model::labels::SPACE || *k == crate::plan::model::labels::PARTICIPANT
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": host, "labels": labels},
        "spec": {
            "selector": selector,
            "ports": [{"name": "mew", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    })
}

/// Kubernetes expands `$(VAR)` in command, args and env values: a literal one is written `$$(`.
fn escape_k8s(s: &str) -> String {
    s.replace("$(", "$$(")
}

fn pod(
    c: &ContainerSpec,
    space_id: &str,
    host: &str,
    k: &KubeOptions,
    secret_keys: &mut Vec<SecretKey>,
) -> Value {
    let secret = secret_name(space_id);
    let marker = super::compose::token_marker(&c.participant);
    let to_host = |v: &str| v.replace("ws://gateway:", &format!("ws://{host}:"));
    let labels = pod_labels(c);

    // MEW_TOKEN first: later values may refer to it as $(MEW_TOKEN).
    let mut env: Vec<Value> = Vec::new();
    if c.role != Role::Gateway {
        let key = c.participant.clone();
        secret_keys.push(SecretKey::Token {
            key: key.clone(),
            participant: c.participant.clone(),
        });
        env.push(json!({"name": "MEW_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}));
    }
    for (name, value) in &c.env {
        if *value == marker {
            continue;
        }
        if !crate::config::substitute::unset_vars(value, &BTreeMap::new()).is_empty() {
            let key = format!("{}.{name}", c.participant);
            secret_keys.push(SecretKey::HostEnv {
                key: key.clone(),
                template: value.clone(),
            });
            env.push(
                json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}),
            );
        } else {
            env.push(json!({
                "name": name,
                "value": escape_k8s(&to_host(value)).replace(&marker, "$(MEW_TOKEN)"),
            }));
        }
    }
    let command: Vec<String> = c
        .cmd
        .iter()
        .map(|a| escape_k8s(&to_host(a)).replace(&marker, "$(MEW_TOKEN)"))
        .collect();

    let mut limits = Map::new();
    if let Some(b) = c.resources.memory_bytes {
        limits.insert("memory".into(), Value::String(b.to_string()));
    }
    if let Some(n) = c.resources.nano_cpus {
        limits.insert(
            "cpu".into(),
            Value::String(format!("{}m", (n + 999_999) / 1_000_000)),
        );
    }
    let mut container = json!({
        "name": dns_name(&c.participant),
        "image": c.image,
        // The runtime image is built locally (`mew image build`), never pulled.
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": env,
        "securityContext": {
            "allowPrivilegeEscalation": !c.no_new_privileges,
            "readOnlyRootFilesystem": c.read_only_rootfs,
            "capabilities": {"drop": if c.cap_drop_all { vec!["ALL"] } else { Vec::new() }},
        },
        "resources": {"limits": limits},
        "volumeMounts": [],
    });
    if let Some(dir) = &c.working_dir {
        container["workingDir"] = json!(dir);
    }
    if !c.ports.is_empty() {
        container["ports"] = Value::Array(
            c.ports
                .iter()
                .map(|p| {
                    json!({
                        "containerPort": p.container_port,
                        "hostPort": p.host_port,
                        "hostIP": p.host_ip,
                        "protocol": "TCP",
                    })
                })
                .collect(),
        );
    }
    if let Some(h) = &c.healthcheck {
        let exec: Vec<&String> = h.test.iter().skip_while(|t| *t == "CMD").collect();
        container["readinessProbe"] = json!({
            "exec": {"command": exec},
            "periodSeconds": h.interval_ms.div_ceil(1000).max(1),
            "timeoutSeconds": h.timeout_ms.div_ceil(1000).max(1),
            "failureThreshold": h.retries.max(1),
        });
    }
    let mut volumes = BTreeMap::new();
    let mut mounts = Vec::new();
    for (i, m) in c.mounts.iter().enumerate() {
        // A runtime volume was refused above: a volume here is a named one of the space.
        if m.kind != MountKind::Bind {
            let name = format!("volume-{i}");
            mounts.push(json!({"name": name, "mountPath": m.target, "readOnly": m.read_only}));
            volumes.insert(
                name.clone(),
                json!({"name": name, "persistentVolumeClaim": {"claimName": dns_name(&m.source)}}),
            );
            continue;
        }
        let path = match (&m.relative, m.source.strip_prefix(CONTAINER_DIR)) {
            // Relative to the space directory on the node.
            (Some(r), _) => crate::config::paths::normalize(&Path::new(&k.host_dir).join(r))
                .display()
                .to_string(),
            (None, Some(rest)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", k.host_dir)
            }
            _ => m.source.clone(),
        };
        let name = if path == k.host_dir {
            "space".to_string()
        } else {
            format!("bind-{i}")
        };
        mounts.push(json!({"name": name, "mountPath": m.target, "readOnly": m.read_only}));
        volumes.insert(
            name.clone(),
            json!({"name": name, "hostPath": {"path": path}}),
        );
    }
    container["volumeMounts"] = Value::Array(mounts);

    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": dns_name(&c.name),
            "labels": labels,
        },
        "spec": {
            "restartPolicy": restart_policy(&c.restart),
            "terminationGracePeriodSeconds": c.stop_grace_secs,
            // Service links would add <NAME>_PORT variables to every container.
            "enableServiceLinks": false,
            "securityContext": {"runAsUser": k.uid, "runAsGroup": k.gid},
            "containers": [container],
            "volumes": volumes.into_values().collect::<Vec<_>>(),
        },
    })
}

fn restart_policy(r: &RestartPolicy) -> &'static str {
    match r {
        RestartPolicy::No => "Never",
        RestartPolicy::OnFailure(_) => "OnFailure",
        RestartPolicy::Always | RestartPolicy::UnlessStopped => "Always",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_encodings() {
        assert_eq!(dns_name("My_Space.1"), "my-space-1");
        assert_eq!(dns_name("-a-"), "a");
        assert_eq!(dns_name(&"x".repeat(70)).len(), 63);
        assert_eq!(label_value("/space"), "space");
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi"), "aGk=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(escape_k8s("a $(X) $Y"), "a $$(X) $Y");
        assert_eq!(
            podman_secret(&[("a".into(), "hi".into())]),
            "{\"a\":\"aGk=\"}\n"
        );
    }
}
