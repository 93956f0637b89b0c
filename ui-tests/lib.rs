//! Compile tests of the tsrpc macros live in `ui.rs`; see the folders per macro.
