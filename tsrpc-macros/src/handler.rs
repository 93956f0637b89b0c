//! `#[handler]`: registers an `async fn` as the handler of an API
//! (`call: ApiCall<ReqXxx>` -> `Result<ResXxx, TsrpcError>`) or of a message
//! (`call: MsgCall<MsgXxx>`, no return value), with any number of
//! `State<T>` arguments after the call.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Item, ItemFn, PathArguments, ReturnType, Type};

use crate::args::{self, Errors};

const ARG_HELP: &str = "`call: ApiCall<ReqXxx>` or `call: MsgCall<MsgXxx>`";
const STATE_HELP: &str = "the arguments after the call are app state, `name: State<T>` (set with `ServerBuilder::state`)";

enum CallKind {
    Api,
    Msg,
}

/// `Name<T>` (any path ending so) as `Name` and `T`.
fn generic_one(ty: &Type) -> Option<(String, &Type)> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    if args.args.len() != 1 {
        return None;
    }
    match args.args.first() {
        Some(GenericArgument::Type(inner)) => Some((last.ident.to_string(), inner)),
        _ => None,
    }
}

/// `ApiCall<T>` / `MsgCall<T>` (any path ending so), as the kind and `T`.
fn call_type(ty: &Type) -> Option<(CallKind, &Type)> {
    let (name, inner) = generic_one(ty)?;
    match name.as_str() {
        "ApiCall" => Some((CallKind::Api, inner)),
        "MsgCall" => Some((CallKind::Msg, inner)),
        _ => None,
    }
}

/// `State<T>` (any path ending so), as `T`.
fn state_type(ty: &Type) -> Option<&Type> {
    generic_one(ty).and_then(|(name, inner)| (name == "State").then_some(inner))
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    args::parse(attr, "#[tsrpc::handler]", &[], &mut errors, |_, _| Ok(()));

    let f: ItemFn = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => f,
        Ok(other) => {
            errors.spanned(other, "#[tsrpc::handler] goes on an `async fn`");
            return errors.emit(item);
        }
        Err(e) => {
            errors.push(e);
            return errors.emit(item);
        }
    };
    let sig = &f.sig;
    if sig.asyncness.is_none() {
        errors.spanned(sig.fn_token, "a tsrpc handler must be an `async fn`");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(&sig.generics, "a tsrpc handler cannot be generic");
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, "a tsrpc handler cannot be variadic");
    }

    let mut call = None;
    if sig.inputs.is_empty() {
        errors.push(syn::Error::new(
            sig.paren_token.span.join(),
            format!("a handler takes the call as its first argument: {ARG_HELP}"),
        ));
    }
    let mut states = Vec::new();
    for arg in sig.inputs.iter().skip(1) {
        match arg {
            FnArg::Typed(arg) => match state_type(&arg.ty) {
                Some(inner) => states.push(inner),
                None => errors.spanned(&arg.ty, format!("expected `State<T>`: {STATE_HELP}")),
            },
            FnArg::Receiver(receiver) => errors.spanned(receiver, STATE_HELP),
        }
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(receiver)) => errors.spanned(
            receiver,
            format!("a handler is a free function taking {ARG_HELP}"),
        ),
        Some(FnArg::Typed(arg)) => match call_type(&arg.ty) {
            Some(found) => call = Some(found),
            None => errors.spanned(&arg.ty, format!("expected {ARG_HELP}")),
        },
        None => {}
    }

    let ret_span = match (&call, &sig.output) {
        (Some((CallKind::Api, _)), ReturnType::Default) => {
            errors.push(syn::Error::new(
                sig.paren_token.span.close(),
                "an API handler returns `Result<ResXxx, TsrpcError>`: add `-> Result<ResXxx, TsrpcError>`",
            ));
            None
        }
        (Some((CallKind::Msg, _)), ReturnType::Type(_, ty)) if !is_unit(ty) => {
            errors.spanned(
                ty,
                "a message handler returns nothing: remove the return type",
            );
            None
        }
        (_, ReturnType::Type(_, ty)) => Some(ty.span()),
        (_, ReturnType::Default) => Some(sig.ident.span()),
    };

    let (Some((kind, inner)), Some(ret_span), true) = (call, ret_span, errors.is_empty()) else {
        return errors.emit(item);
    };
    let fn_name = &sig.ident;
    let fn_name_str = fn_name.to_string();
    let location = quote! {
        ::tsrpc::__private::Location {
            path: ::core::concat!(::core::module_path!(), "::", #fn_name_str),
            file: ::core::file!(),
            line: ::core::line!(),
        }
    };
    // Each `State<T>` argument: read from the call's server (checked when
    // the server is built), and listed for that check.
    let state_vars: Vec<_> = (0..states.len())
        .map(|i| quote::format_ident!("__tsrpc_state_{}", i))
        .collect();
    let state_keys = quote! {
        const STATES: &'static [::tsrpc::__private::StateKey] =
            &[#(::tsrpc::__private::StateKey::of::<#states>()),*];
    };
    let failed = match kind {
        CallKind::Api => quote! { ::tsrpc::__private::api_failed(e) },
        CallKind::Msg => {
            quote! { ::tsrpc::__private::msg_failed(<#inner as ::tsrpc::Message>::NAME, e) }
        }
    };
    let read_states = quote! {
        #(
            let #state_vars = match ::tsrpc::__private::handler_state::<#states>(call.server()) {
                ::core::result::Result::Ok(state) => state,
                ::core::result::Result::Err(e) => return #failed,
            };
        )*
    };
    let glue = match kind {
        CallKind::Api => {
            let future = quote_spanned! {ret_span=> ::tsrpc::__private::api_future::<#inner, _>(#fn_name(call #(, #state_vars)*)) };
            quote! {
                impl ::tsrpc::__private::ApiHandlerFn for __TsrpcHandler {
                    type Req = #inner;
                    #state_keys
                    fn call(
                        call: ::tsrpc::ApiCall<#inner>,
                    ) -> ::tsrpc::__private::BoxFuture<
                        ::core::result::Result<<#inner as ::tsrpc::Api>::Res, ::tsrpc::TsrpcError>,
                    > {
                        #read_states
                        #future
                    }
                }
                ::tsrpc::__private::inventory::submit! {
                    ::tsrpc::__private::HandlerDescriptor::api::<__TsrpcHandler>(#location)
                }
            }
        }
        CallKind::Msg => {
            let future = quote_spanned! {ret_span=> ::tsrpc::__private::msg_future(#fn_name(call #(, #state_vars)*)) };
            quote! {
                impl ::tsrpc::__private::MsgHandlerFn for __TsrpcHandler {
                    type Msg = #inner;
                    #state_keys
                    fn call(call: ::tsrpc::MsgCall<#inner>) -> ::tsrpc::__private::BoxFuture<()> {
                        #read_states
                        #future
                    }
                }
                ::tsrpc::__private::inventory::submit! {
                    ::tsrpc::__private::HandlerDescriptor::msg::<__TsrpcHandler>(#location)
                }
            }
        }
    };
    quote! {
        #f
        const _: () = {
            #[doc(hidden)]
            struct __TsrpcHandler;
            #glue
        };
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}
