//! Xen's errno values (`xen/include/public/errno.h`), which equal Linux's on ARM.
//!
//! Inside `xen/` errors are this enum; they become a negative `r0` in one place,
//! [`Errno::ret`], at the hypercall boundary.

use core::fmt;

/// An error a hypercall returns to the guest.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Errno {
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    EINVAL = 22,
    ENOSPC = 28,
    EDOM = 33,
    ENOSYS = 38,
    ENODATA = 61,
    EOVERFLOW = 75,
    EOPNOTSUPP = 95,
}

impl Errno {
    /// The positive errno number.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The value for `r0`: `-errno`.
    pub const fn ret(self) -> i32 {
        -(self as i32)
    }

    pub fn name(self) -> &'static str {
        match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::ESRCH => "ESRCH",
            Errno::EIO => "EIO",
            Errno::ENXIO => "ENXIO",
            Errno::E2BIG => "E2BIG",
            Errno::EAGAIN => "EAGAIN",
            Errno::ENOMEM => "ENOMEM",
            Errno::EACCES => "EACCES",
            Errno::EFAULT => "EFAULT",
            Errno::EBUSY => "EBUSY",
            Errno::EEXIST => "EEXIST",
            Errno::EINVAL => "EINVAL",
            Errno::ENOSPC => "ENOSPC",
            Errno::ENOSYS => "ENOSYS",
            Errno::ENODATA => "ENODATA",
            Errno::EDOM => "EDOM",
            Errno::EOVERFLOW => "EOVERFLOW",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn values_are_xens() {
        assert_eq!(Errno::EPERM.ret(), -1);
        assert_eq!(Errno::ENOENT.ret(), -2);
        assert_eq!(Errno::ENXIO.ret(), -6);
        assert_eq!(Errno::ENOMEM.ret(), -12);
        assert_eq!(Errno::EFAULT.ret(), -14);
        assert_eq!(Errno::EBUSY.ret(), -16);
        assert_eq!(Errno::EEXIST.ret(), -17);
        assert_eq!(Errno::EINVAL.ret(), -22);
        assert_eq!(Errno::ENOSYS.ret(), -38);
        assert_eq!(Errno::EOVERFLOW.ret(), -75);
        assert_eq!(format!("{}", Errno::ENOSYS), "-ENOSYS (38)");
    }
}
