//! The server: handlers, the service table they serve, and calls.
//!
//! A [`Server`] is built from every `#[tsrpc::handler]` linked into the
//! program (or a selection of them, see
//! [`ServerBuilder::select_handlers`]) plus handlers added at run time with
//! [`Server::implement_api`]. Conflicts (two handlers for one API, a handler
//! for an API that is not registered, two APIs with one name) are reported
//! by [`ServerBuilder::build`], all at once, naming every definition.

mod call;
mod connection;
mod handler;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

pub use call::{ApiCall, MsgCall};
pub use connection::{Connection, Transport};
pub use handler::HandlerInfo;
#[doc(hidden)]
pub use handler::{
    ApiHandlerFn, BoxFuture, HandlerDescriptor, MsgHandlerFn, api_future, msg_future,
};
use handler::{CallContext, ErasedApiFn, ErasedMsgFn, Handler};

use crate::error::{TsrpcError, codes};
use crate::proto::{AnyValue, Api, Location, ServiceKind, ServiceTable, TableError};

/// Why a server could not be set up: every problem found, one per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot set up the tsrpc server:\n  {}", .problems.join("\n  "))]
pub struct SetupError {
    problems: Vec<String>,
}

impl SetupError {
    /// One line per problem.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl From<TableError> for SetupError {
    fn from(e: TableError) -> Self {
        SetupError {
            problems: e.problems().to_vec(),
        }
    }
}

type HandlerFilter = Box<dyn Fn(&HandlerInfo) -> bool + Send + Sync>;

/// Builds a [`Server`]. Get one with [`Server::builder`].
pub struct ServerBuilder {
    filter: Option<HandlerFilter>,
    api_timeout: Option<Duration>,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("select_handlers", &self.filter.is_some())
            .field("api_timeout", &self.api_timeout)
            .finish()
    }
}

/// The default [`ServerBuilder::api_timeout`], as TSRPC's.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(30);

impl ServerBuilder {
    /// Serve only the registered `#[handler]`s for which `filter` returns
    /// true (all of them by default). Useful when one program runs several
    /// servers, for example a public and an admin one:
    ///
    /// ```
    /// let admin = tsrpc::Server::builder()
    ///     .select_handlers(|h| h.location().path.contains("::admin::"))
    ///     .build();
    /// ```
    pub fn select_handlers(
        mut self,
        filter: impl Fn(&HandlerInfo) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Box::new(filter));
        self
    }

    /// How long a handler may run before its call fails with
    /// `SERVER_TIMEOUT` (30 s by default); `None` lets handlers run forever.
    pub fn api_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.api_timeout = timeout;
        self
    }

    /// Builds the server, reporting every setup problem at once.
    pub fn build(self) -> Result<Server, SetupError> {
        let table = ServiceTable::global()?;
        let mut handlers = HandlerMap::default();
        let mut problems = Vec::new();
        for descriptor in inventory::iter::<HandlerDescriptor>() {
            if self
                .filter
                .as_ref()
                .is_some_and(|keep| !keep(&descriptor.info))
            {
                continue;
            }
            if let Err(problem) = handlers.insert(table, descriptor.info, (descriptor.make)()) {
                problems.push(problem);
            }
        }
        if !problems.is_empty() {
            problems.sort();
            return Err(SetupError { problems });
        }
        Ok(Server {
            inner: Arc::new(ServerInner {
                table,
                handlers: RwLock::new(handlers),
                api_timeout: self.api_timeout,
                next_conn_id: AtomicU64::new(1),
                in_process: Connection::new(0, None, Transport::InProcess),
            }),
        })
    }
}

#[derive(Default)]
struct HandlerMap {
    apis: HashMap<u32, (ErasedApiFn, HandlerInfo)>,
    msgs: HashMap<u32, Vec<(ErasedMsgFn, HandlerInfo)>>,
}

impl HandlerMap {
    fn insert(
        &mut self,
        table: &ServiceTable,
        info: HandlerInfo,
        handler: Handler,
    ) -> Result<(), String> {
        let kind = info.kind();
        let Some(service) = table.find(kind, info.service()) else {
            let (what, attr) = match kind {
                ServiceKind::Api => ("API", "#[tsrpc::api]"),
                ServiceKind::Msg => ("message", "#[tsrpc::msg]"),
            };
            return Err(format!(
                "handler {} is for {what} {:?}, which is not registered: put {attr} on its type",
                info.location(),
                info.service()
            ));
        };
        match handler {
            Handler::Api(f) => {
                if let Some((_, first)) = self.apis.get(&service.id()) {
                    return Err(format!(
                        "two handlers for API {:?}: {} and {}",
                        info.service(),
                        first.location(),
                        info.location()
                    ));
                }
                self.apis.insert(service.id(), (f, info));
            }
            Handler::Msg(f) => self.msgs.entry(service.id()).or_default().push((f, info)),
        }
        Ok(())
    }
}

struct ServerInner {
    table: &'static ServiceTable,
    handlers: RwLock<HandlerMap>,
    api_timeout: Option<Duration>,
    #[allow(dead_code)] // used by the transports
    next_conn_id: AtomicU64,
    in_process: Connection,
}

/// A tsrpc server: a cheap, cloneable handle.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tsrpc::{ApiCall, Server, TsrpcError};
///
/// #[tsrpc::api]
/// #[derive(Serialize, Deserialize)]
/// pub struct ReqHello { pub name: String }
/// #[derive(Serialize, Deserialize)]
/// pub struct ResHello { pub greeting: String }
///
/// #[tsrpc::handler]
/// async fn hello(call: ApiCall<ReqHello>) -> Result<ResHello, TsrpcError> {
///     Ok(ResHello { greeting: format!("Hello, {}!", call.req.name) })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::builder().build()?;
/// let res = server.call_api(ReqHello { name: "tsrpc".into() }).await?;
/// assert_eq!(res.greeting, "Hello, tsrpc!");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Server {
    inner: Arc<ServerInner>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("services", &self.inner.table.len())
            .field("fingerprint", &self.inner.table.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder with the defaults: every registered handler, 30 s API timeout.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            filter: None,
            api_timeout: Some(DEFAULT_API_TIMEOUT),
        }
    }

    /// The service table the server serves.
    pub fn service_table(&self) -> &'static ServiceTable {
        self.inner.table
    }

    /// Every handler the server runs, ordered by service name.
    pub fn handlers(&self) -> Vec<HandlerInfo> {
        let map = self
            .inner
            .handlers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<HandlerInfo> = map
            .apis
            .values()
            .map(|(_, info)| *info)
            .chain(map.msgs.values().flatten().map(|(_, info)| *info))
            .collect();
        all.sort_by_key(|h| (h.service(), h.kind(), h.location().path));
        all
    }

    /// Implements API `R` with a closure or function, at any time.
    ///
    /// Fails when `R` already has a handler or is not registered with
    /// `#[tsrpc::api]`.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # #[tsrpc::api]
    /// # #[derive(Serialize, Deserialize)]
    /// # pub struct ReqDouble { pub n: i64 }
    /// # #[derive(Serialize, Deserialize)]
    /// # pub struct ResDouble { pub n: i64 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = tsrpc::Server::builder().build()?;
    /// server.implement_api(|call: tsrpc::ApiCall<ReqDouble>| async move {
    ///     Ok(ResDouble { n: call.req.n * 2 })
    /// })?;
    /// assert_eq!(server.call_api(ReqDouble { n: 21 }).await?.n, 42);
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn implement_api<R, F, Fut>(&self, handler: F) -> Result<(), SetupError>
    where
        R: Api,
        F: Fn(ApiCall<R>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R::Res, TsrpcError>> + Send + 'static,
    {
        let caller = std::panic::Location::caller();
        let info = HandlerInfo::manual(
            ServiceKind::Api,
            R::NAME,
            Location {
                path: std::any::type_name::<F>(),
                file: caller.file(),
                line: caller.line(),
            },
        );
        let mut map = self
            .inner
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.insert(
            self.inner.table,
            info,
            Handler::Api(handler::erase_api(handler)),
        )
        .map_err(|problem| SetupError {
            problems: vec![problem],
        })
    }

    /// Calls API `R` inside the process, through the same handler, timeout
    /// and panic guard as a call from the network. The handler sees a
    /// connection whose [`transport`](Connection::transport) is
    /// [`Transport::InProcess`].
    pub async fn call_api<R: Api>(&self, req: R) -> Result<R::Res, TsrpcError> {
        let service = self
            .inner
            .table
            .api(R::NAME)
            .ok_or_else(|| unhandled(R::NAME))?;
        let ctx = CallContext {
            sn: 0,
            conn: self.inner.in_process.clone(),
            server: self.clone(),
        };
        let res = self
            .run_api(service.id(), R::NAME, Box::new(req), ctx)
            .await?;
        res.downcast::<R::Res>().map(|res| *res).map_err(|_| {
            TsrpcError::internal(format!("the handler of {} returned another type", R::NAME))
        })
    }

    /// Runs the handler of API `id` in its own task, so that a panic fails
    /// only this call (`INTERNAL_ERR`) and a handler past the API timeout is
    /// cancelled (`SERVER_TIMEOUT`).
    async fn run_api(
        &self,
        id: u32,
        name: &str,
        req: AnyValue,
        ctx: CallContext,
    ) -> Result<AnyValue, TsrpcError> {
        let handler = {
            let map = self
                .inner
                .handlers
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            map.apis.get(&id).map(|(f, _)| f.clone())
        };
        let handler = handler.ok_or_else(|| unhandled(name))?;
        let mut task = tokio::spawn(handler(req, ctx));
        let joined = match self.inner.api_timeout {
            None => (&mut task).await,
            Some(limit) => match tokio::time::timeout(limit, &mut task).await {
                Ok(joined) => joined,
                Err(_) => {
                    task.abort();
                    tracing::warn!(api = name, ?limit, "handler timed out");
                    return Err(
                        TsrpcError::server("Server Timeout").with_code(codes::SERVER_TIMEOUT)
                    );
                }
            },
        };
        joined.unwrap_or_else(|e| {
            tracing::error!(api = name, "handler failed: {e}");
            Err(TsrpcError::internal("Internal Server Error"))
        })
    }
}

fn unhandled(name: &str) -> TsrpcError {
    TsrpcError::server(format!("Unhandled API: {name}")).with_code(codes::UNHANDLED_API)
}
