//! Procedural macros of [tsrpc](https://docs.rs/tsrpc). Use them through the
//! `tsrpc` crate, which documents them: `#[tsrpc::api]`, `#[tsrpc::msg]`,
//! `#[tsrpc::handler]`. The generated code reaches everything through
//! `::tsrpc::__private`, so users depend on `tsrpc` alone.

#![warn(clippy::unwrap_used)]

use proc_macro::TokenStream;

mod args;
mod handler;
mod service;

/// (The `tsrpc-macros` crate's attribute: use it as `tsrpc::api`.)
#[proc_macro_attribute]
pub fn api(attr: TokenStream, item: TokenStream) -> TokenStream {
    service::expand(service::Kind::Api, attr.into(), item.into()).into()
}

/// (The `tsrpc-macros` crate's attribute: use it as `tsrpc::msg`.)
#[proc_macro_attribute]
pub fn msg(attr: TokenStream, item: TokenStream) -> TokenStream {
    service::expand(service::Kind::Msg, attr.into(), item.into()).into()
}

/// (The `tsrpc-macros` crate's attribute: use it as `tsrpc::handler`.)
#[proc_macro_attribute]
pub fn handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::expand(attr.into(), item.into()).into()
}
