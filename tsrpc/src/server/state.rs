//! App state: values set on the builder ([`ServerBuilder::state`]) that
//! handlers receive as [`State<T>`] arguments.
//!
//! [`ServerBuilder::state`]: super::ServerBuilder::state

use std::any::{Any, TypeId};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use fnv::FnvHashMap;

/// A value of the server's state, as a handler receives it: an extra
/// argument `State<T>` of a `#[tsrpc::handler]`, or
/// [`Server::state`](super::Server::state). Cheap to clone (a reference
/// count), and reads as a `&T`.
///
/// Each server has its own state, so two servers in one process (or in
/// one test binary) do not share a database pool or a store by accident.
/// A handler that takes a `State<T>` is checked when the server is built:
/// [`ServerBuilder::build`](super::ServerBuilder::build) fails, naming the
/// handler and the type, when no `T` was set.
///
/// ```rust,standalone_crate
/// use std::sync::Mutex;
/// use serde::{Deserialize, Serialize};
/// use tsrpc::{ApiCall, Server, State, TsrpcError};
///
/// #[tsrpc::api]
/// #[derive(Serialize, Deserialize)]
/// pub struct ReqAddTodo { pub text: String }
/// #[derive(Serialize, Deserialize)]
/// pub struct ResAddTodo { pub count: usize }
///
/// /// The app's store: a database pool in a real app.
/// #[derive(Default)]
/// struct Todos(Mutex<Vec<String>>);
///
/// #[tsrpc::handler]
/// async fn add_todo(call: ApiCall<ReqAddTodo>, todos: State<Todos>) -> Result<ResAddTodo, TsrpcError> {
///     let mut list = todos.0.lock().unwrap();
///     list.push(call.req.text);
///     Ok(ResAddTodo { count: list.len() })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::builder().state(Todos::default()).build()?;
/// let res = server.call_api(ReqAddTodo { text: "write docs".into() }).await?;
/// assert_eq!(res.count, 1);
/// assert_eq!(server.state::<Todos>().unwrap().0.lock().unwrap().len(), 1);
///
/// // Without the state, the server is not built:
/// let err = Server::builder().build().unwrap_err();
/// assert!(err.to_string().contains("State<"), "{err}");
/// # Ok(()) }
/// ```
pub struct State<T: ?Sized>(Arc<T>);

impl<T: ?Sized> State<T> {
    /// The shared value itself.
    pub fn arc(&self) -> &Arc<T> {
        &self.0
    }
}

impl<T: ?Sized> Clone for State<T> {
    fn clone(&self) -> Self {
        State(self.0.clone())
    }
}

impl<T: ?Sized> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&&*self.0).finish()
    }
}

/// A state type a handler takes: what the macro records, for the check at
/// build time. Not for direct use.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct StateKey {
    pub(crate) id: fn() -> TypeId,
    pub(crate) name: fn() -> &'static str,
}

impl StateKey {
    /// The key of `T`.
    pub const fn of<T: ?Sized + 'static>() -> Self {
        StateKey {
            id: TypeId::of::<T>,
            name: std::any::type_name::<T>,
        }
    }
}

/// The values of one server's state, one per type. Read on every call of
/// a handler that takes state: a type id needs no SipHash.
#[derive(Clone, Default)]
pub(crate) struct States(FnvHashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl States {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Arc::new(value));
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        let value = self.0.get(&TypeId::of::<T>())?.clone();
        value.downcast::<T>().ok().map(State)
    }

    pub(crate) fn has(&self, key: &StateKey) -> bool {
        self.0.contains_key(&(key.id)())
    }
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "States({} values)", self.0.len())
    }
}
