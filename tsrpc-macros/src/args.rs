//! Attribute arguments and error collection shared by the macros.
//!
//! Every problem is collected and reported at once, each spanned on the
//! tokens that caused it (as serde_derive does).

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::meta::ParseNestedMeta;

/// Errors collected while expanding one macro.
#[derive(Default)]
pub(crate) struct Errors(Vec<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.0.push(error);
    }

    pub(crate) fn spanned<T: ToTokens>(&mut self, tokens: T, message: impl std::fmt::Display) {
        self.0.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The item unchanged, followed by every error: keeping the item avoids
    /// follow-up errors in code that uses it.
    pub(crate) fn emit(self, item: TokenStream) -> TokenStream {
        let errors = self.0.iter().map(syn::Error::to_compile_error);
        quote! { #item #(#errors)* }
    }
}

/// Parses `key = value, ...` attribute arguments. `on_key` parses the value
/// of a known key; unknown and repeated keys are reported with the list of
/// expected ones (as jsonrpsee does), and parsing goes on so that every
/// problem is reported.
pub(crate) fn parse(
    attr: TokenStream,
    macro_name: &str,
    expected: &[&str],
    errors: &mut Errors,
    mut on_key: impl FnMut(&str, &ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    if attr.is_empty() {
        return;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut local = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.to_token_stream().to_string().replace(' ', "");
        if !expected.contains(&key.as_str()) {
            let list = if expected.is_empty() {
                format!("`{macro_name}` takes no arguments")
            } else {
                let names: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
                format!("expected one of: {}", names.join(", "))
            };
            local.push(meta.error(format!("unknown argument `{key}`, {list}")));
            skip_value(&meta)
        } else if seen.contains(&key) {
            local.push(meta.error(format!("duplicate argument `{key}`")));
            skip_value(&meta)
        } else {
            seen.push(key.clone());
            on_key(&key, &meta)
        }
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, attr) {
        local.push(e);
    }
    for e in local {
        errors.push(e);
    }
}

fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    }
    Ok(())
}

/// The rule `tsrpc::proto::is_valid_service_name` checks at run time:
/// `/`-separated segments of ASCII letters, digits, `_`, `-` and `.`.
pub(crate) fn service_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("a service name cannot be empty");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Some("a service name is `/`-separated segments, none of them empty");
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/'))
    {
        return Some("a service name may only hold ASCII letters, digits, `_`, `-`, `.` and `/`");
    }
    None
}
