//! The Redis protocol as the proxy needs it (wire format only): a resumable
//! request framer and the requests it frames, a reply skipper and the
//! encoding of the proxy's own replies.

pub mod encode;
pub mod framer;
pub mod reply;
pub mod request;

pub use encode::Proto;
pub use framer::{FrameLimits, ProtocolError, RequestFramer};
pub use reply::{ReplyError, ReplySkipper};
pub use request::Request;
