//! Embeds the web demo (`web/dist`, committed, built from `web/src` by `npm run build`) in the
//! binary, so `cargo run -p duet-server` serves a working chat page without Node. Writes
//! `$OUT_DIR/web_demo.rs`: a list of `(path, bytes)` with `include_bytes!` for each file.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = manifest.join("../../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    let mut source =
        String::from("/// The web demo's files: path below the site root, contents.\n");
    source.push_str("pub(crate) static FILES: &[(&str, &[u8])] = &[\n");
    for (relative, absolute) in &files {
        println!("cargo:rerun-if-changed={}", absolute.display());
        source.push_str(&format!(
            "    ({relative:?}, include_bytes!({:?})),\n",
            absolute.display().to_string()
        ));
    }
    source.push_str("];\n");
    if files.is_empty() {
        println!(
            "cargo:warning=web/dist is missing: the binary serves no web demo (run `npm run build` in web/)"
        );
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(error) = std::fs::write(out.join("web_demo.rs"), source) {
        println!("cargo:warning=cannot write the embedded web demo: {error}");
    }
}

/// Every file below `dir`, as (path relative to `root` with `/`, absolute path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let (Ok(relative), Ok(absolute)) = (path.strip_prefix(root), path.canonicalize())
        {
            let relative = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((relative, absolute));
        }
    }
}
