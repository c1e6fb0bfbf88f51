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
//! - [`doctor`]: what a deploy needs from this machine and the account, checked;
//! - [`stack`]: the stack on AWS: one module per resource (find, diff, ensure,
//!   delete, leftovers), the deploy and teardown drivers, status;
//! - [`build`]: the functions' build for Lambda, its checks and its zips;
//! - [`aws`]: where calls go, the service clients, SDK errors turned into advice;
//! - [`stackfile`]: `wschat.toml`, found and checked; [`layers`]: each setting
//!   from the first of flag, variable, file, recorded deploy and default that gives it;
//! - [`spec`]: the desired stack, derived from its name, stage, account and settings;
//! - [`health`]: the functions' metrics over a window, as `status` shows them;
//! - [`output`], [`progress`], [`error`], [`clock`], [`duration`]: what every layer uses.
//!
//! The chat itself (protocol, handlers, stores, fan-out) is the `wschat_lambdas`
//! crate: the very code the Lambda functions run.

pub mod aws;
pub mod build;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod doctor;
pub mod duration;
pub mod error;
pub mod health;
pub mod layers;
pub mod ops;
pub mod output;
pub mod progress;
pub mod sandbox;
pub mod spec;
pub mod stack;
pub mod stackfile;

/// Runs one parsed command line; `main` reports the error and exits.
pub async fn run(cli: cli::Cli, origins: cli::ArgOrigins) -> error::Result<std::process::ExitCode> {
    commands::run(cli, origins).await
}

#[cfg(test)]
mod layering {
    //! The layout above, checked, in this crate and in `wschat-lambdas`: no
    //! module imports one that imports it back, among the top-level modules
    //! and among the modules of each directory.
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// The text of a module: its file, or every file of its directory.
    fn text_of(path: &Path) -> String {
        let mut text = String::new();
        let mut pending: Vec<PathBuf> = vec![path.to_owned()];
        while let Some(p) = pending.pop() {
            if p.is_dir() {
                pending.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else if p.extension().is_some_and(|e| e == "rs") {
                // Code only: a doc comment's link is not an import.
                let code = std::fs::read_to_string(&p).unwrap();
                for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
        text
    }

    /// The modules directly in `dir` (files and directories), with their text.
    fn modules(dir: &Path) -> BTreeMap<String, String> {
        let mut found = BTreeMap::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
            if is_module && !["lib", "main", "mod", "bin"].contains(&name.as_str()) {
                found.insert(name, text_of(&path));
            }
        }
        found
    }

    /// The first segment of each path after `prefix` in `text`:
    /// `prefix::a`, and each of `prefix::{a, b::c}`.
    fn named_after(text: &str, prefix: &str) -> BTreeSet<String> {
        let ident = |t: &str| -> String {
            t.trim_start()
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let mut names = BTreeSet::new();
        for rest in text.split(prefix).skip(1) {
            match rest.strip_prefix('{') {
                Some(list) => {
                    let inside = list.split('}').next().unwrap_or_default();
                    names.extend(inside.split(',').map(ident));
                }
                None => {
                    names.insert(ident(rest));
                }
            }
        }
        names
    }

    /// Each module of `dir` and the siblings it names, as `paths` reach them.
    fn graph(dir: &Path, paths: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
        let modules = modules(dir);
        let siblings: BTreeSet<String> = modules.keys().cloned().collect();
        modules
            .iter()
            .map(|(name, text)| {
                let used = paths
                    .iter()
                    .flat_map(|p| named_after(text, p))
                    .filter(|m| m != name && siblings.contains(m))
                    .collect();
                (name.clone(), used)
            })
            .collect()
    }

    /// Panics on the first cycle: a module met again on the current path.
    fn assert_acyclic(place: &str, graph: &BTreeMap<String, BTreeSet<String>>) {
        fn visit<'a>(
            place: &str,
            m: &'a str,
            graph: &'a BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) {
            if let Some(start) = path.iter().position(|p| *p == m) {
                panic!(
                    "import cycle in {place}: {} -> {m}",
                    path[start..].join(" -> ")
                );
            }
            if !done.insert(m) {
                return;
            }
            path.push(m);
            for next in graph.get(m).into_iter().flatten() {
                visit(place, next, graph, path, done);
            }
            path.pop();
        }
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            visit(place, m, graph, &mut Vec::new(), &mut done);
        }
    }

    /// A crate's top level, and each of its directories' modules.
    fn assert_layered(root: &Path, krate: &str) {
        assert_acyclic(krate, &graph(root, &["crate::"]));
        for entry in std::fs::read_dir(root).unwrap() {
            let dir = entry.unwrap().path();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            if dir.is_dir() && name != "bin" {
                let by_path = format!("crate::{name}::");
                let place = format!("{krate}::{name}");
                assert_acyclic(&place, &graph(&dir, &["super::", &by_path]));
            }
        }
    }

    #[test]
    fn no_module_imports_one_that_imports_it_back() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_layered(&root.join("src"), "wschat");
        assert_layered(&root.join("lambdas/src"), "wschat_lambdas");
    }

    #[test]
    fn clap_stays_in_the_command_layer() {
        for (module, text) in modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")) {
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
