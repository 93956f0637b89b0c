//! `#[api]` and `#[msg]`: implement `tsrpc::Api` / `tsrpc::Message` on a
//! struct and register its descriptor with `inventory`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{Fields, Ident, Item, ItemStruct, LitStr, Type};

use crate::args::{self, Errors};

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Api,
    Msg,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Api => "#[tsrpc::api]",
            Kind::Msg => "#[tsrpc::msg]",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Kind::Api => "Req",
            Kind::Msg => "Msg",
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Api => &["name", "res"],
            Kind::Msg => &["name"],
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Api => "an API request",
            Kind::Msg => "a message",
        }
    }
}

pub(crate) fn expand(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let mut name: Option<LitStr> = None;
    let mut res: Option<Type> = None;
    args::parse(attr, kind.attr(), kind.keys(), &mut errors, |key, meta| {
        match key {
            "name" => name = Some(meta.value()?.parse()?),
            _ => res = Some(meta.value()?.parse()?),
        }
        Ok(())
    });

    let item_struct: ItemStruct = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(s)) => s,
        Ok(Item::Enum(e)) => {
            errors.spanned(
                e.enum_token,
                format!(
                    "{} goes on a struct with named fields: {} cannot be an enum",
                    kind.attr(),
                    kind.what()
                ),
            );
            return errors.emit(item);
        }
        Ok(Item::Union(u)) => {
            errors.spanned(
                u.union_token,
                format!("{} goes on a struct with named fields", kind.attr()),
            );
            return errors.emit(item);
        }
        Ok(other) => {
            errors.spanned(
                other,
                format!("{} goes on a struct with named fields", kind.attr()),
            );
            return errors.emit(item);
        }
        Err(e) => {
            errors.push(e);
            return errors.emit(item);
        }
    };
    let ident = &item_struct.ident;

    match &item_struct.fields {
        Fields::Named(_) => {}
        Fields::Unnamed(fields) => errors.spanned(
            fields,
            format!(
                "{} needs named fields: TSRPC peers send {} as a JSON object",
                kind.attr(),
                kind.what()
            ),
        ),
        Fields::Unit => errors.spanned(
            ident,
            format!(
                "{} needs named fields; write `struct {ident} {{}}` for an empty one",
                kind.attr()
            ),
        ),
    }
    if !item_struct.generics.params.is_empty() || item_struct.generics.where_clause.is_some() {
        errors.spanned(
            &item_struct.generics,
            format!(
                "{} does not support generic structs: each protocol type is registered once",
                kind.attr()
            ),
        );
    }

    let suffix = ident
        .to_string()
        .strip_prefix(kind.prefix())
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let name = match (&name, &suffix) {
        (Some(lit), _) => {
            if let Some(problem) = args::service_name_problem(&lit.value()) {
                errors.spanned(
                    lit,
                    format!("invalid service name {:?}: {problem}", lit.value()),
                );
            }
            lit.clone()
        }
        (None, Some(suffix)) => {
            if let Some(problem) = args::service_name_problem(suffix) {
                errors.spanned(
                    ident,
                    format!("the name {suffix:?} derived from `{ident}` is invalid: {problem}"),
                );
            }
            LitStr::new(suffix, ident.span())
        }
        (None, None) => {
            errors.spanned(
                ident,
                format!(
                    "cannot derive a service name from `{ident}`: name the struct `{}Xxx` or give `{}(name = \"...\")]`",
                    kind.prefix(),
                    kind.attr().trim_end_matches(']')
                ),
            );
            LitStr::new("", ident.span())
        }
    };
    let res = match (kind, res, &suffix) {
        (Kind::Msg, _, _) => None,
        (Kind::Api, Some(res), _) => Some(res),
        (Kind::Api, None, Some(suffix)) => {
            let res = format_ident!("Res{}", suffix, span = ident.span());
            Some(syn::parse_quote!(#res))
        }
        (Kind::Api, None, None) => {
            errors.spanned(
                ident,
                format!("missing response type: `{ident}` does not start with `Req`, so give `#[tsrpc::api(res = ResXxx)]`"),
            );
            None
        }
    };

    if !errors.is_empty() {
        return errors.emit(item);
    }
    let descriptor = descriptor(kind, ident);
    let span = ident.span();
    let trait_impl = match res {
        Some(res) => {
            // Spanned at the response type where the user wrote it
            // (`res = ResXxx`): an error about it points there.
            let res_span = syn::spanned::Spanned::span(&res);
            let res_item = quote_spanned! {res_span=> type Res = #res; };
            quote_spanned! {span=>
                impl ::tsrpc::Api for #ident {
                    const NAME: &'static str = #name;
                    #res_item
                }
            }
        }
        None => quote_spanned! {span=>
            impl ::tsrpc::Message for #ident {
                const NAME: &'static str = #name;
            }
        },
    };
    quote! {
        #item_struct
        #trait_impl
        #descriptor
    }
}

fn descriptor(kind: Kind, ident: &Ident) -> TokenStream {
    let constructor = match kind {
        Kind::Api => Ident::new("api", Span::call_site()),
        Kind::Msg => Ident::new("msg", Span::call_site()),
    };
    let ident_str = ident.to_string();
    quote! {
        ::tsrpc::__private::inventory::submit! {
            ::tsrpc::__private::ServiceDescriptor::#constructor::<#ident>(::tsrpc::__private::Location {
                path: ::core::concat!(::core::module_path!(), "::", #ident_str),
                file: ::core::file!(),
                line: ::core::line!(),
            })
        }
    }
}
