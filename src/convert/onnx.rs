//! Small helpers that build ONNX protobuf messages (`crate::proto::onnx`).

use crate::proto::onnx::{
    attribute_proto::AttributeType, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// TensorProto data types used here.
pub const FLOAT: i32 = 1;
pub const INT64: i32 = 7;
pub const STRING: i32 = 8;

/// The ai.onnx.ml domain.
pub const ML: &str = "ai.onnx.ml";

pub fn attr_f(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(v),
        ..Default::default()
    }
}

pub fn attr_i(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

pub fn attr_s(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(v.as_bytes().to_vec()),
        ..Default::default()
    }
}

pub fn attr_floats(name: &str, v: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Floats as i32),
        floats: v,
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, v: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v,
        ..Default::default()
    }
}

pub fn attr_strings(name: &str, v: &[String]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Strings as i32),
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

pub fn node(
    op: &str,
    domain: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: outputs.iter().map(|s| (*s).to_owned()).collect(),
        name: Some(name.into()),
        op_type: Some(op.into()),
        domain: Some(domain.into()),
        attribute: attrs,
        ..Default::default()
    }
}

/// A tensor type with a symbolic batch dimension and the given trailing dims.
pub fn tensor_type(elem: i32, dims: &[Option<i64>]) -> TypeProto {
    TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: Some(elem),
            shape: Some(TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|d| tensor_shape_proto::Dimension {
                        value: Some(match d {
                            Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                            None => tensor_shape_proto::dimension::Value::DimParam("N".into()),
                        }),
                        ..Default::default()
                    })
                    .collect(),
            }),
        })),
        ..Default::default()
    }
}

/// `seq(map(key, tensor(float)))`, ZipMap's output type.
pub fn zipmap_type(key: i32) -> TypeProto {
    TypeProto {
        value: Some(type_proto::Value::SequenceType(Box::new(
            type_proto::Sequence {
                elem_type: Some(Box::new(TypeProto {
                    value: Some(type_proto::Value::MapType(Box::new(type_proto::Map {
                        key_type: Some(key),
                        value_type: Some(Box::new(TypeProto {
                            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                                elem_type: Some(FLOAT),
                                shape: None,
                            })),
                            ..Default::default()
                        })),
                    }))),
                    ..Default::default()
                })),
            },
        ))),
        ..Default::default()
    }
}

pub fn value_info(name: &str, t: TypeProto) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(t),
        ..Default::default()
    }
}

/// A model with opsets {"": 17, "ai.onnx.ml": `ml`} and IR version 8.
pub fn model(graph: GraphProto, ml: i64, doc: &str) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![
            OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(17),
            },
            OperatorSetIdProto {
                domain: Some(ML.into()),
                version: Some(ml),
            },
        ],
        producer_name: Some("modelgate".into()),
        producer_version: Some(crate::finding::VERSION.into()),
        doc_string: Some(doc.into()),
        graph: Some(graph),
        ..Default::default()
    }
}
