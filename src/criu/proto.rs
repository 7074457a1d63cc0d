//! The few pieces of the protocol-buffers wire format that CRIU's RPC needs: varint and
//! length-delimited fields written in tag order, and a reader that walks a message's
//! fields and skips the ones it does not know. (A protobuf crate would bring code
//! generation or a derive for about two dozen fields; this is the whole of it.)

use anyhow::{bail, Result};

/// A message being encoded.
#[derive(Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const BYTES: u64 = 2;
const FIXED32: u64 = 5;

impl Writer {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.bytes.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.bytes.push(value as u8);
    }

    fn key(&mut self, field: u32, wire: u64) {
        self.varint((u64::from(field) << 3) | wire);
    }

    /// An unsigned integer or enum field.
    pub fn uint(&mut self, field: u32, value: u64) -> &mut Self {
        self.key(field, VARINT);
        self.varint(value);
        self
    }

    /// An int32 field: negative values take ten bytes, sign-extended, as the format says.
    pub fn int32(&mut self, field: u32, value: i32) -> &mut Self {
        self.uint(field, i64::from(value) as u64)
    }

    pub fn bool(&mut self, field: u32, value: bool) -> &mut Self {
        self.uint(field, u64::from(value))
    }

    pub fn bytes(&mut self, field: u32, value: &[u8]) -> &mut Self {
        self.key(field, BYTES);
        self.varint(value.len() as u64);
        self.bytes.extend_from_slice(value);
        self
    }

    pub fn string(&mut self, field: u32, value: &str) -> &mut Self {
        self.bytes(field, value.as_bytes())
    }

    /// An embedded message.
    pub fn message(&mut self, field: u32, message: &Writer) -> &mut Self {
        self.bytes(field, &message.bytes)
    }

    pub fn finish(&self) -> &[u8] {
        &self.bytes
    }
}

/// A field's value as read off the wire.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// fixed32 and fixed64, which CRIU's messages do not use.
    Fixed,
}

impl<'a> Value<'a> {
    pub fn as_u64(self) -> Option<u64> {
        match self {
            Value::Varint(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_i32(self) -> Option<i32> {
        self.as_u64().map(|v| v as i64 as i32)
    }

    pub fn as_bool(self) -> Option<bool> {
        self.as_u64().map(|v| v != 0)
    }

    pub fn as_bytes(self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_string(self) -> Option<String> {
        self.as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// Every field of the message in `bytes`, in wire order.
pub fn fields(bytes: &[u8]) -> Result<Vec<(u32, Value<'_>)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let key = read_varint(bytes, &mut at)?;
        let field = (key >> 3) as u32;
        let value = match key & 7 {
            VARINT => Value::Varint(read_varint(bytes, &mut at)?),
            BYTES => {
                let len = read_varint(bytes, &mut at)? as usize;
                let end = at.checked_add(len).filter(|&e| e <= bytes.len());
                let Some(end) = end else {
                    bail!("truncated protobuf field {field}");
                };
                let value = Value::Bytes(&bytes[at..end]);
                at = end;
                value
            }
            FIXED64 | FIXED32 => {
                at += if key & 7 == FIXED64 { 8 } else { 4 };
                if at > bytes.len() {
                    bail!("truncated protobuf field {field}");
                }
                Value::Fixed
            }
            wire => bail!("protobuf field {field} has unsupported wire type {wire}"),
        };
        out.push((field, value));
    }
    Ok(out)
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&byte) = bytes.get(*at) else {
            bail!("truncated protobuf varint");
        };
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    bail!("protobuf varint longer than 10 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_format_specifies() {
        // The examples of the protobuf encoding guide: 150 in field 1, "testing" in field 2.
        let mut w = Writer::default();
        w.uint(1, 150).string(2, "testing");
        assert_eq!(
            w.finish(),
            &[0x08, 0x96, 0x01, 0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g']
        );
        let mut w = Writer::default();
        w.int32(1, -1);
        assert_eq!(w.finish().len(), 11);
    }

    #[test]
    fn reads_back_what_it_writes_and_skips_unknown_wire_types() {
        let mut inner = Writer::default();
        inner.int32(1, 4242);
        let mut w = Writer::default();
        w.uint(1, 2).bool(2, true).message(4, &inner).int32(7, -3);
        let mut bytes = w.finish().to_vec();
        // A fixed32 field 9 after them.
        bytes.extend_from_slice(&[0x4d, 1, 2, 3, 4]);
        let read = fields(&bytes).unwrap();
        assert_eq!(read[0], (1, Value::Varint(2)));
        assert_eq!(read[1].1.as_bool(), Some(true));
        let nested = fields(read[2].1.as_bytes().unwrap()).unwrap();
        assert_eq!(nested[0].1.as_i32(), Some(4242));
        assert_eq!(read[3].1.as_i32(), Some(-3));
        assert_eq!(read[4], (9, Value::Fixed));
    }

    #[test]
    fn refuses_truncated_input() {
        assert!(fields(&[0x12, 0x05, b'a']).is_err());
        assert!(fields(&[0x08, 0x96]).is_err());
    }
}
