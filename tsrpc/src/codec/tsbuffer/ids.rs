//! The TSBuffer codec's look-ups of the ids in use (`schema/ids.rs`):
//! positions unless a `serviceProto.json` was installed.

use crate::schema::ids::installed;

/// The table id no service has (a table of 2^32 services cannot be
/// built): that of a wire id the installed `serviceProto` lacks.
pub(crate) const NO_SERVICE: u32 = u32::MAX;
pub(super) use crate::schema::ids::{id_at, index_of};

/// A service's id on the wire.
#[inline]
pub(super) fn service_to_wire(table_id: u32) -> u32 {
    match installed() {
        Some(ids) => ids.service(table_id).unwrap_or(table_id),
        None => table_id,
    }
}

/// The table id of a service's id on the wire; [`NO_SERVICE`] for an id
/// the installed `serviceProto` does not have.
#[inline]
pub(super) fn service_from_wire(wire_id: u32) -> u32 {
    match installed() {
        Some(ids) => ids.service_of_wire(wire_id).unwrap_or(NO_SERVICE),
        None => wire_id,
    }
}

/// The fields' property ids of the struct `name` (`variant` of enum `name`
/// for a struct variant), when not their positions.
#[inline]
pub(super) fn fields(name: &str, variant: Option<&str>) -> Option<&'static [u64]> {
    installed()?.fields(name, variant)
}

/// An error when TSBuffer cannot number the fields of struct `name`
/// (`variant` of enum `name`): it has `#[serde(alias)]` names, which shift
/// the positions serde gives its fields when they are read.
#[inline]
pub(super) fn check_numbered(name: &str, variant: Option<&str>) -> Result<(), String> {
    if crate::schema::ids::unnumbered(name, variant) {
        return Err(unnumbered(name, variant));
    }
    Ok(())
}

#[cold]
fn unnumbered(name: &str, variant: Option<&str>) -> String {
    let what = match variant {
        Some(variant) => format!("struct variant `{name}::{variant}`"),
        None => format!("struct `{name}`"),
    };
    format!(
        "TSBuffer mode cannot carry {what}: its `#[serde(alias)]` names shift its fields' positions, which TSBuffer numbers them by (JSON and binary modes carry it)"
    )
}

/// The member ids of enum `name`, when not the variants' indexes.
#[inline]
pub(super) fn members(name: &str) -> Option<&'static [u64]> {
    installed()?.container(name)?.members.as_deref()
}
