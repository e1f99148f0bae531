//! Known values for every hash, including keys with bytes >= 0x80 (where
//! nutcracker's signed `char` reads change the result).
//!
//! The nutcracker-only hashes were computed by compiling nutcracker 0.5.0's
//! hashkit C code with gcc on x86-64 (crc16 in its 0.5.0 form, with the
//! unmasked accumulator); md5, crc32a and xxh3 are checked against their
//! published definitions.

use redshard::hashkit::Hash;

const KEYS: [&[u8]; 13] = [
    b"",
    b"a",
    b"apple",
    b"foo",
    b"key:0",
    b"user:{42}:name",
    b"0123456789abcdef",
    b"The quick brown fox jumps over the lazy dog",
    b"\xc3\xa9t\xc3\xa9",
    b"\xff",
    b"\x80\x81\x82",
    b"ab\xff",
    b"abcdefghijkl\xfe\xfd\xfc",
];

/// One row per key, columns in the order of `COLUMNS`.
const COLUMNS: [Hash; 9] = [
    Hash::OneAtATime,
    Hash::Crc16,
    Hash::Fnv1_64,
    Hash::Fnv1a_64,
    Hash::Fnv1_32,
    Hash::Fnv1a_32,
    Hash::Hsieh,
    Hash::Murmur,
    Hash::Jenkins,
];
const EXPECTED: [[u32; 9]; 13] = [
    [
        0, 0, 2216829733, 2216829733, 2166136261, 2166136261, 0, 0, 3735928572,
    ],
    [
        3392050242, 31879, 2248259518, 2248273036, 84696446, 3826002220, 2472816263, 1262581116,
        3768813200,
    ],
    [
        2297466611, 3662830516, 473199127, 1488911807, 67176023, 280767167, 3738850110, 4142305122,
        1442444624,
    ],
    [
        596015325, 205303702, 1805727027, 4275688823, 1083137555, 2851307223, 1993659431,
        3303027599, 2583187353,
    ],
    [
        3235172033, 1880263200, 4257821444, 2519685398, 2305095588, 1460932118, 3284678739,
        1895216676, 232089112,
    ],
    [
        2943448602, 4193931094, 2463323743, 2586002863, 3976222335, 1009282959, 183126618,
        2319559350, 4086919218,
    ],
    [
        4028760775, 3596871845, 998436033, 3853346685, 2652598081, 2277258045, 3097489547,
        43138349, 3760384329,
    ],
    [
        1369346549, 581169352, 2112060110, 3890508048, 3922226286, 76545936, 471461527, 818385189,
        314054204,
    ],
    [
        2144029493, 3861292903, 3995086359, 3933641815, 3199958167, 200187927, 3432339831,
        3664841419, 2303093779,
    ],
    [
        2925896852, 7920, 2046707744, 2046707310, 4210270944, 4193493326, 44489640, 3679652508,
        3784723880,
    ],
    [
        3905741115, 2442830393, 2493725830, 2320555944, 3484111270, 251133096, 1807971698,
        1478657871, 806739281,
    ],
    [
        100913432, 2088034275, 2488291927, 4206756399, 3160658135, 3283607919, 1977393110,
        3968893618, 3920586603,
    ],
    [
        1746210192, 647482317, 3338304038, 6168520, 343866118, 2737146312, 1281799265, 1212311241,
        2577915669,
    ],
];

#[test]
fn nutcracker_hashes_match_its_c_code() {
    let mut wrong = Vec::new();
    for (key, row) in KEYS.iter().zip(EXPECTED) {
        for (hash, want) in COLUMNS.iter().zip(row) {
            let got = hash.hash(key);
            if got != want {
                wrong.push(format!("{hash}({key:?}) = {got}, want {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn crc16_of_apple_is_nutcrackers_unmasked_value() {
    assert_eq!(Hash::Crc16.hash(b"apple"), 3_662_830_516);
}

#[test]
fn standard_hashes_match_their_definitions() {
    let fox = b"The quick brown fox jumps over the lazy dog";
    // CRC-32 (IEEE) of the fox sentence is 0x414fa339.
    assert_eq!(Hash::Crc32a.hash(fox), 0x414f_a339);
    assert_eq!(Hash::Crc32a.hash(b"123456789"), 0xcbf4_3926);
    // libmemcached's crc32 keeps bits 16..31 of the CRC, masked to 15 bits.
    assert_eq!(Hash::Crc32.hash(fox), 0x414f);
    assert_eq!(Hash::Crc32.hash(b"123456789"), 0xcbf4 & 0x7fff);
    // md5("") = d41d8cd9..., first four bytes little endian.
    assert_eq!(Hash::Md5.hash(b""), 0xd98c_1dd4);
    // md5(fox) = 9e107d9d...
    assert_eq!(Hash::Md5.hash(fox), 0x9d7d_109e);
    // xxh3_64("") = 0x2d06800538d394c2; redshard keeps the low 32 bits.
    assert_eq!(Hash::Xxh3.hash(b""), 0x38d3_94c2);
}

#[test]
fn bytes_above_0x7f_are_read_signed_where_nutcracker_does() {
    // With unsigned bytes, fnv1a_32("\xff") would be (0x811c9dc5 ^ 0xff) * prime.
    let unsigned = (0x811c_9dc5_u32 ^ 0xff).wrapping_mul(16_777_619);
    assert_ne!(Hash::Fnv1a_32.hash(b"\xff"), unsigned);
    let signed = (0x811c_9dc5_u32 ^ 0xffff_ffff).wrapping_mul(16_777_619);
    assert_eq!(Hash::Fnv1a_32.hash(b"\xff"), signed);
}
