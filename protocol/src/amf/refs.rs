//! The table both AMF decoders keep for references: where each complex value starts and
//! whether it is complete. A reference is resolved by decoding the value again where the
//! reference stands, so the output stays a tree and depth and budget limits still apply.

use super::AmfError;

/// One table entry. A reference to an incomplete entry would be a cycle, which a tree cannot
/// hold.
#[derive(Clone, Copy)]
struct Slot {
    start: usize,
    done: bool,
}

pub(crate) struct RefTable {
    slots: Vec<Slot>,
    /// Most entries worth keeping: AMF0 references are 16-bit, so later ones are unreachable.
    limit: usize,
    version: u8,
}

impl RefTable {
    pub(crate) fn new(version: u8, limit: usize) -> Self {
        RefTable {
            slots: Vec::new(),
            limit,
            version,
        }
    }

    /// An entry for a complex value starting at byte `at`, unless the table is full.
    pub(crate) fn reserve(&mut self, at: usize) -> Option<usize> {
        if self.slots.len() >= self.limit {
            return None;
        }
        self.slots.push(Slot {
            start: at,
            done: false,
        });
        Some(self.slots.len() - 1)
    }

    /// Marks the value of `slot` as complete.
    pub(crate) fn complete(&mut self, slot: Option<usize>) {
        if let Some(slot) = slot.and_then(|i| self.slots.get_mut(i)) {
            slot.done = true;
        }
    }

    /// Where the value that reference `index` (met at byte `at`) points to starts.
    pub(crate) fn start_of(&self, index: usize, at: usize) -> Result<usize, AmfError> {
        let version = self.version;
        let slot = self.slots.get(index).ok_or(AmfError::BadReference {
            version,
            index,
            offset: at,
        })?;
        if !slot.done {
            let what = if version == 0 {
                "AMF0 circular reference"
            } else {
                "AMF3 circular reference"
            };
            return Err(AmfError::Unsupported { what, offset: at });
        }
        Ok(slot.start)
    }
}
