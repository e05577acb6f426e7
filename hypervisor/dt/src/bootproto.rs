//! Xen's boot protocol, as `docs/misc/arm/device-tree/booting.txt` in Xen's
//! tree describes it: which `/chosen` nodes are boot modules and what each one
//! is, and where Dom0's command line comes from. Pure: the device-tree reader
//! hands in what it found and prints what these functions decide.

/// What a module node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleRole {
    Kernel,
    Ramdisk,
    /// `xen,xsm-policy` (or a module carrying the XSM magic): not used.
    XsmPolicy,
    /// `multiboot,device-tree`: a partial tree for a dom0less guest; not used.
    DeviceTree,
    /// A third or later generic module: not used.
    Unknown,
}

/// Every module compatible booting.txt lists, old and new: each names the
/// role it gives, or None for the generic ones.
pub const MODULE_COMPATIBLES: [(&str, Option<ModuleRole>); 8] = [
    ("multiboot,kernel", Some(ModuleRole::Kernel)),
    ("multiboot,ramdisk", Some(ModuleRole::Ramdisk)),
    ("multiboot,device-tree", Some(ModuleRole::DeviceTree)),
    ("xen,xsm-policy", Some(ModuleRole::XsmPolicy)),
    ("xen,linux-zimage", Some(ModuleRole::Kernel)),
    ("xen,linux-initrd", Some(ModuleRole::Ramdisk)),
    ("multiboot,module", None),
    ("xen,multiboot-module", None),
];

/// The forms, for the error when no kernel module is found.
pub const KERNEL_FORMS: &str = "a /chosen child (any name) with compatible \"multiboot,kernel\" or \"xen,linux-zimage\", or the first with only \"multiboot,module\" or \"xen,multiboot-module\"";

/// Magic at the start of an XSM (FLASK) policy (Xen's `XSM_MAGIC`).
pub const XSM_MAGIC: u32 = 0xf97c_ff8c;

/// True if `compatible` makes a /chosen child a boot module.
pub fn is_module(compatible: &[&str]) -> bool {
    compatible
        .iter()
        .any(|c| MODULE_COMPATIBLES.iter().any(|(m, _)| m == c))
}

/// Gives each /chosen child its role, in tree order, as Xen does: a specific
/// compatible decides; the first module with only a generic one is the kernel,
/// the second the ramdisk (unless it carries the XSM magic), later ones are
/// XSM policies if they carry the magic and unknown otherwise. `compatibles`
/// has one entry per child; `xsm_magic(i)` says whether child `i`'s contents
/// start with [`XSM_MAGIC`]. None for children that are not modules.
pub fn classify(
    compatibles: &[&[&str]],
    xsm_magic: impl Fn(usize) -> bool,
) -> alloc::vec::Vec<Option<ModuleRole>> {
    let mut generic_seen = 0;
    compatibles
        .iter()
        .enumerate()
        .map(|(i, compat)| {
            if !is_module(compat) {
                return None;
            }
            let specific = compat.iter().find_map(|c| {
                MODULE_COMPATIBLES
                    .iter()
                    .find(|(m, _)| m == c)
                    .and_then(|(_, r)| *r)
            });
            if let Some(role) = specific {
                return Some(role);
            }
            generic_seen += 1;
            Some(match generic_seen {
                1 => ModuleRole::Kernel,
                _ if xsm_magic(i) => ModuleRole::XsmPolicy,
                2 => ModuleRole::Ramdisk,
                _ => ModuleRole::Unknown,
            })
        })
        .collect()
}

/// Where Dom0's command line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdlineSource {
    /// The kernel module's own `bootargs`.
    KernelModule,
    /// `/chosen/xen,dom0-bootargs`.
    Dom0Bootargs,
    /// `/chosen/bootargs`, free for Dom0 because `xen,xen-bootargs` holds
    /// snowvisor's own.
    ChosenBootargs,
    /// None of them: Dom0 gets an empty command line.
    Empty,
}

impl CmdlineSource {
    /// Where it came from, in the words of the boot log (`dom0: <this>:
    /// "<command line>"`): the source, or that none was given.
    pub fn describe(self) -> &'static str {
        match self {
            CmdlineSource::KernelModule => "command line from the kernel module's bootargs",
            CmdlineSource::Dom0Bootargs => "command line from /chosen/xen,dom0-bootargs",
            CmdlineSource::ChosenBootargs => {
                "command line from /chosen/bootargs (snowvisor's own are in xen,xen-bootargs)"
            }
            CmdlineSource::Empty => {
                "no command line given (the kernel module has no bootargs, /chosen has no xen,dom0-bootargs, and /chosen/bootargs is absent or snowvisor's own)"
            }
        }
    }
}

/// Dom0's command line in Xen's order (booting.txt): the kernel module's
/// `bootargs`; else `/chosen/xen,dom0-bootargs`; else `/chosen/bootargs` when
/// `/chosen/xen,xen-bootargs` is present (otherwise `bootargs` is the
/// hypervisor's). A property present but empty still counts, as in Xen.
pub fn dom0_cmdline<'a>(
    module_bootargs: Option<&'a str>,
    dom0_bootargs: Option<&'a str>,
    xen_bootargs: Option<&'a str>,
    chosen_bootargs: Option<&'a str>,
) -> (&'a str, CmdlineSource) {
    if let Some(a) = module_bootargs {
        (a, CmdlineSource::KernelModule)
    } else if let Some(a) = dom0_bootargs {
        (a, CmdlineSource::Dom0Bootargs)
    } else if let (Some(_), Some(a)) = (xen_bootargs, chosen_bootargs) {
        (a, CmdlineSource::ChosenBootargs)
    } else {
        ("", CmdlineSource::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ModuleRole::*;

    fn roles(nodes: &[&[&str]]) -> alloc::vec::Vec<Option<ModuleRole>> {
        classify(nodes, |_| false)
    }

    #[test]
    fn new_compatibles_in_any_order() {
        let k: &[&str] = &["multiboot,kernel", "multiboot,module"];
        let r: &[&str] = &["multiboot,ramdisk", "multiboot,module"];
        assert_eq!(roles(&[k, r]), [Some(Kernel), Some(Ramdisk)]);
        assert_eq!(roles(&[r, k]), [Some(Ramdisk), Some(Kernel)]);
        // The generic compatible first, as ImageBuilder writes it.
        let k2: &[&str] = &["multiboot,module", "multiboot,kernel"];
        assert_eq!(roles(&[k2]), [Some(Kernel)]);
        // Without the generic one (more than Xen itself accepts).
        assert_eq!(roles(&[&["multiboot,kernel"]]), [Some(Kernel)]);
    }

    #[test]
    fn bare_multiboot_module_first_kernel_then_ramdisk() {
        let m: &[&str] = &["multiboot,module"];
        assert_eq!(
            roles(&[m, m, m]),
            [Some(Kernel), Some(Ramdisk), Some(Unknown)]
        );
        // Specific ones do not count as "first" or "second".
        let r: &[&str] = &["multiboot,ramdisk", "multiboot,module"];
        assert_eq!(
            roles(&[r, m, m]),
            [Some(Ramdisk), Some(Kernel), Some(Ramdisk)]
        );
        // The second generic one with the XSM magic is a policy.
        assert_eq!(
            classify(&[m, m], |i| i == 1),
            [Some(Kernel), Some(XsmPolicy)]
        );
    }

    #[test]
    fn old_xen_compatibles() {
        let k: &[&str] = &["xen,linux-zimage", "xen,multiboot-module"];
        let r: &[&str] = &["xen,linux-initrd", "xen,multiboot-module"];
        assert_eq!(roles(&[r, k]), [Some(Ramdisk), Some(Kernel)]);
        let g: &[&str] = &["xen,multiboot-module"];
        assert_eq!(roles(&[g, g]), [Some(Kernel), Some(Ramdisk)]);
    }

    #[test]
    fn other_modules_and_non_modules() {
        let p: &[&str] = &["xen,xsm-policy", "multiboot,module"];
        let d: &[&str] = &["multiboot,device-tree", "multiboot,module"];
        let dom_u: &[&str] = &["xen,domain"];
        assert_eq!(
            roles(&[p, d, dom_u, &[]]),
            [Some(XsmPolicy), Some(DeviceTree), None, None]
        );
        assert!(KERNEL_FORMS.contains("xen,linux-zimage"));
        assert!(KERNEL_FORMS.contains("multiboot,kernel"));
        assert!(KERNEL_FORMS.contains("xen,multiboot-module"));
    }

    #[test]
    fn dom0_cmdline_in_xen_order() {
        let (m, d) = ("console=hvc0 root=/dev/ram", "console=hvc0 quiet");
        let (x, b) = ("loglvl=info", "console=hvc0 from-bootargs");
        use CmdlineSource::*;
        assert_eq!(
            dom0_cmdline(Some(m), Some(d), Some(x), Some(b)),
            (m, KernelModule)
        );
        assert_eq!(
            dom0_cmdline(None, Some(d), Some(x), Some(b)),
            (d, Dom0Bootargs)
        );
        assert_eq!(
            dom0_cmdline(None, Some(d), None, Some(b)),
            (d, Dom0Bootargs)
        );
        assert_eq!(
            dom0_cmdline(None, None, Some(x), Some(b)),
            (b, ChosenBootargs)
        );
        // Without xen,xen-bootargs, /chosen/bootargs is snowvisor's own.
        assert_eq!(dom0_cmdline(None, None, None, Some(b)), ("", Empty));
        // An empty module bootargs still wins, as in Xen.
        assert_eq!(
            dom0_cmdline(Some(""), Some(d), Some(x), Some(b)),
            ("", KernelModule)
        );
        assert!(CmdlineSource::Empty
            .describe()
            .starts_with("no command line given ("));
        assert!(CmdlineSource::Empty
            .describe()
            .contains("xen,dom0-bootargs"));
        assert_eq!(
            Dom0Bootargs.describe(),
            "command line from /chosen/xen,dom0-bootargs"
        );
    }
}
