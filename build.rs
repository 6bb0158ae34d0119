//! Embeds the migration trees in the binary: generates a list of `(relative path,
//! include_str!(file))` pairs for `legacy_migrations/` and `alembic_versions/`, so that
//! `strata-manage` works from any directory. Cargo re-runs this script (and so rebuilds the
//! crate) whenever a file in either folder is added, removed or changed.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const TREES: [(&str, &str); 2] = [("LEGACY_FILES", "legacy_migrations"), ("ALEMBIC_FILES", "alembic_versions")];

fn main() -> io::Result<()> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut generated = String::new();
    for (constant, folder) in TREES {
        let root = manifest_dir.join(folder);
        println!("cargo:rerun-if-changed={}", root.display());
        let mut files = Vec::new();
        collect(&root, &mut files)?;
        files.sort();
        generated.push_str(&format!("pub(super) const {constant}: &[(&str, &str)] = &[\n"));
        for file in files {
            let relative = file.strip_prefix(&root).expect("below root");
            let relative: Vec<String> =
                relative.components().map(|part| part.as_os_str().to_string_lossy().into_owned()).collect();
            generated.push_str(&format!(
                "    ({:?}, include_str!({:?})),\n",
                relative.join("/"),
                file.display().to_string()
            ));
        }
        generated.push_str("];\n");
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("embedded_trees.rs");
    fs::write(out, generated)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}
