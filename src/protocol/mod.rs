//! The Redis protocol as the proxy needs it (wire format only): a resumable
//! request framer, a reply skipper and the encoding of the proxy's own replies.

pub mod encode;
pub mod framer;
pub mod reply;

pub use encode::Proto;
pub use framer::{Frame, FrameLimits, ProtocolError, RequestFramer};
pub use reply::{ReplyError, ReplySkipper};
