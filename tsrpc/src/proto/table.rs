//! The service table: every registered API and message, ordered by name,
//! with stable ids and a fingerprint.

use std::fmt;
use std::sync::OnceLock;

use fnv::FnvHashMap;
use sha2::{Digest, Sha256};

use super::{Location, ServiceCodec, ServiceDescriptor, ServiceKind, is_valid_service_name};
use crate::codec::Fingerprint;
use crate::schema::{Shape, ShapeError};

/// One API or message of the [`ServiceTable`].
#[derive(Debug)]
pub struct ServiceInfo {
    id: u32,
    descriptor: &'static ServiceDescriptor,
    shape: Result<Shape, ShapeError>,
}

impl ServiceInfo {
    /// The service's id: its index in the table, used by binary frames
    /// (TSRPC's binary mode maps it to a project's own id when a
    /// `serviceProto` is in use: [`crate::export::use_service_proto`]).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// API or message.
    pub fn kind(&self) -> ServiceKind {
        self.descriptor.kind
    }

    /// The name on the wire.
    pub fn name(&self) -> &'static str {
        self.descriptor.name
    }

    /// Where the request or message type is defined.
    pub fn location(&self) -> Location {
        self.descriptor.location
    }

    /// The traced shape of the service's types, or why it could not be traced.
    pub fn shape(&self) -> Result<&Shape, &ShapeError> {
        self.shape.as_ref()
    }

    pub(crate) fn codec(&self) -> &'static ServiceCodec {
        &self.descriptor.codec
    }
}

/// Every registered API and message, ordered by name.
///
/// ```rust,standalone_crate
/// # use serde::{Deserialize, Serialize};
/// #[tsrpc::msg]
/// #[derive(Serialize, Deserialize)]
/// struct MsgPing { at: tsrpc::Timestamp }
///
/// let table = tsrpc::ServiceTable::global().unwrap();
/// let ping = table.msg("Ping").unwrap();
/// assert_eq!(table.get(ping.id()).unwrap().name(), "Ping");
/// println!("{table}");
/// ```
#[derive(Debug)]
pub struct ServiceTable {
    services: Vec<ServiceInfo>,
    // FNV rather than SipHash: these maps are built from the program's own
    // services and only looked up with what peers send, so there is no
    // hash flooding to resist, and FNV costs a few instructions per byte
    // of a short name.
    apis: FnvHashMap<&'static str, u32>,
    msgs: FnvHashMap<&'static str, u32>,
    fingerprint: Fingerprint,
}

/// Why the service table could not be built: every problem found, each
/// naming the definitions involved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_problems(.problems))]
pub struct TableError {
    problems: Vec<String>,
}

impl TableError {
    /// One line per problem.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

fn display_problems(problems: &[String]) -> String {
    problems.join("\n")
}

static GLOBAL: OnceLock<Result<ServiceTable, TableError>> = OnceLock::new();

impl ServiceTable {
    /// The table of every protocol linked into this program, built on first use.
    ///
    /// Fails when two APIs (or two messages) share a name, or a name is not
    /// a valid service name; the error names every definition involved.
    pub fn global() -> Result<&'static ServiceTable, TableError> {
        GLOBAL
            .get_or_init(|| Self::from_descriptors(inventory::iter::<ServiceDescriptor>()))
            .as_ref()
            .map_err(Clone::clone)
    }

    pub(crate) fn from_descriptors<I>(descriptors: I) -> Result<ServiceTable, TableError>
    where
        I: IntoIterator<Item = &'static ServiceDescriptor>,
    {
        let mut descriptors: Vec<&'static ServiceDescriptor> = descriptors.into_iter().collect();
        descriptors.sort_by(|a, b| {
            (a.name, a.kind, a.location.path).cmp(&(b.name, b.kind, b.location.path))
        });
        let mut problems = Vec::new();
        for d in &descriptors {
            if !is_valid_service_name(d.name) {
                problems.push(format!(
                    "invalid {} name {:?} on {}: use `/`-separated segments of ASCII letters, digits, `_`, `-`, `.`",
                    d.kind, d.name, d.location
                ));
            }
        }
        for pair in descriptors.windows(2) {
            if pair[0].name == pair[1].name && pair[0].kind == pair[1].kind {
                problems.push(format!(
                    "two {}s are named {:?}: {} and {}",
                    if pair[0].kind == ServiceKind::Api {
                        "API"
                    } else {
                        "message"
                    },
                    pair[0].name,
                    pair[0].location,
                    pair[1].location
                ));
            }
        }
        if !problems.is_empty() {
            return Err(TableError { problems });
        }

        let mut hasher = Sha256::new();
        let mut services = Vec::with_capacity(descriptors.len());
        let (mut apis, mut msgs) = (FnvHashMap::default(), FnvHashMap::default());
        for (index, descriptor) in descriptors.into_iter().enumerate() {
            let id = u32::try_from(index).map_err(|_| TableError {
                problems: vec!["more than 2^32 services".into()],
            })?;
            let shape = (descriptor.codec.shape)();
            if let Err(e) = &shape {
                tracing::warn!(
                    service = descriptor.name,
                    "{e}; the fingerprint uses the type name instead"
                );
            }
            hasher.update(descriptor.kind.as_str());
            hasher.update([0]);
            hasher.update(descriptor.name);
            hasher.update([0]);
            match &shape {
                Ok(shape) => hasher.update(shape.canonical_bytes()),
                Err(_) => hasher.update(descriptor.location.path),
            }
            hasher.update([0xff]);
            match descriptor.kind {
                ServiceKind::Api => apis.insert(descriptor.name, id),
                ServiceKind::Msg => msgs.insert(descriptor.name, id),
            };
            services.push(ServiceInfo {
                id,
                descriptor,
                shape,
            });
        }
        let digest = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Ok(ServiceTable {
            services,
            apis,
            msgs,
            fingerprint: Fingerprint(u64::from_be_bytes(first)),
        })
    }

    /// The table's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The service with this id.
    pub fn get(&self, id: u32) -> Option<&ServiceInfo> {
        self.services.get(usize::try_from(id).ok()?)
    }

    /// The API with this name.
    pub fn api(&self, name: &str) -> Option<&ServiceInfo> {
        self.apis.get(name).and_then(|&id| self.get(id))
    }

    /// The message with this name.
    pub fn msg(&self, name: &str) -> Option<&ServiceInfo> {
        self.msgs.get(name).and_then(|&id| self.get(id))
    }

    /// The service of this kind with this name.
    pub fn find(&self, kind: ServiceKind, name: &str) -> Option<&ServiceInfo> {
        match kind {
            ServiceKind::Api => self.api(name),
            ServiceKind::Msg => self.msg(name),
        }
    }

    /// Every service, ordered by name (then APIs before messages).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &ServiceInfo> + '_ {
        self.services.iter()
    }

    /// The number of services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// True when no protocol is linked into the program.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// One line per service (`id kind name  type`), then the fingerprint.
impl fmt::Display for ServiceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .services
            .iter()
            .map(|s| s.name().len())
            .max()
            .unwrap_or(0);
        for s in &self.services {
            writeln!(
                f,
                "{:>4}  {}  {:<width$}  {}",
                s.id,
                s.kind(),
                s.name(),
                s.location().path
            )?;
        }
        write!(f, "fingerprint {}", self.fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::proto::{Api, Message};

    const HERE: Location = Location {
        path: "test",
        file: file!(),
        line: 0,
    };

    macro_rules! api {
        ($req:ident, $res:ident, $name:literal, { $($f:ident: $t:ty),* }) => {
            #[derive(Serialize, Deserialize)]
            struct $req { $($f: $t),* }
            impl Api for $req {
                const NAME: &'static str = $name;
                type Res = $res;
            }
        };
    }

    #[derive(Serialize, Deserialize)]
    struct ResOk {
        ok: bool,
    }
    #[derive(Serialize, Deserialize)]
    struct ResOther {
        ok: u8,
    }
    #[derive(Serialize, Deserialize)]
    struct MsgNote {
        text: String,
    }
    impl Message for MsgNote {
        const NAME: &'static str = "Note";
    }

    api!(ReqBase, ResOk, "Base", { a: u32, b: String });
    api!(ReqRenamedField, ResOk, "Base", { a: u32, c: String });
    api!(ReqRetyped, ResOk, "Base", { a: u64, b: String });
    api!(ReqOtherName, ResOk, "Other", { a: u32, b: String });
    api!(ReqOtherRes, ResOther, "Base", { a: u32, b: String });

    static BASE: ServiceDescriptor = ServiceDescriptor::api::<ReqBase>(HERE);
    static RENAMED_FIELD: ServiceDescriptor = ServiceDescriptor::api::<ReqRenamedField>(HERE);
    static RETYPED: ServiceDescriptor = ServiceDescriptor::api::<ReqRetyped>(HERE);
    static OTHER_NAME: ServiceDescriptor = ServiceDescriptor::api::<ReqOtherName>(HERE);
    static OTHER_RES: ServiceDescriptor = ServiceDescriptor::api::<ReqOtherRes>(HERE);
    static NOTE: ServiceDescriptor = ServiceDescriptor::msg::<MsgNote>(HERE);

    fn fingerprint(descriptors: &[&'static ServiceDescriptor]) -> Fingerprint {
        ServiceTable::from_descriptors(descriptors.iter().copied())
            .unwrap()
            .fingerprint()
    }

    #[test]
    fn fingerprint_is_stable_across_builds() {
        // A golden value: it must only change on purpose, since peers built
        // from different versions of tsrpc compare it.
        assert_eq!(fingerprint(&[&BASE, &NOTE]).to_string(), GOLDEN);
        // Order of registration does not matter.
        assert_eq!(fingerprint(&[&NOTE, &BASE]), fingerprint(&[&BASE, &NOTE]));
    }

    const GOLDEN: &str = "9c596b2d564370ad";

    #[test]
    fn fingerprint_changes_with_names_fields_types_and_services() {
        let base = fingerprint(&[&BASE]);
        for changed in [&RENAMED_FIELD, &RETYPED, &OTHER_NAME, &OTHER_RES] {
            assert_ne!(fingerprint(&[changed]), base);
        }
        assert_ne!(fingerprint(&[&BASE, &NOTE]), base);
        assert_ne!(fingerprint(&[]), base);
    }

    #[test]
    fn invalid_names_are_reported() {
        #[derive(Serialize, Deserialize)]
        struct ReqBad {}
        impl Api for ReqBad {
            const NAME: &'static str = "has space";
            type Res = ResOk;
        }
        static BAD: ServiceDescriptor = ServiceDescriptor::api::<ReqBad>(HERE);
        let err = ServiceTable::from_descriptors([&BAD]).unwrap_err();
        assert!(
            err.to_string().contains("invalid api name \"has space\""),
            "{err}"
        );
    }
}
