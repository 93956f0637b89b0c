//! The handler registry: who handles each API and who listens to each
//! message, with the conflicts `ServerBuilder::build` reports.

use std::sync::OnceLock;

use fnv::FnvHashMap;

use super::handler::{ErasedApiFn, ErasedMsgFn, Handler, HandlerInfo};
use super::{AnyMsgCall, MsgListener};
use crate::listeners::Listeners;
use crate::proto::{Location, ServiceInfo, ServiceKind, ServiceTable};
use crate::task::BoxFuture;

pub(crate) type ErasedAnyMsgFn = std::sync::Arc<dyn Fn(AnyMsgCall) -> BoxFuture<()> + Send + Sync>;

/// A message's typed listener, with where it was defined.
pub(crate) type TypedMsgFn = (ErasedMsgFn, HandlerInfo);

/// Every API's handler info and every message listener. The API handlers
/// themselves live in [`ApiFns`], read without a lock.
#[derive(Default)]
pub(crate) struct Registry {
    apis: FnvHashMap<u32, HandlerInfo>,
    pub(crate) msgs: Listeners<TypedMsgFn, ErasedAnyMsgFn>,
}

/// Each API's handler by service id, once it has one. API handlers are
/// only ever added (a second one for an API is refused), so calls read
/// them without a lock or a reference count.
pub(crate) type ApiFns = Box<[OnceLock<ErasedApiFn>]>;

impl Registry {
    /// Adds a `#[tsrpc::handler]` of either kind.
    pub(crate) fn insert(
        &mut self,
        table: &ServiceTable,
        api_fns: &[OnceLock<ErasedApiFn>],
        info: HandlerInfo,
        handler: Handler,
    ) -> Result<(), String> {
        match handler {
            Handler::Api(f) => self.add_api(table, api_fns, info, f),
            Handler::Msg(f) => self.add_msg(table, info, f).map(drop),
        }
    }

    /// Adds an API's handler to `api_fns`, by service id; an API has one.
    pub(crate) fn add_api(
        &mut self,
        table: &ServiceTable,
        api_fns: &[OnceLock<ErasedApiFn>],
        info: HandlerInfo,
        f: ErasedApiFn,
    ) -> Result<(), String> {
        let service = registered(table, &info)?;
        if let Some(first) = self.apis.get(&service.id()) {
            return Err(format!(
                "two handlers for API {:?}: {} and {}",
                info.service(),
                first.location(),
                info.location()
            ));
        }
        self.apis.insert(service.id(), info);
        if let Some(slot) = api_fns.get(service.id() as usize) {
            // Empty: a second handler for an API is refused above.
            let _ = slot.set(f);
        }
        Ok(())
    }

    /// Adds a listener of a message; a message may have any number.
    pub(crate) fn add_msg(
        &mut self,
        table: &ServiceTable,
        info: HandlerInfo,
        f: ErasedMsgFn,
    ) -> Result<MsgListener, String> {
        let service = registered(table, &info)?;
        Ok(MsgListener(self.msgs.add(service.id(), (f, info))))
    }

    /// Every handler and typed listener, ordered by service name.
    pub(crate) fn infos(&self) -> Vec<HandlerInfo> {
        let mut all: Vec<HandlerInfo> = self
            .apis
            .values()
            .copied()
            .chain(self.msgs.typed().map(|(_, info)| *info))
            .collect();
        all.sort_by_key(|h| (h.service(), h.kind(), h.location().path));
        all
    }
}

/// The service a handler is for, or why it cannot be added.
fn registered<'t>(table: &'t ServiceTable, info: &HandlerInfo) -> Result<&'t ServiceInfo, String> {
    let name = info.service();
    table.find(info.kind(), name).ok_or_else(|| {
        let (what, attr) = match info.kind() {
            ServiceKind::Api => ("API", "#[tsrpc::api]"),
            ServiceKind::Msg => ("message", "#[tsrpc::msg]"),
        };
        format!(
            "handler {} is for {what} {name:?}, which is not registered: put {attr} on its type",
            info.location()
        )
    })
}

/// The [`HandlerInfo`] of a handler given at run time, located at its caller.
pub(crate) fn manual_info<F>(
    kind: ServiceKind,
    service: &'static str,
    caller: &'static std::panic::Location<'static>,
) -> HandlerInfo {
    HandlerInfo::manual(
        kind,
        service,
        Location {
            path: std::any::type_name::<F>(),
            file: caller.file(),
            line: caller.line(),
        },
    )
}
