//! LEB128 varints: seven bits a byte, low bits first, the high bit set on every
//! byte but the last. The compact pending rows of the embedded store (latest
//! times, string references) are made of them.

/// Appends `v` to `out`.
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Takes one varint off the front of `bytes`; `None` when it is cut short or
/// longer than a `u64`.
pub fn take(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_in_as_few_bytes_as_their_bits_need() {
        for (v, len) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u64::MAX, 10),
        ] {
            let mut out = Vec::new();
            put(&mut out, v);
            assert_eq!(out.len(), len, "{v}");
            let mut rest = out.as_slice();
            assert_eq!(take(&mut rest), Some(v));
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn a_cut_or_overlong_varint_is_none() {
        let mut out = Vec::new();
        put(&mut out, 300);
        assert_eq!(take(&mut &out[..1]), None);
        assert_eq!(take(&mut &[0xffu8; 11][..]), None);
    }
}
