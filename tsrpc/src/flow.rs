//! [`Flow`]: TSRPC's hook chains, typed and async.
//!
//! A flow is an ordered chain of nodes. Each node gets the previous node's
//! output and returns it (possibly changed) to go on, `None` to stop the
//! chain, or an error to fail it (see [`IntoFlowStep`] for what a node may
//! return). Stopping a *pre* flow cancels the action it guards; stopping a
//! *post* flow only stops the chain. A failing node is logged and stops the
//! chain too; in API flows its [`TsrpcError`] is the call's error. A node
//! that panics is logged and fails the chain. Nodes can be added and
//! removed at any time.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::TsrpcError;
use crate::task::{self, BoxFuture};

/// What one node decided.
#[derive(Debug)]
pub enum FlowStep<T> {
    /// Go on with this value.
    Continue(T),
    /// Stop the chain (a pre flow cancels its action).
    Stop,
    /// Fail with this error (an API flow sends it as the call's error).
    Fail(TsrpcError),
}

/// What a flow node may return: `Option<T>` (`None` stops),
/// `Result<T, TsrpcError>` (`Err` fails), `Result<Option<T>, TsrpcError>`,
/// or a [`FlowStep`].
pub trait IntoFlowStep<T> {
    /// The step this value stands for.
    fn into_step(self) -> FlowStep<T>;
}

impl<T> IntoFlowStep<T> for FlowStep<T> {
    fn into_step(self) -> FlowStep<T> {
        self
    }
}

impl<T> IntoFlowStep<T> for Option<T> {
    fn into_step(self) -> FlowStep<T> {
        self.map_or(FlowStep::Stop, FlowStep::Continue)
    }
}

impl<T> IntoFlowStep<T> for Result<T, TsrpcError> {
    fn into_step(self) -> FlowStep<T> {
        self.map_or_else(FlowStep::Fail, FlowStep::Continue)
    }
}

impl<T> IntoFlowStep<T> for Result<Option<T>, TsrpcError> {
    fn into_step(self) -> FlowStep<T> {
        match self {
            Ok(Some(value)) => FlowStep::Continue(value),
            Ok(None) => FlowStep::Stop,
            Err(e) => FlowStep::Fail(e),
        }
    }
}

type Node<T> = Arc<dyn Fn(T) -> BoxFuture<FlowStep<T>> + Send + Sync>;

/// Identifies a node of a [`Flow`], to remove it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowNodeId(u64);

static NEXT_NODE: AtomicU64 = AtomicU64::new(1);

/// An ordered chain of async nodes over values of type `T`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let flow = tsrpc::Flow::<String>::new();
/// flow.push(|s: String| async move { Some(s.to_uppercase()) });
/// let stop = flow.push(|s: String| async move { if s.is_empty() { None } else { Some(s + "!") } });
/// assert_eq!(flow.exec("hi".to_owned()).await.continued().as_deref(), Some("HI!"));
/// assert!(flow.exec(String::new()).await.continued().is_none());
/// flow.remove(stop);
/// flow.push(|s: String| async move {
///     if s == "BAD" { Err(tsrpc::TsrpcError::api("no")) } else { Ok(s) }
/// });
/// assert_eq!(flow.exec(String::new()).await.continued().as_deref(), Some(""));
/// assert!(matches!(flow.exec("bad".into()).await, tsrpc::FlowStep::Fail(e) if e.message == "no"));
/// # }
/// ```
pub struct Flow<T> {
    name: &'static str,
    nodes: RwLock<Vec<(FlowNodeId, Node<T>)>>,
    /// `nodes.len()`, kept beside it so the runtime's checks for an empty
    /// flow, made on every call, take no lock.
    len: AtomicUsize,
    /// The bit this flow sets in its owner's set of flows in use, so the
    /// owner decides how calls run when a flow changes, not per call.
    watch: Option<(Arc<AtomicU32>, u32)>,
}

impl<T> fmt::Debug for Flow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow")
            .field("name", &self.name)
            .field("nodes", &task::read(&self.nodes).len())
            .finish()
    }
}

impl<T: Send + 'static> Default for Flow<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + 'static> Flow<T> {
    /// An empty flow.
    pub fn new() -> Self {
        Self::named("flow")
    }

    pub(crate) fn named(name: &'static str) -> Self {
        Flow {
            name,
            nodes: RwLock::new(Vec::new()),
            len: AtomicUsize::new(0),
            watch: None,
        }
    }

    /// A flow that keeps `bit` of `in_use` set while it has nodes.
    pub(crate) fn watched(name: &'static str, in_use: &Arc<AtomicU32>, bit: u32) -> Self {
        Flow {
            watch: Some((in_use.clone(), bit)),
            ..Self::named(name)
        }
    }

    fn set_len(&self, len: usize) {
        self.len.store(len, Ordering::Release);
        if let Some((in_use, bit)) = &self.watch {
            if len == 0 {
                in_use.fetch_and(!bit, Ordering::AcqRel);
            } else {
                in_use.fetch_or(*bit, Ordering::AcqRel);
            }
        }
    }

    /// Appends a node; returns its id.
    pub fn push<F, Fut, R>(&self, node: F) -> FlowNodeId
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoFlowStep<T> + 'static,
    {
        let id = FlowNodeId(NEXT_NODE.fetch_add(1, Ordering::Relaxed));
        let node: Node<T> = Arc::new(move |value| {
            let fut = node(value);
            Box::pin(async move { fut.await.into_step() })
        });
        let mut nodes = task::write(&self.nodes);
        nodes.push((id, node));
        self.set_len(nodes.len());
        id
    }

    /// Removes a node; false if it was not there.
    pub fn remove(&self, id: FlowNodeId) -> bool {
        let mut nodes = task::write(&self.nodes);
        let before = nodes.len();
        nodes.retain(|(n, _)| *n != id);
        self.set_len(nodes.len());
        nodes.len() != before
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// True when the flow has no node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs the chain: `Continue` with the last node's output, or where a
    /// node stopped or failed it.
    pub async fn exec(&self, value: T) -> FlowStep<T> {
        // A snapshot: nodes added or removed while it runs apply next time.
        let nodes: Vec<Node<T>> = task::read(&self.nodes)
            .iter()
            .map(|(_, node)| node.clone())
            .collect();
        let mut value = value;
        for node in nodes {
            let step = match task::guard(|| node(value)) {
                Ok(fut) => task::guard_future(fut).await,
                Err(panic) => Err(panic),
            };
            match step {
                Ok(FlowStep::Continue(next)) => value = next,
                Ok(FlowStep::Stop) => return FlowStep::Stop,
                Ok(FlowStep::Fail(e)) => {
                    tracing::warn!(flow = self.name, "a flow node failed: {e}");
                    return FlowStep::Fail(e);
                }
                Err(panic) => {
                    tracing::error!(
                        flow = self.name,
                        "a flow node panicked ({panic}); the flow stops"
                    );
                    return FlowStep::Fail(TsrpcError::internal("Internal Server Error"));
                }
            }
        }
        FlowStep::Continue(value)
    }
}

impl<T> FlowStep<T> {
    /// The value when the chain went through, else `None`.
    pub fn continued(self) -> Option<T> {
        match self {
            FlowStep::Continue(value) => Some(value),
            _ => None,
        }
    }
}

/// The accessors and `Debug` of a flow value holding a call's type-erased
/// outcome in `service`, `sn` and `result` fields: the server's and the
/// client's `ApiReturnFlow`.
macro_rules! api_outcome_accessors {
    ($ty:ty) => {
        impl $ty {
            /// The API's name.
            pub fn name(&self) -> &'static str {
                self.service.name()
            }

            /// The response, if the call succeeded and is a call of API `R`.
            pub fn res<R: $crate::Api>(&self) -> Option<&R::Res> {
                self.result.as_ref().ok()?.downcast_ref()
            }

            /// The response, to change it.
            pub fn res_mut<R: $crate::Api>(&mut self) -> Option<&mut R::Res> {
                self.result.as_mut().ok()?.downcast_mut()
            }

            /// The error, if the call failed.
            pub fn error(&self) -> Option<&$crate::TsrpcError> {
                self.result.as_ref().err()
            }

            /// Makes the call fail with this error instead.
            pub fn set_error(&mut self, err: $crate::TsrpcError) {
                self.result = Err(err);
            }

            /// Makes the call succeed with this response instead; ignored
            /// (and logged) when `R` is not this call's API.
            pub fn set_res<R: $crate::Api>(&mut self, res: R::Res) {
                if R::NAME == self.name() {
                    self.result = Ok(Box::new(res));
                } else {
                    tracing::error!(
                        api = self.name(),
                        given = R::NAME,
                        "set_res with the response of another API"
                    );
                }
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("name", &self.name())
                    .field("sn", &self.sn)
                    .field("error", &self.error())
                    .finish_non_exhaustive()
            }
        }
    };
}

pub(crate) use api_outcome_accessors;

/// The accessors of a flow value holding a type-erased message in `service`
/// and `msg` fields: the server's `MsgCallFlow` and the client's
/// `SendMsgFlow`.
macro_rules! msg_value_accessors {
    ($ty:ty) => {
        impl $ty {
            /// The message's name.
            pub fn name(&self) -> &'static str {
                self.service.name()
            }

            /// The message, if it is an `M`.
            pub fn msg<M: $crate::Message>(&self) -> Option<&M> {
                self.msg.downcast_ref()
            }

            /// The message, to change it, if it is an `M`.
            pub fn msg_mut<M: $crate::Message>(&mut self) -> Option<&mut M> {
                self.msg.downcast_mut()
            }
        }
    };
}

pub(crate) use msg_value_accessors;
