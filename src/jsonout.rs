//! Large JSON files written without holding them in memory: an object's entries serialized on
//! every core a batch at a time, each batch written while the next is serialized
//! (manifest.json's nodes and parent/child maps, lineage.json's nodes), into a new file renamed
//! over the old one.
//! In: items and how to serialize one. Out: bytes in a writer, a file replaced.

/// Write the entries of a large JSON object (`"key":value` each, joined by commas, without the
/// braces) to `f`: `entry` serializes one item; the items are serialized on every core `batch`
/// at a time (`batch / 8` per task), and each batch is written while the next is serialized, so
/// the file is never in memory as a whole.
pub fn write_entries<T: Sync, W: std::io::Write + Send>(
    f: &mut W,
    items: &[T],
    batch: usize,
    entry: impl Fn(&T, &mut Vec<u8>) -> serde_json::Result<()> + Sync,
) -> std::io::Result<()> {
    use rayon::prelude::*;
    let mut first = true;
    let mut write_parts = |f: &mut W, parts: Vec<Vec<u8>>| {
        for p in parts {
            if !first {
                f.write_all(b",")?;
            }
            first = false;
            f.write_all(&p)?;
        }
        Ok::<(), std::io::Error>(())
    };
    let mut serialized: Vec<Vec<u8>> = vec![];
    for items in items.chunks(batch.max(1)) {
        let (parts, written) = rayon::join(
            || {
                items
                    .par_chunks((batch / 8).max(1))
                    .map(|chunk| {
                        let mut buf = Vec::with_capacity(chunk.len() * 1024);
                        for item in chunk {
                            entry(item, &mut buf)?;
                            buf.push(b',');
                        }
                        buf.pop();
                        Ok(buf)
                    })
                    .collect::<serde_json::Result<Vec<Vec<u8>>>>()
            },
            || write_parts(f, std::mem::take(&mut serialized)),
        );
        written?;
        serialized = parts.map_err(std::io::Error::other)?;
    }
    write_parts(f, serialized)
}

/// Write the file at `path` anew through `write` (a buffered writer): into a new file beside it,
/// renamed over it once complete. An old file there is emptied on another thread meanwhile:
/// opening it with truncation was the first 13-23 ms of writing manifest.json at 10,000 models
/// when its pages were already on disk, most of it waiting, with the cores idle. (A reader that
/// opens the file during the write finds it empty, as it found it truncated before; from the
/// rename on, complete.)
pub fn replace_file(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::thread::scope(|scope| {
        if let Ok(old) = std::fs::OpenOptions::new().write(true).open(path) {
            // Its result does not matter: the rename replaces the file either way.
            scope.spawn(move || old.set_len(0));
        }
        let written = std::fs::File::create(&tmp).and_then(|f| {
            let mut f = std::io::BufWriter::with_capacity(1 << 20, f);
            write(&mut f)?;
            f.flush()
        });
        match written {
            Ok(()) => std::fs::rename(&tmp, path),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    })
}

/// `"key":value`, an object's entry as [`write_entries`] writes it.
pub fn key_value<K: serde::Serialize, V: serde::Serialize>(
    (key, value): &(K, V),
    buf: &mut Vec<u8>,
) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *buf, key)?;
    buf.push(b':');
    serde_json::to_writer(buf, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_has_only_the_new_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, "x".repeat(100_000)).unwrap();
        replace_file(&path, |f| std::io::Write::write_all(f, b"{}")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        // A new file, and a failed write that leaves no temporary file behind.
        let new = dir.path().join("lineage.json");
        replace_file(&new, |f| std::io::Write::write_all(f, b"[1]")).unwrap();
        assert_eq!(std::fs::read_to_string(&new).unwrap(), "[1]");
        let failed = replace_file(&dir.path().join("run_results.json"), |_| Err(std::io::Error::other("disk full")));
        assert!(failed.is_err());
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        left.sort();
        assert_eq!(left, ["lineage.json", "manifest.json"]);
    }

    #[test]
    fn entries_across_batches_are_the_object_serde_writes() {
        for n in [0, 1, 7, 8, 9, 2500] {
            let items: Vec<(String, Vec<usize>)> = (0..n).map(|i| (format!("k{i:05}"), vec![i; i % 3])).collect();
            let mut out = b"{".to_vec();
            write_entries(&mut out, &items, 8, key_value).unwrap();
            out.push(b'}');
            let expected: std::collections::BTreeMap<&String, &Vec<usize>> =
                items.iter().map(|(k, v)| (k, v)).collect();
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&expected).unwrap(), "{n} items");
        }
    }
}
