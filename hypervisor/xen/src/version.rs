//! `xen_version`: identification and the feature submap that makes Linux a
//! Xen dom0 (`xen-dom0-abi.md` §3.3.1).

use super::abi::layout::{XenBuildId, XenCompileInfo, XenFeatureInfo, XenPlatformParameters};
use super::abi::{xenfeat, xenver, Errno};
use super::guest::{read_struct, write_padded, write_struct};
use super::{Ctx, HcResult, Outcome, Xen};

/// `XENVER_capabilities` of a 32-bit ARM Xen.
const CAPABILITIES: &[u8] = b"xen-3.0-armv7l ";

/// What Xen 4.17 gives a domain a sub-op is denied to (`xen_deny()`,
/// `common/version.c`), without its NUL.
const DENIED: &[u8] = b"<denied>";

/// Copies `s` into a NUL-padded `char[N]`, keeping the final NUL.
fn c_string<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let n = s.len().min(N.saturating_sub(1));
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

impl Xen {
    /// Submap 0 of `XENVER_get_features`, as Xen 4.17 gives an ARM guest
    /// (`xen/common/kernel.c`, `XENVER_get_features`; bit numbers from
    /// `public/features.h`): `memory_op_vnode_supported` (13) and
    /// `ARM_SMCCC_supported` (14) for every domain, `writable_page_tables`
    /// (0) and `auto_translated_physmap` (2) because every ARM guest is
    /// translated, `dom0` (11) for the hardware domain only (Linux's one
    /// test for being Dom0), and exactly one of `direct_mapped` (17: 1:1,
    /// swiotlb-xen on) / `not_direct_mapped` (16).
    pub fn features(&self) -> u32 {
        let dom0 = if self.privileged() {
            1 << xenfeat::DOM0
        } else {
            0
        };
        let map = if self.cfg.direct_mapped {
            xenfeat::DIRECT_MAPPED
        } else {
            xenfeat::NOT_DIRECT_MAPPED
        };
        (1 << xenfeat::WRITABLE_PAGE_TABLES)
            | (1 << xenfeat::AUTO_TRANSLATED_PHYSMAP)
            | (1 << xenfeat::MEMORY_OP_VNODE_SUPPORTED)
            | (1 << xenfeat::ARM_SMCCC_SUPPORTED)
            | dom0
            | (1 << map)
    }

    /// `XENVER_version`'s result: major << 16 | minor.
    #[inline]
    pub fn version_word(&self) -> i32 {
        let (major, minor) = self.cfg.version;
        i32::from(major) << 16 | i32::from(minor)
    }

    /// `xen_version(cmd, arg)`.
    pub(super) fn xen_version(&mut self, cx: &mut Ctx<'_>, cmd: u32, arg: u32) -> HcResult {
        match cmd {
            xenver::VERSION => Ok(Outcome::Return(self.version_word())),
            xenver::EXTRAVERSION => {
                let e: [u8; xenver::EXTRAVERSION_LEN] = c_string(self.cfg.extraversion);
                write_padded(cx.mem, arg, &e, e.len())?;
                Ok(Outcome::Return(0))
            }
            xenver::COMPILE_INFO => {
                let info = XenCompileInfo {
                    compiler: c_string("rustc"),
                    compile_by: c_string("snowvisor"),
                    compile_domain: c_string(""),
                    compile_date: c_string(""),
                };
                write_struct(cx.mem, arg, &info)?;
                Ok(Outcome::Return(0))
            }
            xenver::CAPABILITIES => {
                write_padded(cx.mem, arg, CAPABILITIES, xenver::CAPABILITIES_LEN)?;
                Ok(Outcome::Return(0))
            }
            xenver::CHANGESET => {
                let c: [u8; xenver::CHANGESET_LEN] =
                    c_string(concat!("snowvisor ", env!("CARGO_PKG_VERSION")));
                write_padded(cx.mem, arg, &c, c.len())?;
                Ok(Outcome::Return(0))
            }
            xenver::PLATFORM_PARAMETERS => {
                write_struct(cx.mem, arg, &XenPlatformParameters { virt_start: 0 })?;
                Ok(Outcome::Return(0))
            }
            xenver::GET_FEATURES => {
                let mut fi: XenFeatureInfo = read_struct(cx.mem, arg)?;
                if fi.submap_idx >= xenver::NR_SUBMAPS {
                    return Err(Errno::EINVAL);
                }
                fi.submap = self.features();
                write_struct(cx.mem, arg, &fi)?;
                Ok(Outcome::Return(0))
            }
            xenver::PAGESIZE => Ok(Outcome::Return(super::abi::PAGE_SIZE as i32)),
            xenver::GUEST_HANDLE => {
                // The domain's UUID: none.
                write_padded(cx.mem, arg, &[], xenver::GUEST_HANDLE_LEN)?;
                Ok(Outcome::Return(0))
            }
            xenver::COMMANDLINE => {
                if self.privileged() {
                    // Xen copies all of its `char[1024]`, the NUL-padded
                    // line (`common/kernel.c`).
                    let line = self.cfg.commandline.as_bytes();
                    let n = line.len().min(xenver::COMMANDLINE_LEN - 1);
                    write_padded(cx.mem, arg, &line[..n], xenver::COMMANDLINE_LEN)?;
                } else {
                    // `xen_deny()`'s string and its NUL, nothing more.
                    write_padded(cx.mem, arg, DENIED, DENIED.len() + 1)?;
                }
                Ok(Outcome::Return(0))
            }
            xenver::BUILD_ID => self.build_id(cx, arg),
            _ => Err(Errno::ENOSYS),
        }
    }
}

impl Xen {
    /// `XENVER_build_id`, answered as Xen 4.17 built without a build id
    /// answers it (`common/kernel.c`, `do_xen_version`): `-EPERM` for a
    /// domain the dummy XSM policy denies it (every sub-op but the
    /// always-allowed ones is `XSM_PRIV`: `xsm_xen_version`,
    /// `include/xsm/dummy.h`); otherwise a non-NULL `struct xen_build_id`
    /// (`public/version.h`) is read first, `-EFAULT` if it cannot be and
    /// `-EINVAL` if its `len` is 0; then `-ENODATA`, `xen_build_id()`'s
    /// answer when the image carries no build id (snowvisor's has none).
    fn build_id(&mut self, cx: &mut Ctx<'_>, arg: u32) -> HcResult {
        if !self.privileged() {
            return Err(Errno::EPERM);
        }
        if arg != 0 {
            let b: XenBuildId = read_struct(cx.mem, arg)?;
            if b.len == 0 {
                return Err(Errno::EINVAL);
            }
        }
        Err(Errno::ENODATA)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_strings_keep_a_nul() {
        let s: [u8; 4] = c_string("abcdef");
        assert_eq!(s, *b"abc\0");
        let s: [u8; 4] = c_string("");
        assert_eq!(s, [0; 4]);
    }
}
