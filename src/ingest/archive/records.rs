//! The central directory of a ZIP archive read record by record, as it was written: every
//! entry's name, size and local header, those that share a name included. The zip crate keys
//! entries by name and keeps one of each, so an entry it folds away would otherwise be neither
//! read nor listed.

use std::io::{self, BufReader, Read, Seek, SeekFrom};

use super::ReadSeek;

/// One central directory record.
pub(super) struct Record {
    /// The name as stored; only compared and hashed, never shown.
    pub name: Vec<u8>,
    /// The size it declares, for numbering only.
    pub size: u64,
    /// Where its local header stands, from the start of the reader.
    pub header_start: u64,
}

/// The records from `start` (where the crate found the directory) for as long as they follow
/// one another, at most `max`; `offset` is what the crate found prepended to the archive.
pub(super) fn read(reader: &mut Box<dyn ReadSeek>, start: u64, offset: u64, max: u64) -> io::Result<Vec<Record>> {
    reader.seek(SeekFrom::Start(start))?;
    let mut input = BufReader::new(reader);
    let mut records = Vec::new();
    while (records.len() as u64) < max {
        let mut fixed = [0u8; 46];
        match input.read_exact(&mut fixed) {
            Ok(()) if fixed.starts_with(b"PK\x01\x02") => {}
            // The end record, or the end of what can be read, ends the directory.
            _ => break,
        }
        let u16_at = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]);
        let (compressed, size, header) = (u32_at(20), u32_at(24), u32_at(42));
        let mut name = vec![0u8; usize::from(u16_at(28))];
        let mut extra = vec![0u8; usize::from(u16_at(30))];
        input.read_exact(&mut name)?;
        input.read_exact(&mut extra)?;
        io::copy(&mut (&mut input).take(u64::from(u16_at(32))), &mut io::sink())?;
        let (size, header_start) = zip64(&extra, compressed, size, header);
        records.push(Record { name, size, header_start: header_start.saturating_add(offset) });
    }
    Ok(records)
}

/// The size and local header offset, from the ZIP64 extra field where the record saturates
/// them (APPNOTE 4.5.3: only the saturated values are present, in this order).
fn zip64(extra: &[u8], compressed: u32, size: u32, header: u32) -> (u64, u64) {
    let mut values = (u64::from(size), u64::from(header));
    let mut rest = extra;
    while rest.len() >= 4 {
        let (id, len) = (u16::from_le_bytes([rest[0], rest[1]]), usize::from(u16::from_le_bytes([rest[2], rest[3]])));
        let Some(data) = rest.get(4..4 + len) else { break };
        if id == 1 {
            let mut fields = data.chunks_exact(8).map(|c| c.try_into().map(u64::from_le_bytes).unwrap_or(u64::MAX));
            if size == u32::MAX {
                values.0 = fields.next().unwrap_or(u64::MAX);
            }
            if compressed == u32::MAX {
                fields.next();
            }
            if header == u32::MAX {
                values.1 = fields.next().unwrap_or(u64::MAX);
            }
        }
        rest = &rest[4 + len..];
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturated_fields_are_read_from_the_zip64_extra_field_in_order() {
        let field = |values: &[u64]| [&1u16.to_le_bytes()[..], &((values.len() * 8) as u16).to_le_bytes(), &values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()].concat();
        // Another extra field first, then ZIP64 with size, compressed size and offset.
        let extra = [&[0x55, 0x54, 1, 0, 9][..], &field(&[5 << 32, 6 << 32, 7 << 32])].concat();
        assert_eq!(zip64(&extra, u32::MAX, u32::MAX, u32::MAX), (5 << 32, 7 << 32));
        // Only the offset saturated: it is the field's first value.
        assert_eq!(zip64(&field(&[9 << 32]), 10, 20, u32::MAX), (20, 9 << 32));
        assert_eq!(zip64(&[], 10, 20, 30), (20, 30));
    }
}
