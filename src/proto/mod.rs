//! Protobuf types generated at build time from the vendored `.proto` files in this folder (see
//! build.rs). Each protobuf package becomes one module here.
