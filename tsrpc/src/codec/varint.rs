//! Unsigned LEB128 varints for binary frame headers.

/// Appends `value` as an unsigned LEB128 varint (1 to 10 bytes).
pub(super) fn write(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a varint from the front of `input`, returning it and the bytes used.
pub(super) fn read(input: &[u8]) -> Result<(u64, usize), &'static str> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if i == 9 && byte > 1 {
            return Err("varint overflows 64 bits");
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Err("varint has a redundant trailing zero byte");
            }
            return Ok((value, i + 1));
        }
    }
    if input.len() >= 10 {
        Err("varint overflows 64 bits")
    } else {
        Err("truncated varint")
    }
}
