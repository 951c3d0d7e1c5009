//! `strata ls`: load -> select -> print the selected nodes (name, path, JSON or selector).

use super::context::{printer_for, selected, Loaded};
use crate::settings::{Output, Settings};
use serde_json::json;

pub(super) fn ls(settings: &Settings, l: &Loaded) -> i32 {
    let printer = printer_for(settings, None);
    let ids = match selected(settings, l, &l.state, &printer) {
        Ok(ids) => ids,
        Err(code) => return code,
    };
    // dbt lists in unique-id order.
    let mut ids = ids;
    ids.sort();
    let wanted =
        |t: &str| settings.resource_types.is_empty() || settings.resource_types.iter().any(|r| r == t || r == "all");
    let mut lines = vec![];
    for id in ids {
        if let Some(n) = l.manifest.nodes.get(&id) {
            if !wanted(n.resource_type.as_str()) {
                continue;
            }
            lines.push(match settings.output {
                Output::Name => n.versioned_name(),
                Output::Path => n.original_file_path.clone(),
                Output::Selector | Output::Text | Output::Dot => n.fqn.join("."),
                Output::Json => json!({
                    "name": n.name, "resource_type": n.resource_type.as_str(), "package_name": n.package_name,
                    "original_file_path": n.original_file_path, "unique_id": n.unique_id, "alias": n.relation.identifier,
                    "config": n.config.to_json(), "tags": n.config.tags(),
                    "depends_on": {"nodes": n.depends_on, "macros": []},
                })
                .to_string(),
            });
        } else if let Some(s) = l.manifest.sources.get(&id) {
            if !wanted("source") {
                continue;
            }
            lines.push(match settings.output {
                Output::Name => format!("{}.{}", s.table.source_name, s.table.name),
                Output::Path => s.table.file.to_string_lossy().replace('\\', "/"),
                Output::Selector | Output::Text | Output::Dot => format!("source:{}", s.fqn.join(".")),
                Output::Json => json!({
                    "name": s.table.name, "source_name": s.table.source_name, "resource_type": "source",
                    "package_name": s.fqn[0], "original_file_path": s.table.file.to_string_lossy().replace('\\', "/"),
                    "unique_id": s.unique_id, "config": s.table.config.to_json(), "tags": s.table.tags,
                })
                .to_string(),
            });
        }
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    print!("{out}");
    0
}
