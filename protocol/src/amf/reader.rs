//! What both AMF decoders read with and are bounded by: a bounds-checked cursor over the input
//! and the budget that keeps references from multiplying the output. It lives apart from
//! either decoder so that AMF3 does not depend on AMF0; AMF0 depends on AMF3 only for the AVM+
//! switch.

use super::AmfError;

/// The most elements reserved ahead of decoding them: an honest count saves reallocations for
/// ordinary arrays, a lying one costs no more than this.
pub(super) const PREALLOC_CAP: usize = 4096;

/// How much output one decode call may produce, in units of one per value plus one per string
/// or byte-array byte. Without references output is at most about twice the input; references
/// (which re-emit earlier values) could otherwise multiply it without bound.
pub(super) struct Budget {
    left: usize,
}

impl Budget {
    pub(super) fn for_input(len: usize) -> Self {
        Budget {
            left: len.saturating_mul(16).saturating_add(1 << 16),
        }
    }

    pub(super) fn charge(&mut self, units: usize, offset: usize) -> Result<(), AmfError> {
        self.left = self.left.checked_sub(units).ok_or(AmfError::Unsupported {
            what: "AMF references expand past 16 times the input size",
            offset,
        })?;
        Ok(())
    }
}

/// A bounds-checked cursor over the whole input, so every offset in an error is absolute and
/// no read can run past the end.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(super) fn at(buf: &'a [u8], pos: usize) -> Result<Self, AmfError> {
        let mut r = Reader::new(buf);
        r.seek(pos)?;
        Ok(r)
    }

    pub(super) fn seek(&mut self, pos: usize) -> Result<(), AmfError> {
        if pos > self.buf.len() {
            return Err(AmfError::Truncated {
                offset: self.buf.len(),
            });
        }
        self.pos = pos;
        Ok(())
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], AmfError> {
        let truncated = AmfError::Truncated { offset: self.pos };
        let end = self.pos.checked_add(n).ok_or(truncated.clone())?;
        let bytes = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AmfError> {
        let at = self.pos;
        self.take(N)?
            .try_into()
            .map_err(|_| AmfError::Truncated { offset: at })
    }

    pub(super) fn peek_u8(&self) -> Result<u8, AmfError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or(AmfError::Truncated { offset: self.pos })
    }

    pub(super) fn read_u8(&mut self) -> Result<u8, AmfError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub(super) fn read_u16(&mut self) -> Result<u16, AmfError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(super) fn read_u32(&mut self) -> Result<u32, AmfError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(super) fn read_f64(&mut self) -> Result<f64, AmfError> {
        Ok(f64::from_be_bytes(self.array()?))
    }
}
