//! Unit tests (`unit_tests:` in property YAML) as nodes: one per entry, its model and structure
//! checked where it is written. Running them is `testing::unit`.

use super::{yaml_span, Manifest, Node, ResourceType, TestInfo};
use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics};
use crate::project::config::Config;
use crate::project::Project;
use crate::templating::relation::Relation;
use serde_json::Value as Json;

const UNIT_KEYS: &[&str] = &["name", "model", "description", "given", "expect", "overrides", "config", "versions"];

/// Create a node for every unit test, checking its model and structure.
pub fn add_unit_tests(
    project: &Project,
    package: &crate::project::Package,
    manifest: &mut Manifest,
    diags: &mut Diagnostics,
) {
    let pkg = package.name.clone();
    let models: Vec<String> =
        manifest.nodes.values().filter(|n| n.resource_type == ResourceType::Model).map(|n| n.name.clone()).collect();
    for (file, yp, v) in &package.properties.unit_tests {
        let Json::Object(m) = v else { continue };
        let span = |p: &crate::project::yaml::YPath| yaml_span(project, file, p);
        for k in m.keys() {
            if !UNIT_KEYS.contains(&k.as_str()) {
                diags.push(
                    Diagnostic::error("E0105", format!("unknown key '{k}' on unit test"))
                        .with_span(span(&yp.key(k)))
                        .with_opt_help(did_you_mean(k, UNIT_KEYS.iter().copied())),
                );
            }
        }
        let Some(name) = m.get("name").and_then(Json::as_str) else {
            diags.push(Diagnostic::error("E0106", "unit test entry has no `name`").with_span(span(yp)));
            continue;
        };
        let Some(model) = m.get("model").and_then(Json::as_str) else {
            diags.push(
                Diagnostic::error("E0212", format!("unit test '{name}' has no `model`"))
                    .with_span(span(&yp.key("name")))
                    .with_help("add `model: <the model it tests>`"),
            );
            continue;
        };
        let model_id = format!("model.{pkg}.{model}");
        if !manifest.nodes.contains_key(&model_id) {
            if manifest.disabled.contains(&model_id) {
                continue;
            }
            diags.push(
                Diagnostic::error("E0212", format!("unit test '{name}' tests '{model}', which is not a model"))
                    .with_span(span(&yp.key("model")))
                    .with_opt_help(did_you_mean(model, models.iter().map(String::as_str))),
            );
            continue;
        }
        if !matches!(m.get("given"), Some(Json::Array(_))) {
            diags.push(
                Diagnostic::error("E0213", format!("unit test '{name}' needs a `given:` list of inputs"))
                    .with_span(span(&yp.key("name")))
                    .with_help("write `given: []` for a model without inputs"),
            );
            continue;
        }
        if !matches!(m.get("expect"), Some(Json::Object(_))) {
            diags.push(
                Diagnostic::error("E0213", format!("unit test '{name}' needs an `expect:` block"))
                    .with_span(span(&yp.key("name")))
                    .with_help("add `expect: {rows: [...]}`"),
            );
            continue;
        }
        let mut config = Config::default();
        if let Some(Json::Object(c)) = m.get("config") {
            for (k, v) in c {
                config.set(k, v.clone());
            }
        }
        let file_s = crate::parse::package_relative(package, project, file);
        let mut fqn = vec![pkg.clone()];
        fqn.extend(crate::parse::property_file_folders(&file_s));
        fqn.push(model.to_string());
        fqn.push(name.to_string());
        let unique_id = format!("unit_test.{pkg}.{model}.{name}");
        if !config.enabled() {
            manifest.disabled.insert(unique_id);
            continue;
        }
        let node = Node {
            unique_id: unique_id.clone(),
            name: name.to_string(),
            resource_type: ResourceType::UnitTest,
            package_name: pkg.clone(),
            path: format!("{model}.yml"),
            original_file_path: file.to_string_lossy().replace('\\', "/"),
            raw_code: "".into(),
            fqn,
            config,
            description: m.get("description").and_then(Json::as_str).unwrap_or_default().to_string(),
            columns: vec![],
            patch_path: None,
            refs: vec![crate::templating::RefCall::new(None, model.to_string())],
            sources: vec![],
            depends_on: vec![],
            relation: Relation::new(project.engine().dialect, "", "", name),
            file_path: project.root.join(file),
            test: Some(Box::new(TestInfo {
                metadata: None,
                column_name: None,
                attached_node: Some(model_id),
                decl: Some((file.clone(), yp.clone())),
                unit: Some(v.clone()),
            })),
            language: crate::parse::Language::Sql,
            constraints: vec![],
            version: None,
        };
        if manifest.nodes.contains_key(&unique_id) {
            diags.push(
                Diagnostic::error("E0210", format!("unit test '{name}' of model '{model}' is declared twice"))
                    .with_span(span(&yp.key("name"))),
            );
            continue;
        }
        manifest.nodes.insert(unique_id, Box::new(node));
    }
}
