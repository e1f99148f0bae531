//! The Redis protocol as the proxy needs it (wire format only): a resumable
//! request framer and the requests it frames (inline commands split as
//! Redis splits them), a reply skipper, the encoding
//! of the proxy's own replies, and a decoder for the replies the proxy reads
//! itself (control replies, off the request path).

pub mod encode;
pub mod frame_error;
pub mod framer;
pub mod inline;
pub mod reply;
pub mod request;
pub mod value;

pub use encode::Proto;
pub use frame_error::ProtocolError;
pub use framer::{FrameLimits, RequestFramer};
pub use reply::{ReplyError, ReplySkipper};
pub use request::Request;
