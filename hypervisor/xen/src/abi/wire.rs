//! Little-endian (de)serialisation of ABI structs from and to byte slices.
//!
//! Each struct is declared once with [`wire_struct!`]: its fields, their byte
//! offsets from the arm32 Xen headers, its size and alignment. The macro emits
//! the `#[repr(C)]` struct, a compile-time assertion that `repr(C)` puts every
//! field at the declared offset (so the declaration cannot drift from the C
//! layout), and `decode`/`encode` that read and write exactly those offsets.
//! No transmutes: guest bytes are never reinterpreted in place.

/// A value with a fixed little-endian encoding inside an ABI struct.
pub trait Field: Sized {
    const SIZE: usize;
    const ZERO: Self;
    /// Reads the value at `off`; `None` if `b` is too short.
    fn get(b: &[u8], off: usize) -> Option<Self>;
    /// Writes the value at `off`; `None` if `b` is too short.
    fn put(&self, b: &mut [u8], off: usize) -> Option<()>;
}

/// An ABI struct as a whole.
pub trait Wire: Sized {
    const SIZE: usize;
    /// A zeroed buffer of exactly `SIZE` bytes, to copy the struct through
    /// (on the stack; zeroing a larger one cost more than the copy).
    type Bytes: AsMut<[u8]>;
    fn zeroed() -> Self::Bytes;
    /// Reads from the first `SIZE` bytes of `b`; `None` if `b` is shorter.
    fn decode(b: &[u8]) -> Option<Self>;
    /// Writes all `SIZE` bytes (padding included) to the start of `b`.
    fn encode(&self, b: &mut [u8]) -> Option<()>;
}

macro_rules! int_fields {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            const ZERO: Self = 0;
            fn get(b: &[u8], off: usize) -> Option<Self> {
                let s = b.get(off..off.checked_add(Self::SIZE)?)?;
                Some(<$t>::from_le_bytes(s.try_into().ok()?))
            }
            fn put(&self, b: &mut [u8], off: usize) -> Option<()> {
                let s = b.get_mut(off..off.checked_add(Self::SIZE)?)?;
                s.copy_from_slice(&self.to_le_bytes());
                Some(())
            }
        }

        impl<const N: usize> Field for [$t; N] {
            const SIZE: usize = core::mem::size_of::<$t>() * N;
            const ZERO: Self = [0; N];
            fn get(b: &[u8], off: usize) -> Option<Self> {
                let mut a = [0; N];
                let mut at = off;
                for x in a.iter_mut() {
                    *x = <$t as Field>::get(b, at)?;
                    at = at.checked_add(core::mem::size_of::<$t>())?;
                }
                Some(a)
            }
            fn put(&self, b: &mut [u8], off: usize) -> Option<()> {
                let mut at = off;
                for x in self.iter() {
                    x.put(b, at)?;
                    at = at.checked_add(core::mem::size_of::<$t>())?;
                }
                Some(())
            }
        }
    )*};
}

int_fields!(u8, i8, u16, i16, u32, i32, u64, i64);

/// Declares an ABI struct; see the module documentation.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident (size $size:literal, align $align:literal) {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty = $off:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        const _: () = {
            assert!(core::mem::size_of::<$name>() == $size);
            assert!(core::mem::align_of::<$name>() == $align);
            $( assert!(core::mem::offset_of!($name, $field) == $off); )*
        };

        impl $crate::abi::wire::Wire for $name {
            const SIZE: usize = $size;
            type Bytes = [u8; $size];
            fn zeroed() -> [u8; $size] {
                [0; $size]
            }
            fn decode(b: &[u8]) -> Option<Self> {
                if b.len() < $size {
                    return None;
                }
                Some($name {
                    $( $field: <$ty as $crate::abi::wire::Field>::get(b, $off)?, )*
                })
            }
            fn encode(&self, b: &mut [u8]) -> Option<()> {
                if b.len() < $size {
                    return None;
                }
                b[..$size].fill(0);
                $( $crate::abi::wire::Field::put(&self.$field, b, $off)?; )*
                Some(())
            }
        }

        impl $crate::abi::wire::Field for $name {
            const SIZE: usize = $size;
            const ZERO: Self = $name {
                $( $field: <$ty as $crate::abi::wire::Field>::ZERO, )*
            };
            fn get(b: &[u8], off: usize) -> Option<Self> {
                <Self as $crate::abi::wire::Wire>::decode(b.get(off..)?)
            }
            fn put(&self, b: &mut [u8], off: usize) -> Option<()> {
                <Self as $crate::abi::wire::Wire>::encode(self, b.get_mut(off..)?)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                <Self as $crate::abi::wire::Field>::ZERO
            }
        }
    };
}

pub(crate) use wire_struct;

#[cfg(test)]
mod tests {
    use super::*;

    wire_struct! {
        /// A test struct with padding and a nested array.
        pub struct Sample (size 24, align 8) {
            pub a: u16 = 0,
            pub pad: [u8; 2] = 2,
            pub b: u32 = 4,
            pub c: u64 = 8,
            pub d: [u16; 4] = 16,
        }
    }

    #[test]
    fn round_trip_and_byte_positions() {
        let s = Sample {
            a: 0x0102,
            pad: [0; 2],
            b: 0x0304_0506,
            c: 0x0708_090a_0b0c_0d0e,
            d: [1, 2, 3, 4],
        };
        let mut b = [0xffu8; 24];
        s.encode(&mut b).unwrap();
        assert_eq!(&b[0..2], &[0x02, 0x01]);
        assert_eq!(&b[2..4], &[0, 0]);
        assert_eq!(&b[4..8], &[0x06, 0x05, 0x04, 0x03]);
        assert_eq!(b[8], 0x0e);
        assert_eq!(b[15], 0x07);
        assert_eq!(&b[16..18], &[1, 0]);
        assert_eq!(&b[22..24], &[4, 0]);
        assert_eq!(Sample::decode(&b), Some(s));
    }

    #[test]
    fn short_buffers_are_refused() {
        assert_eq!(Sample::decode(&[0u8; 23]), None);
        assert_eq!(Sample::default().encode(&mut [0u8; 23]), None);
        assert_eq!(u32::get(&[1, 2, 3], 0), None);
        assert_eq!(u32::get(&[1, 2, 3, 4], usize::MAX), None);
        assert_eq!(Sample::get(&[0u8; 30], 7), None);
        assert!(Sample::get(&[0u8; 30], 6).is_some());
    }
}
