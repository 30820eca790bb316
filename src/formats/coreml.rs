#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! Core ML models (`.mlmodel`, a protobuf `CoreML.Specification.Model`; inside an `.mlpackage`
//! directory at `Data/com.apple.CoreML/model.mlmodel`): what a model makes Core ML load besides
//! its own weights. Decoded with prost against the minimal schema in `src/proto/coreml`
//! (unknown fields skipped; prost's recursion limit bounds nesting), then walked:
//!
//! * **custom layers** (`NeuralNetworkLayer.custom`, `CustomLayerParams.className`): Core ML
//!   instantiates the app's `MLCustomLayer` class of that name;
//! * **custom models** (`Model.customModel`, `CustomModel.className`): an `MLCustomModel` class;
//! * **linked models** (`Model.linkedModel`): a compiled model (`.mlmodelc`) found by file name
//!   along a search path, relative to the model or absolute;
//! * **serialized models** (`Model.serializedModel`): bytes in a private format handed to the
//!   framework registered for their `identifier`, which nothing here can inspect;
//! * **pipelines** and neural-network **branch/loop** bodies are recursed.

use prost::Message;

use crate::proto::coreml::{
    linked_model::LinkType, model::Type, neural_network_layer::Layer, Model, NeuralNetworkLayer,
};

/// Nesting (pipelines within pipelines, loops within branches) followed at most this deep.
pub const MAX_NESTING: usize = 64;
/// Facts of each kind kept.
const MAX_FACTS: usize = 256;

/// What a Core ML model refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub specification_version: i32,
    /// The model types met, outermost first (`neuralNetwork`, `pipeline`, …).
    pub types: Vec<&'static str>,
    /// `(path, className)` of custom layers.
    pub custom_layers: Vec<(String, String)>,
    /// `(path, className)` of custom models.
    pub custom_models: Vec<(String, String)>,
    pub linked_models: Vec<LinkedModel>,
    /// `(path, identifier, bytes)` of serialized (private-format) models.
    pub serialized: Vec<(String, String, usize)>,
    /// Nesting was deeper than [`MAX_NESTING`].
    pub too_deep: bool,
    pub author: Option<String>,
}

/// A linked model reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedModel {
    pub path: String,
    pub file_name: String,
    pub search_path: String,
}

impl LinkedModel {
    /// The parts that leave the model's own directory: absolute search paths and file names,
    /// and `..` components (`$BUNDLE_…` entries are the app's bundles, not paths).
    pub fn escapes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let leaves = |p: &str| {
            p.starts_with('/')
                || p.starts_with('~')
                || p.split(['/', '\\']).any(|c| c == "..")
                || p.get(1..3) == Some(":\\")
        };
        if leaves(&self.file_name) {
            out.push(self.file_name.clone());
        }
        for entry in self.search_path.split(':') {
            if !entry.starts_with('$') && leaves(entry) {
                out.push(entry.to_owned());
            }
        }
        out
    }
}

/// Why a model does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreMlError {
    #[error("not a Core ML model protobuf: {0}")]
    Decode(String),
}

/// Decodes and walks a model.
pub fn read(bytes: &[u8]) -> Result<Summary, CoreMlError> {
    let m = Model::decode(bytes).map_err(|e| CoreMlError::Decode(e.to_string()))?;
    let mut s = Summary {
        specification_version: m.specification_version,
        author: m
            .description
            .as_ref()
            .and_then(|d| d.metadata.as_ref())
            .map(|md| md.author.clone())
            .filter(|a| !a.is_empty()),
        ..Summary::default()
    };
    walk_model(&m, "model", 0, &mut s);
    Ok(s)
}

fn push<T>(v: &mut Vec<T>, x: T) {
    if v.len() < MAX_FACTS {
        v.push(x);
    }
}

fn walk_model(m: &Model, path: &str, depth: usize, s: &mut Summary) {
    if depth > MAX_NESTING {
        s.too_deep = true;
        return;
    }
    let next = depth.saturating_add(1);
    let (name, ty): (&'static str, Option<&Type>) = match &m.r#type {
        None => ("(none)", None),
        Some(t) => (type_name(t), Some(t)),
    };
    if s.types.len() < MAX_FACTS {
        s.types.push(name);
    }
    let Some(t) = ty else { return };
    match t {
        Type::Pipeline(p) => walk_pipeline(&p.models, &p.names, path, next, s),
        Type::PipelineClassifier(p) => {
            if let Some(p) = &p.pipeline {
                walk_pipeline(&p.models, &p.names, path, next, s);
            }
        }
        Type::PipelineRegressor(p) => {
            if let Some(p) = &p.pipeline {
                walk_pipeline(&p.models, &p.names, path, next, s);
            }
        }
        Type::NeuralNetwork(n) => walk_layers(&n.layers, path, next, s),
        Type::NeuralNetworkClassifier(n) => walk_layers(&n.layers, path, next, s),
        Type::NeuralNetworkRegressor(n) => walk_layers(&n.layers, path, next, s),
        Type::CustomModel(c) => push(
            &mut s.custom_models,
            (path.to_owned(), c.class_name.clone()),
        ),
        Type::LinkedModel(l) => {
            if let Some(LinkType::LinkedModelFile(f)) = &l.link_type {
                let text = |p: &Option<crate::proto::coreml::StringParameter>| {
                    p.as_ref()
                        .map(|v| v.default_value.clone())
                        .unwrap_or_default()
                };
                push(
                    &mut s.linked_models,
                    LinkedModel {
                        path: path.to_owned(),
                        file_name: text(&f.linked_model_file_name),
                        search_path: text(&f.linked_model_search_path),
                    },
                );
            }
        }
        Type::SerializedModel(m) => push(
            &mut s.serialized,
            (path.to_owned(), m.identifier.clone(), m.model.len()),
        ),
        Type::MlProgram(_) => {}
    }
}

fn type_name(t: &Type) -> &'static str {
    match t {
        Type::PipelineClassifier(_) => "pipelineClassifier",
        Type::PipelineRegressor(_) => "pipelineRegressor",
        Type::Pipeline(_) => "pipeline",
        Type::NeuralNetworkRegressor(_) => "neuralNetworkRegressor",
        Type::NeuralNetworkClassifier(_) => "neuralNetworkClassifier",
        Type::NeuralNetwork(_) => "neuralNetwork",
        Type::MlProgram(_) => "mlProgram",
        Type::CustomModel(_) => "customModel",
        Type::LinkedModel(_) => "linkedModel",
        Type::SerializedModel(_) => "serializedModel",
    }
}

fn walk_pipeline(models: &[Model], names: &[String], path: &str, depth: usize, s: &mut Summary) {
    for (i, m) in models.iter().enumerate() {
        let name = names.get(i).cloned().unwrap_or_else(|| format!("model{i}"));
        walk_model(m, &format!("{path}/{name}"), depth, s);
    }
}

fn walk_layers(layers: &[NeuralNetworkLayer], path: &str, depth: usize, s: &mut Summary) {
    if depth > MAX_NESTING {
        s.too_deep = true;
        return;
    }
    let next = depth.saturating_add(1);
    for l in layers {
        let here = format!("{path}/{}", l.name);
        match &l.layer {
            Some(Layer::Custom(c)) => push(&mut s.custom_layers, (here, c.class_name.clone())),
            Some(Layer::Branch(b)) => {
                for n in [&b.if_branch, &b.else_branch].into_iter().flatten() {
                    walk_layers(&n.layers, &here, next, s);
                }
            }
            Some(Layer::Loop(lp)) => {
                for n in [&lp.condition_network, &lp.body_network]
                    .into_iter()
                    .flatten()
                {
                    walk_layers(&n.layers, &here, next, s);
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::proto::coreml::{
        linked_model, model, neural_network_layer, CustomLayerParams, LinkedModelFile,
        NeuralNetwork, Pipeline, StringParameter,
    };

    #[test]
    fn walks_pipelines_custom_layers_and_links() {
        let nn = Model {
            specification_version: 4,
            r#type: Some(model::Type::NeuralNetwork(NeuralNetwork {
                layers: vec![NeuralNetworkLayer {
                    name: "c".into(),
                    layer: Some(neural_network_layer::Layer::Custom(CustomLayerParams {
                        class_name: "EvilLayer".into(),
                        description: String::new(),
                    })),
                }],
            })),
            ..Model::default()
        };
        let linked = Model {
            r#type: Some(model::Type::LinkedModel(
                crate::proto::coreml::LinkedModel {
                    link_type: Some(linked_model::LinkType::LinkedModelFile(LinkedModelFile {
                        linked_model_file_name: Some(StringParameter {
                            default_value: "x.mlmodelc".into(),
                        }),
                        linked_model_search_path: Some(StringParameter {
                            default_value: ".:../../..:$BUNDLE_MAIN".into(),
                        }),
                    })),
                },
            )),
            ..Model::default()
        };
        let top = Model {
            specification_version: 4,
            r#type: Some(model::Type::Pipeline(Pipeline {
                models: vec![nn, linked],
                names: vec!["first".into()],
            })),
            ..Model::default()
        };
        let s = read(&top.encode_to_vec()).unwrap();
        assert_eq!(s.types, vec!["pipeline", "neuralNetwork", "linkedModel"]);
        assert_eq!(
            s.custom_layers,
            vec![("model/first/c".to_owned(), "EvilLayer".to_owned())]
        );
        assert_eq!(s.linked_models[0].path, "model/model1");
        assert_eq!(s.linked_models[0].escapes(), vec!["../../..".to_owned()]);
        assert!(read(b"\xff\xff\xff").is_err());
    }
}
