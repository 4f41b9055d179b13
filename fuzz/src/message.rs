//! The decoders of what travels on the rings, fed arbitrary bytes: the
//! command (`Request`) and reply (`Response`) decoders and the punt/inject
//! packet header (`PacketMeta`).
//!
//! Input: the message. Checked: each decoder returns an error or a value;
//! a value re-encodes to bytes that decode to the same value; nothing
//! panics or allocates past what the bytes could hold (a huge declared
//! count must not reserve memory for it).

use tollgate_shm::message::{Request, Response};
use tollgate_shm::PacketMeta;

pub fn run(bytes: &[u8]) {
    if let Ok(request) = Request::decode(bytes) {
        let again = Request::decode(&request.to_bytes()).expect("a re-encoded request decodes");
        assert_eq!(again, request, "request round trip");
        assert_eq!(Request::peek_id(bytes), Some(request.id));
    }
    if let Ok(response) = Response::decode(bytes) {
        let again = Response::decode(&response.to_bytes()).expect("a re-encoded reply decodes");
        assert_eq!(again, response, "reply round trip");
    }
    if let Ok((meta, packet)) = PacketMeta::decode(bytes) {
        assert_eq!(meta.len as usize, packet.len());
        let mut again = meta.encode().to_vec();
        again.extend_from_slice(packet);
        assert_eq!(again, bytes, "packet meta round trip");
    }
}
