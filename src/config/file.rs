//! Reading the config file, within a bound: a config is a few KB, so a file
//! of megabytes is a mistake (a log or a device given to `-c`), and reading
//! it whole would take the memory of a proxy that is serving.

use std::io::Read;
use std::path::Path;

use super::{show_size, ConfigError, ConfigErrorKind};

/// The largest config file read: thousands of servers fit in a few hundred KB.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// The bytes of `file`, refused before they are read when it is not a
/// regular file (a device such as /dev/zero reports size 0 and never ends) or
/// is larger than [`MAX_FILE_BYTES`]. The read itself is bounded too, for a
/// file that grows between the check and the read.
pub fn read_file(file: &Path) -> Result<Vec<u8>, ConfigError> {
    let fail = |kind| ConfigError::new(file, kind);
    let io = |e| fail(ConfigErrorKind::Io(e));
    let regular = |meta: std::fs::Metadata| match meta.is_file() {
        true => Ok(meta),
        false => Err(fail(ConfigErrorKind::NotRegularFile(file_type(&meta)))),
    };
    // Checked before the open too: opening a pipe waits for its writer.
    regular(std::fs::metadata(file).map_err(io)?)?;
    let handle = std::fs::File::open(file).map_err(io)?;
    let meta = regular(handle.metadata().map_err(io)?)?;
    let too_large = |size| {
        fail(ConfigErrorKind::TooLarge {
            size,
            limit: show_size(MAX_FILE_BYTES),
        })
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    handle
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

fn file_type(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a pipe"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}
