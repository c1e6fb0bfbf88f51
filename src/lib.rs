//! The `wschat` command-line tool. `main.rs` only parses and reports; everything lives here.
//!
//! # Layout
//!
//! Dependencies point down this list, never up:
//!
//! - [`cli`]: clap's types, and their conversion into the plain types below;
//! - [`commands`]: one function per command: run it, print its report, pick the exit code;
//! - [`ops`]: operating a live stack (connections, broadcast, logs) on AWS or a running sandbox;
//! - [`sandbox`]: `wschat dev`, a local API Gateway around the chat's own handlers;
//! - [`stack`]: the stack on AWS: one module per resource (describe, ensure, delete),
//!   the deploy and teardown drivers, status, packaging;
//! - [`aws`]: where calls go, the service clients, SDK errors turned into advice;
//! - [`stackfile`]: `wschat.toml`, found and checked; [`layers`]: each setting
//!   from the first of flag, variable, file, recorded deploy and default that gives it;
//! - [`spec`]: the desired stack, derived from its name, stage, account and settings;
//! - [`output`], [`progress`], [`error`], [`clock`], [`duration`]: what every layer uses.
//!
//! The chat itself (protocol, handlers, stores, fan-out) is the `wschat_lambdas`
//! crate: the very code the Lambda functions run.

pub mod aws;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod duration;
pub mod error;
pub mod layers;
pub mod ops;
pub mod output;
pub mod progress;
pub mod sandbox;
pub mod spec;
pub mod stack;
pub mod stackfile;

/// Runs one parsed command line; `main` reports the error and exits.
pub async fn run(cli: cli::Cli) -> error::Result<std::process::ExitCode> {
    commands::run(cli).await
}

#[cfg(test)]
mod layering {
    //! The layout above, checked: no module of this crate reaches up.
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// Each top-level module and the text of all its files.
    fn sources() -> BTreeMap<String, String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut modules = BTreeMap::new();
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if ["lib", "main"].contains(&name.as_str()) {
                continue;
            }
            let mut text = String::new();
            let mut pending: Vec<PathBuf> = vec![path];
            while let Some(p) = pending.pop() {
                if p.is_dir() {
                    pending.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
                } else if p.extension().is_some_and(|e| e == "rs") {
                    text.push_str(&std::fs::read_to_string(&p).unwrap());
                }
            }
            modules
                .entry(name)
                .or_insert_with(String::new)
                .push_str(&text);
        }
        modules
    }

    /// Each top-level module and the others it names as `crate::x`.
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        sources()
            .into_iter()
            .map(|(name, text)| {
                assert!(
                    !text.contains("crate::{"),
                    "{name}: name each module on its own"
                );
                let used = text
                    .split("crate::")
                    .skip(1)
                    .filter_map(|rest| {
                        rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                            .next()
                    })
                    .filter(|m| *m != name)
                    .map(str::to_owned)
                    .collect();
                (name, used)
            })
            .collect()
    }

    #[test]
    fn no_module_imports_one_that_imports_it_back() {
        let graph = imports();
        // Depth-first; a module met again on the current path closes a cycle.
        fn visit<'a>(
            m: &'a str,
            graph: &'a BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) {
            if let Some(start) = path.iter().position(|p| *p == m) {
                panic!("import cycle: {} -> {m}", path[start..].join(" -> "));
            }
            if !done.insert(m) {
                return;
            }
            path.push(m);
            for next in graph.get(m).into_iter().flatten() {
                if graph.contains_key(next) {
                    visit(next, graph, path, done);
                }
            }
            path.pop();
        }
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            visit(m, &graph, &mut Vec::new(), &mut done);
        }
    }

    #[test]
    fn clap_stays_in_the_command_layer() {
        for (module, text) in sources() {
            if ["cli", "commands", "output"].contains(&module.as_str()) {
                continue;
            }
            assert!(
                !text.contains("clap::") && !text.contains("crate::cli"),
                "{module} uses clap or the cli module"
            );
        }
    }
}
