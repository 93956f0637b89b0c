//! [`Flow`]: TSRPC's hook chains, typed and async.
//!
//! A flow is an ordered chain of nodes. Each node gets the previous node's
//! output and returns it (possibly changed) to go on, or `None` to stop the
//! chain. Stopping a *pre* flow cancels the action it guards; stopping a
//! *post* flow only stops the chain. A node that panics is logged and
//! counts as a stop. Nodes can be added and removed at any time.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use futures_util::FutureExt;

use crate::server::BoxFuture;

type Node<T> = Arc<dyn Fn(T) -> BoxFuture<Option<T>> + Send + Sync>;

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
/// assert_eq!(flow.exec("hi".to_owned()).await.as_deref(), Some("HI!"));
/// assert_eq!(flow.exec(String::new()).await, None);
/// flow.remove(stop);
/// assert_eq!(flow.exec(String::new()).await.as_deref(), Some(""));
/// # }
/// ```
pub struct Flow<T> {
    name: &'static str,
    nodes: RwLock<Vec<(FlowNodeId, Node<T>)>>,
}

impl<T> fmt::Debug for Flow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow")
            .field("name", &self.name)
            .field(
                "nodes",
                &self
                    .nodes
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len(),
            )
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
        }
    }

    /// Appends a node; returns its id.
    pub fn push<F, Fut>(&self, node: F) -> FlowNodeId
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<T>> + Send + 'static,
    {
        let id = FlowNodeId(NEXT_NODE.fetch_add(1, Ordering::Relaxed));
        let node: Node<T> = Arc::new(move |value| Box::pin(node(value)));
        self.nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, node));
        id
    }

    /// Removes a node; false if it was not there.
    pub fn remove(&self, id: FlowNodeId) -> bool {
        let mut nodes = self.nodes.write().unwrap_or_else(PoisonError::into_inner);
        let before = nodes.len();
        nodes.retain(|(n, _)| *n != id);
        nodes.len() != before
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when the flow has no node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs the chain: the last node's output, or `None` if a node stopped it.
    pub async fn exec(&self, value: T) -> Option<T> {
        // A snapshot: nodes added or removed while it runs apply next time.
        let nodes: Vec<Node<T>> = self
            .nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, node)| node.clone())
            .collect();
        let mut value = value;
        for node in nodes {
            let step = match std::panic::catch_unwind(AssertUnwindSafe(|| node(value))) {
                Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
                Err(panic) => Err(panic),
            };
            match step {
                Ok(Some(next)) => value = next,
                Ok(None) => return None,
                Err(_) => {
                    tracing::error!(flow = self.name, "a flow node panicked; the flow stops");
                    return None;
                }
            }
        }
        Some(value)
    }
}
