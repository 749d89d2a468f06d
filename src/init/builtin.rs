//! Templates compiled into the binary (sources under `templates/<name>/` in the repository).

/// One file of a built-in template, relative to the template's directory.
#[derive(Debug)]
pub(crate) struct EmbeddedFile {
    pub(crate) path: &'static str,
    pub(crate) text: &'static str,
}

pub(crate) struct Builtin {
    pub(crate) name: &'static str,
    pub(crate) files: &'static [EmbeddedFile],
}

macro_rules! embed {
    ($template:literal, $path:literal) => {
        EmbeddedFile {
            path: $path,
            text: include_str!(concat!("../../templates/", $template, "/", $path)),
        }
    };
}

macro_rules! template {
    ($name:literal $(, $extra:literal)*) => {
        Builtin {
            name: $name,
            files: &[
                embed!($name, "template.json"),
                embed!($name, "space.yaml"),
                embed!($name, "README.md"),
                $(embed!($name, $extra),)*
            ],
        }
    };
}

pub(crate) static BUILTINS: &[Builtin] = &[
    template!("calculator"),
    template!("cat-maze"),
    template!("coder-agent"),
    template!("echo"),
    template!("note-taker", "agents/assistant.cjs"),
];
