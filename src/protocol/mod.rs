//! The Redis protocol as the proxy needs it: a resumable request framer, a
//! reply skipper, the command table and the encoding of the proxy's own replies.

pub mod command;
pub mod encode;
pub mod framer;
pub mod reply;

pub use command::{lookup, Action, CommandSpec, Keys, Local, Refusal, Split};
pub use encode::Proto;
pub use framer::{Frame, FrameLimits, ProtocolError, RequestFramer};
pub use reply::{ReplyError, ReplySkipper};
