//! `snowctl xenstore-page DOM SECONDS`: Dom0's side of a boot-time DomU's
//! xenstore page, as snowvisor sets it up (Xen 4.17's dom0less
//! `xen,enhanced` and `init-dom0less`): the DomU's `HVM_PARAM_STORE_EVTCHN`
//! and `HVM_PARAM_STORE_PFN` (`HVMOP_get_param` on another domain, the
//! control domain's right), its grant ref 1 (`GNTTAB_RESERVED_XENSTORE`)
//! mapped through `/dev/xen/gntdev` (`GNTTABOP_map_grant_ref` with the
//! DomU's id), up to SECONDS waiting for the DomU to write the first word,
//! [`ANSWER`] written into the second, the page unmapped, then an event on
//! the DomU's xenstore channel (`EVTCHNOP_bind_interdomain` through
//! `/dev/xen/evtchn`, as xenstored binds it, and a notify).

use crate::privcmd::{HcBuf, Privcmd};
use crate::xendev::{Evtchn, Mapped};
use crate::{errno_text, xen, Fail};

/// `HVM_PARAM_STORE_PFN`, `HVM_PARAM_STORE_EVTCHN` (`public/hvm/params.h`).
const PARAM_STORE_PFN: u32 = 1;
const PARAM_STORE_EVTCHN: u32 = 2;
/// `GNTTAB_RESERVED_XENSTORE` (`public/grant_table.h`).
const RESERVED_XENSTORE: u32 = 1;
/// Byte offset of `connection` in `struct xenstore_domain_interface`
/// (`public/io/xs_wire.h`).
const CONNECTION: usize = 2068;
/// What Dom0 writes back into the page's second word.
pub const ANSWER: u32 = 0xd0d0_cafe;

/// `struct xen_hvm_param`: domid, pad, index, value (16 bytes).
fn hvm_param(p: &Privcmd, dom: u16, index: u32) -> std::io::Result<u64> {
    let mut b = HcBuf::new(16);
    b.bytes_mut()[0..2].copy_from_slice(&dom.to_le_bytes());
    b.bytes_mut()[4..8].copy_from_slice(&index.to_le_bytes());
    p.hypercall(xen::HVM_OP, [xen::HVMOP_GET_PARAM, b.addr(), 0, 0, 0])?;
    Ok(u64::from_le_bytes(b.bytes()[8..16].try_into().unwrap()))
}

/// The HVM parameters `snowctl hvm-param` reads, by name
/// (`public/hvm/params.h`).
pub const PARAMS: [(&str, u32); 4] = [
    ("store-pfn", PARAM_STORE_PFN),
    ("store-evtchn", PARAM_STORE_EVTCHN),
    ("console-pfn", 17),
    ("console-evtchn", 18),
];

/// `snowctl hvm-param DOM NAME`: prints domain `dom`'s HVM parameter
/// `name` (one of [`PARAMS`]) in decimal, as a toolstack reads it
/// (`HVMOP_get_param`); 0 is "not set".
pub fn param(p: &Privcmd, dom: u16, name: &str) -> Result<(), Fail> {
    let (_, index) = PARAMS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        let names: Vec<&str> = PARAMS.iter().map(|(n, _)| *n).collect();
        Fail(format!(
            "hvm-param: {name:?} is not one of {}",
            names.join(", ")
        ))
    })?;
    let v = hvm_param(p, dom, *index)
        .map_err(|e| Fail(format!("hvm-param: d{dom} {name}: {}", errno_text(&e))))?;
    println!("{v}");
    Ok(())
}

pub fn page(p: &Privcmd, dom: u16, secs: u32) -> Result<(), Fail> {
    let fail = |what: &str, e: std::io::Error| {
        Fail(format!("xenstore-page: d{dom}: {what}: {}", errno_text(&e)))
    };
    let port =
        hvm_param(p, dom, PARAM_STORE_EVTCHN).map_err(|e| fail("HVM_PARAM_STORE_EVTCHN", e))?;
    let pfn = hvm_param(p, dom, PARAM_STORE_PFN).map_err(|e| fail("HVM_PARAM_STORE_PFN", e))?;
    println!("xenstore-page: d{dom} HVM_PARAM_STORE_EVTCHN {port}, HVM_PARAM_STORE_PFN {pfn:#x}");
    let port = u32::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| Fail(format!("xenstore-page: d{dom} has no xenstore channel")))?;
    let m = Mapped::map(u32::from(dom), RESERVED_XENSTORE)
        .map_err(|e| fail("grant ref 1 through /dev/xen/gntdev", e))?;
    let page = m.map.as_ref().expect("mapped");
    println!(
        "xenstore-page: d{dom} grant ref {RESERVED_XENSTORE} mapped, connection {}",
        page.read_u32(CONNECTION)
    );
    let mut word = 0;
    for _ in 0..secs.max(1) * 10 {
        word = page.read_u32(0);
        if word != 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if word == 0 {
        return Err(Fail(format!(
            "xenstore-page: d{dom} wrote nothing into its page in {secs} s"
        )));
    }
    println!("xenstore-page: d{dom} wrote {word:#010x}");
    page.write_u32(4, ANSWER);
    println!("xenstore-page: answered {ANSWER:#010x}");
    m.unmap().map_err(|e| fail("unmap", e))?;
    println!("xenstore-page: unmapped");
    let ev = Evtchn::open().map_err(|e| fail("/dev/xen/evtchn", e))?;
    let local = ev
        .bind_interdomain(u32::from(dom), port)
        .map_err(|e| fail("bind to its xenstore channel", e))?;
    ev.notify(local).map_err(|e| fail("notify", e))?;
    println!("xenstore-page: event sent on d{dom} port {port} (local port {local})");
    Ok(())
}

/// `snowctl grant-hold DOM REF SECONDS`: DOM's grant `gref` mapped through
/// `/dev/xen/gntdev` and held `secs` seconds (a mapping a DomU's restart
/// must wait for), then unmapped; one line each.
pub fn hold(dom: u16, gref: u32, secs: u32) -> Result<(), Fail> {
    let fail = |what: &str, e: std::io::Error| {
        Fail(format!(
            "grant-hold: d{dom} grant ref {gref}: {what}: {}",
            errno_text(&e)
        ))
    };
    let m =
        Mapped::map(u32::from(dom), gref).map_err(|e| fail("map through /dev/xen/gntdev", e))?;
    let page = m.map.as_ref().expect("mapped");
    println!(
        "grant-hold: d{dom} grant ref {gref} mapped, word 0 {:#010x}, held {secs} s",
        page.read_u32(0)
    );
    std::thread::sleep(std::time::Duration::from_secs(u64::from(secs)));
    m.unmap().map_err(|e| fail("unmap", e))?;
    println!("grant-hold: d{dom} grant ref {gref} unmapped");
    Ok(())
}
