use super::*;
use alloc::vec;
use alloc::vec::Vec;

fn joined(r: &Ring<'_>) -> Vec<u8> {
    let (a, b) = r.current();
    [a, b].concat()
}

#[test]
fn cold_boot_starts_at_one_with_nothing_kept() {
    let mut mem = vec![0xa5u8; 1024];
    let (r, att) = Ring::attach(&mut mem).unwrap();
    assert_eq!(
        att,
        Attached {
            boot_count: 1,
            previous_len: 0,
            previous_flags: 0,
            warm: false
        }
    );
    assert_eq!(r.capacity(), (1024 - 64) / 2);
    assert!(r.previous().is_empty());
    assert_eq!(r.current(), (&[][..], &[][..]));
}

#[test]
fn warm_reboot_keeps_the_previous_log() {
    let mut mem = vec![0u8; 1024];
    {
        let (mut r, _) = Ring::attach(&mut mem).unwrap();
        r.write(b"snowvisor: one\nsnowvisor: two\n");
        r.set_flags(FLAG_SELFTEST_REBOOT);
    }
    {
        let (mut r, att) = Ring::attach(&mut mem).unwrap();
        assert_eq!(att.boot_count, 2);
        assert!(att.warm);
        assert_eq!(att.previous_flags, FLAG_SELFTEST_REBOOT);
        assert_eq!(r.flags(), 0);
        assert_eq!(r.previous(), b"snowvisor: one\nsnowvisor: two\n");
        assert_eq!(last_line(r.previous()).as_deref(), Some("snowvisor: two"));
        r.write(b"third boot soon\n");
    }
    let (r, att) = Ring::attach(&mut mem).unwrap();
    assert_eq!(att.boot_count, 3);
    assert_eq!(r.previous(), b"third boot soon\n");
}

#[test]
fn wrapped_ring_is_kept_oldest_first() {
    let mut mem = vec![0u8; MIN_SIZE];
    let cap;
    {
        let (mut r, _) = Ring::attach(&mut mem).unwrap();
        cap = r.capacity();
        let text: Vec<u8> = (0..cap + 100).map(|i| b'a' + (i % 26) as u8).collect();
        r.write(&text[..50]);
        r.write(&text[50..]);
        assert_eq!(r.written() as usize, cap + 100);
        assert_eq!(joined(&r), &text[100..]);
    }
    let (r, att) = Ring::attach(&mut mem).unwrap();
    assert_eq!(att.previous_len, cap);
    let expect: Vec<u8> = (100..cap + 100).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(r.previous(), &expect[..]);
}

#[test]
fn corrupt_header_is_a_cold_boot() {
    let mut mem = vec![0u8; 1024];
    {
        let (mut r, _) = Ring::attach(&mut mem).unwrap();
        r.write(b"x\n");
    }
    mem[OFF_BOOT] ^= 0x40; // a flipped bit in the boot count
    let (_, att) = Ring::attach(&mut mem).unwrap();
    assert!(!att.warm);
    assert_eq!(att.boot_count, 1);
    // A window of another size is not this layout either.
    let mut other = mem[..1000].to_vec();
    let (_, att) = Ring::attach(&mut other).unwrap();
    assert!(!att.warm);
}

#[test]
fn too_small_is_an_error() {
    let mut mem = vec![0u8; MIN_SIZE - 1];
    assert_eq!(
        Ring::attach(&mut mem).err(),
        Some(RamLogError::TooSmall { size: MIN_SIZE - 1 })
    );
}

#[test]
fn touched_spans_cover_the_wrap() {
    let mut mem = vec![0u8; MIN_SIZE];
    let (mut r, _) = Ring::attach(&mut mem).unwrap();
    let cap = r.capacity();
    r.write(&vec![b'.'; cap - 3]);
    let before = r.written();
    r.write(b"abcdef");
    let t = r.touched(before, 6);
    assert_eq!(t[0], 0..HEADER_SIZE);
    assert_eq!(t[1], HEADER_SIZE + cap - 3..HEADER_SIZE + cap);
    assert_eq!(t[2], HEADER_SIZE..HEADER_SIZE + 3);
    assert_eq!(r.touched(0, cap + 5)[1], HEADER_SIZE..HEADER_SIZE + cap);
}

#[test]
fn place_checks() {
    let ram = (0x4000_0000, 0xc000_0000);
    let own = (0x43e0_0000, 0x4440_0000);
    assert_eq!(check_place(0x43df_0000, 0x1_0000, ram, own), Ok(()));
    assert_eq!(
        check_place(0x43df_0000, 0x2_0000, ram, own),
        Err(RamLogError::OutsideRam {
            base: 0x43df_0000,
            size: 0x2_0000
        })
    );
    assert!(check_place(0x3fff_0000, 0x1_0000, ram, own).is_err());
    assert_eq!(
        check_place(0x4000_0004, 0x1_0000, ram, own),
        Err(RamLogError::Unaligned { base: 0x4000_0004 })
    );
    assert!(check_place(0x4000_0000, 16, ram, own).is_err());
    assert!(check_place(usize::MAX - 63, 0x1_0000, ram, own).is_err());
}

#[test]
fn selftest_argument_and_psci_detection() {
    use crate::bootargs::BootArgs;
    use snowvisor_dt::testing::QEMU_VIRT_DTB;
    let selftest = |line| BootArgs::parse(line).selftest == Some(SELFTEST_REBOOT);
    assert!(selftest("loglvl=info snowvisor.selftest=reboot"));
    assert!(!selftest("snowvisor.selftest=rebootx"));
    assert!(!selftest(""));
    let t = snowvisor_dt::HostTree::new(QEMU_VIRT_DTB).unwrap();
    assert!(psci_smc(&t));
}

#[test]
fn logs_read_by_index_for_sysctl() {
    let mut mem = vec![0u8; MIN_SIZE];
    let cap;
    {
        let (mut r, _) = Ring::attach(&mut mem).unwrap();
        cap = r.capacity();
        assert_eq!(r.current_span(), (0, 0));
        r.write(b"hello\n");
        assert_eq!(r.current_span(), (0, 6));
        let mut out = [0u8; 4];
        assert_eq!(r.read_current(2, &mut out), 4);
        assert_eq!(&out, b"llo\n");
        assert_eq!(r.read_current(6, &mut out), 0);
        assert_eq!(r.read_current(7, &mut out), 0);
        // Wrap: the span moves, reads cross the ring's end.
        let text: Vec<u8> = (0..cap + 10).map(|i| b'a' + (i % 26) as u8).collect();
        r.write(&text);
        let (first, end) = r.current_span();
        assert_eq!((end - first) as usize, cap);
        assert_eq!(end as usize, cap + 16);
        let mut all = vec![0u8; cap + 5];
        assert_eq!(r.read_current(first, &mut all), cap);
        assert_eq!(&all[..cap], &text[10..]);
        assert_eq!(r.read_current(first - 1, &mut all), 0);
        let mut tail = [0u8; 3];
        assert_eq!(r.read_current(end - 3, &mut tail), 3);
        assert_eq!(&tail, &text[cap + 7..]);
    }
    let (r, _) = Ring::attach(&mut mem).unwrap();
    let mut out = vec![0u8; cap];
    assert_eq!(r.read_previous(0, &mut out), cap);
    assert_eq!(r.read_previous(cap as u32 - 2, &mut out), 2);
    assert_eq!(r.read_previous(u32::MAX, &mut out), 0);
}

#[test]
fn last_line_skips_blank_and_crlf() {
    assert_eq!(last_line(b"a\r\nb c\r\n\r\n  \n").as_deref(), Some("b c"));
    assert_eq!(last_line(b"\n\n"), None);
    assert_eq!(last_line(b"no newline").as_deref(), Some("no newline"));
}

/// A guest that faults for ever does not flush the first fault's report out
/// of the RAM log; snowvisor's own lines still go in.
#[test]
fn the_first_guest_fault_report_is_kept() {
    let mut mem = vec![0u8; 1024];
    let (mut r, _) = Ring::attach(&mut mem).unwrap();
    r.write(b"snowvisor: boot\n");
    assert!(r.write_guest(b"snowvisor: error: dom0: stage-2 fault: FIRST\n"));
    let mut kept = 0;
    for i in 0..1000 {
        if r.write_guest(alloc::format!("snowvisor: error: dom0: fault {i}\n").as_bytes()) {
            kept += 1;
        }
    }
    assert!(kept > 0 && kept < 40, "{kept}");
    assert!(r.guest_dropped() > 0);
    let text = String::from_utf8_lossy(&joined(&r)).into_owned();
    assert!(text.contains("stage-2 fault: FIRST"), "{text}");
    r.write(b"snowvisor: own line\n");
    let text = String::from_utf8_lossy(&joined(&r)).into_owned();
    assert!(text.ends_with("snowvisor: own line\n"), "{text}");
}
