//! Procedural macros of tsrpc. Use them through the `tsrpc` crate:
//! `#[tsrpc::api]`, `#[tsrpc::msg]`, `#[tsrpc::handler]`.
use proc_macro::TokenStream;
#[proc_macro_attribute]
pub fn api(_a: TokenStream, i: TokenStream) -> TokenStream { i }
#[proc_macro_attribute]
pub fn msg(_a: TokenStream, i: TokenStream) -> TokenStream { i }
#[proc_macro_attribute]
pub fn handler(_a: TokenStream, i: TokenStream) -> TokenStream { i }
