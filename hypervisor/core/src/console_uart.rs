//! Which UART snowvisor's console writes to once the device tree is read.
//! Pure (over the host tree and a driver look-up), so host tests check it.
//!
//! Before the tree is read snowvisor writes to the board's default UART. Then:
//! 1. `/chosen/stdout-path`'s UART, if snowvisor has a driver for it;
//! 2. else the board default, if the tree describes a UART of that kind at
//!    that address;
//! 3. else none: snowvisor writes to the RAM log only. A UART the tree does
//!    not describe may not be there (another board's image, or a tree for
//!    another machine), and writing to whatever is there instead is not safe.

use alloc::format;
use alloc::string::String;

use snowvisor_dt::HostTree;

/// What the console does once the tree is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice<'a, K> {
    /// Stays on the board default UART, which the tree describes; `note` (a
    /// warning) says why stdout-path's was not taken, if there is one.
    BoardDefault { note: Option<String> },
    /// Switches to stdout-path's UART (not the board default).
    StdoutPath { kind: K, base: u64, path: &'a str },
    /// No usable UART; the reason, for the log.
    NoUart { why: String },
}

/// The console's UART for `tree`: `default` is the board's UART (driver
/// kind, physical base), `driver` the driver for a `compatible` string,
/// `default_name` what the log calls the default's kind (e.g. `PL011`).
pub fn choose<'a, K: Copy + PartialEq>(
    tree: &HostTree<'a>,
    default: (K, u64),
    driver: impl Fn(&str) -> Option<K>,
    default_name: &str,
) -> Choice<'a, K> {
    let x = tree.index();
    let kind_of = |n: usize| x.compatibles(n).into_iter().find_map(&driver);
    let problem = match tree.stdout() {
        Some(u) => match x.by_path(u.path).and_then(kind_of) {
            Some(_) if u.base == default.1 => return Choice::BoardDefault { note: None },
            Some(kind) => {
                return Choice::StdoutPath {
                    kind,
                    base: u.base,
                    path: u.path,
                }
            }
            None => format!(
                "/chosen/stdout-path's {} ({}) has no driver in snowvisor",
                u.path, u.compatible
            ),
        },
        None => match tree.stdout_path() {
            Some(p) => format!("/chosen/stdout-path \"{p}\" names no usable UART node"),
            None => String::from("no /chosen/stdout-path"),
        },
    };
    let described = tree
        .device_at(default.1)
        .is_some_and(|n| kind_of(n) == Some(default.0));
    if described {
        Choice::BoardDefault {
            note: tree.stdout_path().map(|_| {
                format!(
                    "{problem}; staying on the board default {default_name} at {:#010x}",
                    default.1
                )
            }),
        }
    } else {
        Choice::NoUart {
            why: format!(
                "{problem}, and the device tree describes no {default_name} at the board default {:#010x}",
                default.1
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver kinds of a kernel with PL011 and Exynos UART drivers (the
    /// drivers' own look-up is the arch crate's, which the core does not use).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum UartKind {
        Pl011,
        Exynos,
    }

    impl UartKind {
        fn from_compatible(c: &str) -> Option<Self> {
            match c {
                "arm,pl011" => Some(UartKind::Pl011),
                "samsung,exynos4210-uart" => Some(UartKind::Exynos),
                _ => None,
            }
        }
    }
    use snowvisor_dt::testing::QEMU_VIRT_MODULES_DTB;

    const PL011: (UartKind, u64) = (UartKind::Pl011, 0x0900_0000);

    fn pick(dtb: &[u8]) -> Choice<'_, UartKind> {
        choose(
            &HostTree::new(dtb).unwrap(),
            PL011,
            UartKind::from_compatible,
            "PL011",
        )
    }

    /// QEMU's tree with every occurrence of `from` replaced by `to` (same length).
    fn edited(from: &[u8], to: &[u8]) -> alloc::vec::Vec<u8> {
        assert_eq!(from.len(), to.len());
        let mut dtb = QEMU_VIRT_MODULES_DTB.to_vec();
        let mut hits = 0;
        for i in 0..dtb.len() - from.len() {
            if &dtb[i..i + from.len()] == from {
                dtb[i..i + from.len()].copy_from_slice(to);
                hits += 1;
            }
        }
        assert!(hits > 0, "{:?} not in the tree", core::str::from_utf8(from));
        dtb
    }

    #[test]
    fn qemus_own_tree_keeps_the_board_default() {
        assert_eq!(
            pick(QEMU_VIRT_MODULES_DTB),
            Choice::BoardDefault { note: None }
        );
    }

    #[test]
    fn without_stdout_path_the_described_board_default_is_kept() {
        let dtb = edited(b"stdout-path\0", b"stdout-pat_\0");
        assert_eq!(pick(&dtb), Choice::BoardDefault { note: None });
    }

    #[test]
    fn a_tree_without_the_board_uart_means_no_uart() {
        // Neither stdout-path nor a PL011 at 0x09000000 (the node's compatible
        // is not one snowvisor drives, as on another board's tree).
        let dtb = edited(b"stdout-path\0", b"stdout-pat_\0");
        let dtb = {
            let t = HostTree::new(&dtb).unwrap();
            assert!(t.device_at(0x0900_0000).is_some());
            let mut d = dtb.clone();
            let from: &[u8] = b"arm,pl011\0";
            let at = d.windows(from.len()).position(|w| w == from).unwrap();
            d[at..at + from.len()].copy_from_slice(b"arm,pl010\0");
            d
        };
        let Choice::NoUart { why } = pick(&dtb) else {
            panic!("{:?}", pick(&dtb))
        };
        assert_eq!(
            why,
            "no /chosen/stdout-path, and the device tree describes no PL011 at the board default 0x09000000"
        );
    }

    #[test]
    fn stdout_path_elsewhere_is_taken_when_snowvisor_drives_it() {
        // The PL011 moved to 0x09100000 (node name, reg and stdout-path).
        let dtb = edited(b"pl011@9000000", b"pl011@9100000");
        let dtb = {
            let t = HostTree::new(&dtb).unwrap();
            let n = t.index().by_path("/pl011@9100000").unwrap();
            let reg = t.index().prop(n, "reg").unwrap();
            let mut d = dtb.clone();
            let at = d.windows(reg.len()).position(|w| w == reg).unwrap();
            d[at + 4..at + 8].copy_from_slice(&0x0910_0000u32.to_be_bytes());
            d
        };
        assert_eq!(
            pick(&dtb),
            Choice::StdoutPath {
                kind: UartKind::Pl011,
                base: 0x0910_0000,
                path: "/pl011@9100000"
            }
        );
    }

    #[test]
    fn an_unusable_stdout_path_falls_back_only_to_a_described_default() {
        let dtb = edited(b"/pl011@9000000", b"/pl011@9000001");
        let Choice::BoardDefault { note: Some(n) } = pick(&dtb) else {
            panic!("{:?}", pick(&dtb))
        };
        assert_eq!(
            n,
            "/chosen/stdout-path \"/pl011@9000001\" names no usable UART node; staying on the board default PL011 at 0x09000000"
        );
    }
}
