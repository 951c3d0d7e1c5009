//! Large JSON files written without holding them in memory: an object's entries serialized on
//! every core a batch at a time, each batch written while the next is serialized
//! (manifest.json's nodes, lineage.json's).
//! In: items and how to serialize one. Out: bytes in a writer.

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
