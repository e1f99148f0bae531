//! nutcracker 0.5.0's crc16: CRC-16/XMODEM table steps on a 32-bit accumulator
//! that is never masked back to 16 bits, so results exceed 0xffff
//! (3662830516 for "apple"). Placement depends on that, so it is kept.

const fn xmodem_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc & 0xffff;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = xmodem_table();

pub fn hash(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |crc, &b| {
        // The index is masked to 8 bits, so the byte's sign does not matter here.
        (crc << 8) ^ TABLE[((crc >> 8) ^ b as u32) as usize & 0xff]
    })
}
