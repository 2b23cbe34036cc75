//! Bounds-checked cursors over untrusted bytes.
//!
//! Every parser in this crate reads through these so that a short or lying input turns into
//! `None` (and then a typed error naming the field) instead of an out-of-bounds panic.

/// Byte cursor; every read either succeeds completely or leaves `None` for the caller to map
/// onto a field-specific error.
#[derive(Debug, Clone)]
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        ByteReader { data, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let [b] = self.array::<1>()?;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u24(&mut self) -> Option<u32> {
        let [a, b, c] = self.array()?;
        Some(u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }
}

/// Why a bit-level read failed; the caller adds which syntax element it was reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BitError {
    /// The data ended inside the element.
    Eof,
    /// An exp-Golomb code with more than 31 leading zeros, which cannot encode a `u32`.
    Overlong,
}

/// MSB-first bit cursor with exp-Golomb decoding (H.264 `u(n)`, `ue(v)`, `se(v)`; AAC fields).
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    bit_pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader { data, bit_pos: 0 }
    }

    pub(crate) fn bits_left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.bit_pos)
    }

    pub(crate) fn bit(&mut self) -> Result<bool, BitError> {
        let byte = *self.data.get(self.bit_pos / 8).ok_or(BitError::Eof)?;
        let bit = (byte >> (7 - (self.bit_pos % 8))) & 1;
        self.bit_pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n <= 32` bits.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, BitError> {
        debug_assert!(n <= 32);
        if self.bits_left() < n as usize {
            return Err(BitError::Eof);
        }
        let mut value: u64 = 0;
        for _ in 0..n.min(32) {
            value = (value << 1) | u64::from(self.bit()?);
        }
        Ok(value as u32)
    }

    pub(crate) fn flag(&mut self) -> Result<bool, BitError> {
        self.bit()
    }

    /// Unsigned exp-Golomb; codes with more than 31 leading zeros are rejected rather than
    /// wrapped because no H.264 field we read can legitimately be that large.
    pub(crate) fn ue(&mut self) -> Result<u32, BitError> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(BitError::Overlong);
            }
        }
        let suffix = u64::from(self.bits(zeros)?);
        let value = (1u64 << zeros) - 1 + suffix;
        u32::try_from(value).map_err(|_| BitError::Overlong)
    }

    pub(crate) fn se(&mut self) -> Result<i32, BitError> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        // |v| <= 2^31, and only +2^31 does not fit.
        i32::try_from(v).map_err(|_| BitError::Overlong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_reader_is_checked() {
        let mut r = ByteReader::new(&[1, 2, 3, 4, 5]);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.u24(), Some(0x020304));
        assert_eq!(r.u16(), None);
        assert_eq!(r.pos(), 4, "a failed read consumes nothing");
        assert_eq!(r.bytes(usize::MAX), None);
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.u8(), Some(5));
        assert_eq!(r.u8(), None);
    }

    #[test]
    fn exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 -> ue 0,1,2,3 then se of code 4 = -2
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.ue(), Ok(0));
        assert_eq!(r.ue(), Ok(1));
        assert_eq!(r.ue(), Ok(2));
        assert_eq!(r.ue(), Ok(3));
        assert_eq!(r.se(), Ok(-2));
        assert_eq!(r.bits(8), Err(BitError::Eof));
    }

    #[test]
    fn exp_golomb_limits() {
        let zeros = [0u8; 8];
        assert_eq!(BitReader::new(&zeros).ue(), Err(BitError::Overlong));
        // 31 zeros, a one, then 31 ones: 2^32 - 2, the largest legal code.
        let mut max = vec![0u8, 0, 0, 1];
        max.extend_from_slice(&[0xff; 4]);
        assert_eq!(BitReader::new(&max).ue(), Ok(u32::MAX - 1));
        assert_eq!(BitReader::new(&[0, 0]).ue(), Err(BitError::Eof));
    }
}
