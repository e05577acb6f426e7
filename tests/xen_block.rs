//! A PV block device between a boot-time DomU and Dom0, with Xen 4.17's
//! own tools and Debian's drivers unchanged: `xl block-attach` in Dom0
//! gives domU1 a 16 MiB file on a loop device as `xvda` (xen-blkback in
//! Dom0, xen-blkfront in the DomU), the DomU makes an ext2 file system on
//! it, writes 1 MiB of random bytes and reports the file's md5 through its
//! xenstore node `data/pvblk-md5`; after `xl block-detach` Dom0 mounts the
//! image and finds the same md5. The data path is the DomU's grants mapped
//! by Dom0 (`GNTTABOP_map_grant_ref`/`unmap_grant_ref` naming the DomU, at
//! ballooned-out pages of Dom0) and an inter-domain event channel. The two
//! sides are `qemu/dom0-initramfs/tests/pvblk` and `tests/pvblk-domu`.
//! The disk is a file on a loop device, or the virtio-blk disk behind the
//! SMMUv3 snowvisor owns (DMA to the DomU's pages).

use snowvisor_tests::{Boot, Opts};

/// The rest of the first console line starting with `prefix`.
fn line(all: &str, prefix: &str) -> String {
    all.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?}\n{all}"))
        .trim_end()
        .to_string()
}

/// An md5 in hex.
fn assert_md5(m: &str) {
    assert!(
        m.len() == 32 && m.bytes().all(|b| b.is_ascii_hexdigit()),
        "not an md5: {m:?}"
    );
}

#[test]
fn xl_block_attach_gives_a_domu_a_disk_and_the_data_comes_back() {
    let all = round_trip(false);
    assert!(dom0(&all, "image ").ends_with("on /dev/loop0 (16777216 bytes)"));
    // /dev/loop0: block major 7, minor 0, in hex as the block script writes it.
    assert_eq!(dom0(&all, "backend physical-device "), "7:0");
}

/// The same with the disk behind the SMMU snowvisor owns
/// (`scripts/run --smmu`, `snowvisor.pvblk=vda`): xen-blkback hands the
/// DomU's pages to virtio-blk, whose DMA swiotlb-xen addresses by their bus
/// address (the DomU's physical pages); the SMMU finds them in Dom0's stage
/// 2 because each grant map also maps its page there at that address.
#[test]
fn a_domus_pv_disk_on_a_device_behind_the_owned_smmu() {
    let all = round_trip(true);
    assert!(
        all.contains("plan: /smmuv3@9050000  arm,smmu-v3  own"),
        "{all}"
    );
    assert_eq!(dom0(&all, "disk "), "/dev/vda (16777216 bytes)");
    // virtio-blk's dynamic block major, 254.
    assert_eq!(dom0(&all, "backend physical-device "), "fe:0");
    assert!(!all.contains("F_TRANSLATION"), "{all}");
    assert!(!all.contains("CHANGED"), "{all}");
}

/// Dom0's grant handles from snowvisor's debug key `e` (its Xen state),
/// typed on the console: Ctrl-a three times until the input is
/// snowvisor's (Dom0, then domU1 if it still runs, then snowvisor), `e`,
/// then back to Dom0.
fn grant_handles(b: &mut Boot) -> Vec<String> {
    for _ in 0..3 {
        b.send(&[1, 1, 1]);
        let l = b.expect("*** serial input to ", 30);
        if l.contains("serial input to snowvisor") {
            break;
        }
    }
    b.send(b"e");
    let mut handles = Vec::new();
    loop {
        let l = b.expect("snowvisor: xen: ", 30);
        if l.contains("xen: console input") {
            break;
        }
        if l.contains("xen: grant handle ") {
            handles.push(l);
        }
    }
    for _ in 0..3 {
        b.send(&[1, 1, 1]);
        let l = b.expect("*** serial input to ", 30);
        if l.contains("serial input to Dom0") {
            return handles;
        }
    }
    panic!("the console's input did not come back to Dom0");
}

/// A Dom0 line's rest after `snowvisor-dom0: pvblk KEY`.
fn dom0(all: &str, k: &str) -> String {
    line(all, &format!("snowvisor-dom0: pvblk {k}"))
}

/// Boots Dom0 and domU1 for the round trip (on the SMMU's disk if `smmu`),
/// checks it and returns the console.
fn round_trip(smmu: bool) -> String {
    let mut b = Boot::start(&Opts {
        dom0_args: if smmu {
            "snowvisor.test=pvblk snowvisor.pvblk-wait=1 snowvisor.pvblk=vda".into()
        } else {
            "snowvisor.test=pvblk snowvisor.pvblk-wait=1".into()
        },
        smmu,
        serial_stdin: true,
        xen_tools: true,
        domus: vec!["default".into()],
        domu_xenstore: true,
        domu_args: Some("console=ttyAMA0 snowvisor.test=pvblk-domu".into()),
        ..Opts::default()
    });
    b.expect("snowvisor-dom0: xen-tools: init-dom0less exit 0", 300);
    b.expect("snowvisor-dom0: test pvblk start", 60);
    b.expect("snowvisor-dom0: pvblk waiting for a line", 900);
    let handles = grant_handles(&mut b);
    b.send(b"\r");
    b.expect("snowvisor-dom0: test pvblk exit 0", 120);
    // After the detach Dom0 maps two pages of the DomU's: xenconsoled's map
    // of its console ring (grant ref 0, GFN 0x39000) and xenstored's of its
    // xenstore page (grant ref 1, GFN 0x39001); xen-blkback's ring and
    // persistent grants are unmapped.
    let mut d1: Vec<&str> = handles
        .iter()
        .filter_map(|l| {
            Some(
                l.split(": d1 ")
                    .nth(1)?
                    .split(' ')
                    .take(4)
                    .collect::<Vec<_>>(),
            )
        })
        .map(|w| match w[..] {
            ["ref", "0", "frame", "0x39000"] => "console ring",
            ["ref", "1", "frame", "0x39001"] => "xenstore page",
            _ => "other",
        })
        .collect();
    d1.sort_unstable();
    assert_eq!(d1, ["console ring", "xenstore page"], "{handles:#?}");
    let all = b.console().replace('\r', "");
    let dom0 = |k: &str| dom0(&all, k);
    let domu = |k: &str| line(&all, &format!("(d1) snowvisor-dom0: pvblk-domu {k}"));

    // Dom0: xl's attach, the hotplug script's keys.
    assert_eq!(dom0("block-attach exit "), "0");
    assert_eq!(dom0("backend hotplug-status "), "connected");
    // The DomU's xen-blkfront saw the 16 MiB (in 512-byte sectors).
    assert_eq!(domu("xvda "), "32768 sectors");
    assert_eq!(domu("xenstore write "), "OK");
    let written = domu("md5 ");
    assert_md5(&written);
    assert_eq!(dom0("domU md5 "), written, "Dom0 read the DomU's node");
    // xl block-list: vdev 51712 (xvda), backend Dom0, state 4 (Connected),
    // an event channel and a ring grant.
    let row: Vec<String> = dom0("block-list 51712 ")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(row.len(), 6, "{row:?}");
    assert_eq!(row[..3], ["0", "1", "4"], "{row:?}");
    assert!(row[3].parse::<u32>().unwrap() > 0, "{row:?}");
    assert!(row[4].parse::<u32>().unwrap() > 0, "{row:?}");
    assert_eq!(row[5], "/local/domain/0/backend/vbd/1/51712");
    assert_eq!(dom0("backend state "), "4");
    assert_eq!(dom0("backend sectors "), "32768");
    // Detach: the backend's nodes are gone, the DomU's disk too.
    assert_eq!(dom0("block-detach exit "), "0");
    assert!(
        dom0("backend after detach: ").contains("couldn't read path"),
        "{all}"
    );
    assert_eq!(domu("xvda "), "32768 sectors");
    assert!(all.contains("(d1) snowvisor-dom0: pvblk-domu xvda detached"));
    assert!(all.contains("(d1) snowvisor-dom0: test pvblk-domu exit 0"));
    // Dom0 reads the image itself: the same file, the same bytes.
    assert_eq!(dom0("dom0 file "), "1048576 bytes");
    assert_eq!(dom0("dom0 md5 "), written, "md5 round trip");
    assert!(dom0("domU1 ").contains("---s--"), "{all}");
    for bad in [
        "fatal",
        "unhandled",
        "unexpected exception",
        "kernel BUG",
        "Oops",
        "stage-2 fault",
        "still in use",
    ] {
        assert!(!all.contains(bad), "{bad:?} on the console:\n{all}");
    }
    all
}
