//! Entry point: everything lives in the library; `main` only maps the outcome to an exit code.
fn main() -> std::process::ExitCode {
    mew::cli::main()
}
