//! Opening a bundle: the manifest, then each file against it (kind, size, hash), then every
//! provenance line and the chain they form, then (on demand) every object. Each refusal names
//! the file, and the line or object, that caused it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::format::{
    clip, short, BundleError, Entry, Manifest, FILES, FORMAT, MANIFEST, MAX_ENTRIES, MAX_FILE_BYTES, MAX_LINE_BYTES,
    MAX_MANIFEST_BYTES, OBJECTS, PROVENANCE,
};
use super::pack;

/// A bundle whose manifest, files and provenance lines have been checked.
#[derive(Debug)]
pub struct Bundle {
    pub dir: PathBuf,
    /// blake3 of `manifest.json`.
    pub id: String,
    pub manifest: Manifest,
    /// Sorted by key.
    pub entries: Vec<Entry>,
}

/// What the pass over the objects found. Only [`Bundle::check_objects`] makes one (it cannot be
/// built outside this crate), so holding it shows the pass was made: `import` asks for it rather
/// than reading every object twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectsChecked {
    pub objects: usize,
    pub bytes: u64,
}

/// A plain file of the bundle: not a symbolic link, not a folder.
fn plain_file(path: &Path) -> Result<std::fs::Metadata, BundleError> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| BundleError::Io { path: path.to_owned(), source })?;
    if meta.file_type().is_symlink() {
        return Err(BundleError::invalid(
            path,
            "is a symbolic link: a bundle holds plain files only, and none is followed",
        ));
    }
    if !meta.is_file() {
        return Err(BundleError::invalid(path, "is not a plain file"));
    }
    Ok(meta)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io { path: path.to_owned(), source }
}

impl Bundle {
    /// Opens and checks a bundle, all but its objects (`check_objects` streams those).
    pub fn open(dir: &Path) -> Result<Bundle, BundleError> {
        let manifest_path = dir.join(MANIFEST);
        let meta = plain_file(&manifest_path)?;
        if meta.len() > MAX_MANIFEST_BYTES {
            return Err(BundleError::invalid(
                &manifest_path,
                format!("{} bytes: larger than a manifest may be ({MAX_MANIFEST_BYTES})", meta.len()),
            ));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&manifest_path)
            .map_err(io(&manifest_path))?
            .take(MAX_MANIFEST_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io(&manifest_path))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| BundleError::invalid(&manifest_path, format!("malformed JSON: {e}")))?;
        if manifest.format != FORMAT {
            return Err(BundleError::invalid(
                &manifest_path,
                format!("format `{}` is not `{FORMAT}` (made by another version of sgdnoise?)", clip(&manifest.format)),
            ));
        }
        for name in manifest.files.keys() {
            if !FILES.contains(&name.as_str()) {
                return Err(BundleError::invalid(
                    &manifest_path,
                    format!(
                        "names the file `{}`, which is not one of a bundle's files ({}): refused, nothing outside them is read",
                        clip(name),
                        FILES.join(", ")
                    ),
                ));
            }
        }
        for name in FILES {
            let Some(want) = manifest.files.get(name) else {
                return Err(BundleError::invalid(&manifest_path, format!("does not list `{name}`")));
            };
            let path = dir.join(name);
            let meta = plain_file(&path)?;
            if want.bytes > MAX_FILE_BYTES {
                return Err(BundleError::invalid(
                    &path,
                    format!("the manifest gives {} bytes: more than a bundle file may have", want.bytes),
                ));
            }
            if meta.len() < want.bytes {
                return Err(BundleError::invalid(
                    &path,
                    format!("truncated: {} of the {} bytes the manifest gives", meta.len(), want.bytes),
                ));
            }
            if meta.len() > want.bytes {
                return Err(BundleError::invalid(
                    &path,
                    format!("oversized: {} bytes where the manifest gives {}", meta.len(), want.bytes),
                ));
            }
            let mut hasher = blake3::Hasher::new();
            let file = std::fs::File::open(&path).map_err(io(&path))?;
            hasher.update_reader(file.take(want.bytes)).map_err(io(&path))?;
            let actual = hasher.finalize().to_hex().to_string();
            if actual != want.blake3 {
                return Err(BundleError::invalid(
                    &path,
                    format!(
                        "content does not match the manifest: it hashes to {}, the manifest says {}",
                        short(&actual),
                        short(&want.blake3)
                    ),
                ));
            }
        }
        let entries = read_entries(&dir.join(PROVENANCE), manifest.instances)?;
        let bundle = Bundle { dir: dir.to_owned(), id: blake3::hash(&bytes).to_hex().to_string(), manifest, entries };
        bundle.check_chain()?;
        Ok(bundle)
    }

    /// Every input of every line is a line of the bundle, and what is left out is a rebuildable
    /// kind's output.
    fn check_chain(&self) -> Result<(), BundleError> {
        let path = self.dir.join(PROVENANCE);
        let keys: BTreeSet<&str> = self.entries.iter().map(|e| e.key.as_str()).collect();
        for e in &self.entries {
            if let Some(i) = e.inputs.iter().find(|i| !keys.contains(i.key.as_str())) {
                return Err(BundleError::invalid(
                    &path,
                    format!(
                        "{} (key {}) names the input {} (key {}), which the bundle does not hold: the chain is broken",
                        clip(&e.instance),
                        short(&e.key),
                        clip(&i.instance),
                        short(&i.key)
                    ),
                ));
            }
        }
        let used_by = self.users();
        let manifest = self.dir.join(MANIFEST);
        for l in &self.manifest.left_out {
            let rebuildable = used_by.get(l.hash.as_str()).is_some_and(|users| {
                users.iter().all(|e| crate::stages::find(&e.kind).is_some_and(|k| k.rederivable()))
            });
            if !rebuildable {
                return Err(BundleError::invalid(
                    &manifest,
                    format!(
                        "leaves out object {}, which is not the output of a kind rebuilt from raw files",
                        short(&l.hash)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Object hash → the lines whose outputs name it.
    fn users(&self) -> BTreeMap<&str, Vec<&Entry>> {
        let mut out: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        for e in &self.entries {
            for h in e.outputs.values() {
                out.entry(h.as_str()).or_default().push(e);
            }
        }
        out
    }

    /// Whether the bundle carries this object (it is not left out).
    pub fn left_out(&self) -> BTreeSet<&str> {
        self.manifest.left_out.iter().map(|l| l.hash.as_str()).collect()
    }

    /// The objects, as a checked stream.
    pub fn objects(&self) -> Result<pack::Reader, BundleError> {
        pack::Reader::open(&self.dir.join(OBJECTS), self.manifest.object_bytes)
    }

    /// Streams every object: each matches its name, and the pack holds exactly the objects the
    /// lines name that are not left out, as many and as large as the manifest says.
    pub fn check_objects(&self) -> Result<ObjectsChecked, BundleError> {
        let path = self.dir.join(OBJECTS);
        let left = self.left_out();
        let users = self.users();
        let mut reader = self.objects()?;
        let mut seen = BTreeSet::new();
        while let Some((hash, _)) = reader.next_object()? {
            if !users.contains_key(hash.as_str()) || left.contains(hash.as_str()) {
                return Err(BundleError::invalid(
                    &path,
                    format!("holds object {}, which no line of provenance names", short(&hash)),
                ));
            }
            seen.insert(hash);
        }
        for (hash, list) in &users {
            if !seen.contains(*hash) && !left.contains(hash) {
                let e = list[0];
                let output = e.outputs.iter().find(|(_, h)| h == hash).map(|(n, _)| n.as_str()).unwrap_or("?");
                return Err(BundleError::invalid(
                    &self.dir.join(PROVENANCE),
                    format!(
                        "{} (key {}) names object {} as its output {output}, which the bundle neither holds nor leaves out",
                        clip(&e.instance),
                        short(&e.key),
                        short(hash)
                    ),
                ));
            }
        }
        if seen.len() != self.manifest.objects || reader.bytes != self.manifest.object_bytes {
            return Err(BundleError::invalid(
                &path,
                format!(
                    "holds {} objects of {} bytes where the manifest gives {} of {}",
                    seen.len(),
                    reader.bytes,
                    self.manifest.objects,
                    self.manifest.object_bytes
                ),
            ));
        }
        Ok(ObjectsChecked { objects: seen.len(), bytes: reader.bytes })
    }

    /// One object's bytes, checked; `None` when the bundle does not carry it.
    pub fn object(&self, hash: &str) -> Result<Option<Vec<u8>>, BundleError> {
        if !super::format::is_hash(hash) || self.left_out().contains(hash) {
            return Ok(None);
        }
        let mut reader = self.objects()?;
        while let Some((h, bytes)) = reader.next_object()? {
            match h.as_str().cmp(hash) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Ok(Some(bytes)),
                std::cmp::Ordering::Greater => return Ok(None),
            }
        }
        Ok(None)
    }
}

/// The provenance lines, each parsed and checked, in strictly increasing key order.
fn read_entries(path: &Path, declared: usize) -> Result<Vec<Entry>, BundleError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut lines = BufReader::new(GzDecoder::new(file));
    let mut entries: Vec<Entry> = Vec::new();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let n = (&mut lines).take(MAX_LINE_BYTES + 1).read_until(b'\n', &mut line).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                BundleError::invalid(path, "truncated: the compressed stream ends early")
            }
            _ => BundleError::invalid(path, format!("cannot be decompressed: {e}")),
        })?;
        if n == 0 {
            break;
        }
        let at = |message: String| BundleError::invalid(path, format!("line {number}: {message}"));
        if n as u64 > MAX_LINE_BYTES {
            return Err(at(format!("longer than {MAX_LINE_BYTES} bytes")));
        }
        if entries.len() >= declared.min(MAX_ENTRIES) {
            return Err(at(format!("more lines than the {declared} instances the manifest gives")));
        }
        let entry: Entry = serde_json::from_slice(&line).map_err(|e| at(format!("malformed JSON: {e}")))?;
        entry.check().map_err(at)?;
        if entries.last().is_some_and(|p| p.key >= entry.key) {
            return Err(at(format!("key {} is out of order or repeated", short(&entry.key))));
        }
        entries.push(entry);
    }
    if entries.len() != declared {
        return Err(BundleError::invalid(
            path,
            format!("{} lines where the manifest gives {declared} instances", entries.len()),
        ));
    }
    Ok(entries)
}
