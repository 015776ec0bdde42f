//! LEB128 varints: seven bits a byte, low bits first, the high bit set on every
//! byte but the last; and lists of (key, value) pairs in key order written as
//! each key's step from the one before and the value ([`put_steps`],
//! [`steps`]). The compact pending rows of the embedded store (latest times,
//! string references) are made of them.

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

/// Appends `pairs` (keys in ascending order) as, per pair, the key's step from
/// the previous key (the first from 0) and the value, both varints.
pub fn put_steps(out: &mut Vec<u8>, pairs: impl IntoIterator<Item = (u64, u64)>) {
    let mut previous = 0u64;
    for (key, value) in pairs {
        put(out, key.wrapping_sub(previous));
        put(out, value);
        previous = key;
    }
}

/// A varint cut short or longer than a `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The (key, value) pairs [`put_steps`] wrote to `bytes`, in order; a
/// malformed pair ends them.
pub fn steps(bytes: &[u8]) -> Steps<'_> {
    Steps { bytes, key: 0 }
}

/// See [`steps`].
pub struct Steps<'a> {
    bytes: &'a [u8],
    key: u64,
}

impl Iterator for Steps<'_> {
    type Item = Result<(u64, u64), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.bytes.is_empty() {
            return None;
        }
        let step = take(&mut self.bytes);
        let value = take(&mut self.bytes);
        match step.zip(value) {
            Some((step, value)) => {
                self.key = self.key.wrapping_add(step);
                Some(Ok((self.key, value)))
            }
            None => {
                self.bytes = &[];
                Some(Err(Malformed))
            }
        }
    }
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

    #[test]
    fn pairs_come_back_with_their_keys_and_a_cut_pair_is_malformed() {
        let pairs = [(0, 7), (1, 0), (300, u64::MAX), (u64::MAX, 1)];
        let mut out = Vec::new();
        put_steps(&mut out, pairs);
        let back: Vec<_> = steps(&out).collect::<Result<_, _>>().unwrap();
        assert_eq!(back, pairs);
        assert_eq!(steps(&[]).count(), 0);
        // One byte short of the last value: the pairs before it, then the error.
        let cut: Vec<_> = steps(&out[..out.len() - 1]).collect();
        assert_eq!(cut.len(), pairs.len());
        assert_eq!(
            cut[..3],
            back[..3].iter().map(|p| Ok(*p)).collect::<Vec<_>>()
        );
        assert_eq!(cut[3], Err(Malformed));
    }
}
