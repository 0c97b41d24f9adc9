//! Byte-level plumbing of one fake connection: the in-memory transport the
//! client writes to, frame decoding, and the server side of the Noise handshake
//! (XX for a first connect, IK when the client cached our static key).
//!
//! Why a channel pair instead of a socket: `TransportFactory` is a trait, so the
//! real, unmodified client can be driven in-process with no TLS/WebSocket at all.

use async_trait::async_trait;
use wacore_noise::framing::{FrameDecoder, encode_frame};
use whatsapp_rust::async_channel::{Receiver, Sender};
use whatsapp_rust::buffa::Message as _;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::transport::{DisconnectReason, Transport, TransportEvent};
use whatsapp_rust::wacore::handshake::{NoiseCipher, NoiseHandshake};
use whatsapp_rust::wacore::libsignal::protocol::KeyPair;
use whatsapp_rust::wacore_binary::consts::{NOISE_PATTERN_IK, NOISE_PATTERN_XX, WA_CONN_HEADER};
use whatsapp_rust::waproto::whatsapp as wa;

/// Client side of the pipe: bytes go to the server task; `disconnect` tells the
/// client's read loop the stream ended (as a real socket would).
pub struct PipeTransport {
    pub(crate) to_server: Sender<Bytes>,
    pub(crate) events: Sender<TransportEvent>,
}

#[async_trait]
impl Transport for PipeTransport {
    async fn send(&self, data: Bytes) -> anyhow::Result<()> {
        self.to_server
            .send(data)
            .await
            .map_err(|_| anyhow::anyhow!("fake server closed the connection"))
    }
    async fn disconnect(&self) {
        self.to_server.close();
        let _ = self
            .events
            .try_send(TransportEvent::Disconnected(DisconnectReason::Unknown));
        self.events.close();
    }
}

/// Reads whole frames from the client byte stream (strips the one-time WA header).
pub struct FrameReader {
    rx: Receiver<Bytes>,
    dec: FrameDecoder,
    first: bool,
}

impl FrameReader {
    pub fn new(rx: Receiver<Bytes>) -> Self {
        Self {
            rx,
            dec: FrameDecoder::new(),
            first: true,
        }
    }
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(f) = self.dec.decode_frame() {
                return Some(f.to_vec());
            }
            let mut chunk = self.rx.recv().await.ok()?.to_vec();
            if self.first {
                self.first = false;
                if chunk.starts_with(&WA_CONN_HEADER) {
                    chunk.drain(..WA_CONN_HEADER.len());
                }
            }
            self.dec.feed(&chunk);
        }
    }
}

pub fn frame(payload: &[u8]) -> TransportEvent {
    TransportEvent::DataReceived(encode_frame(payload, None).expect("frame").into())
}

/// The server's long-lived Noise identity. Stable across connections so the
/// client's cached cert chain makes its reconnects use IK.
pub struct ServerIdentity {
    pub static_kp: KeyPair,
    pub static_pub: [u8; 32],
    pub cert_chain: Vec<u8>,
}

impl ServerIdentity {
    pub fn generate() -> Self {
        let static_kp = KeyPair::generate(&mut rand::rng());
        let static_pub: [u8; 32] = static_kp.public_key.public_key_bytes().try_into().unwrap();
        // Zero-signed chain: accepted only with `danger-skip-cert-chain-verify`.
        let cert_chain = wacore_noise::test_util::build_cert_chain_bytes(&static_pub);
        Self {
            static_kp,
            static_pub,
            cert_chain,
        }
    }
}

pub struct Handshaken {
    pub read: NoiseCipher,  // client → server
    pub write: NoiseCipher, // server → client
    pub client_payload: wa::ClientPayload,
    pub pattern: &'static str,
}

/// Runs the responder side of XX or IK (chosen by what the ClientHello carries).
pub async fn accept(
    id: &ServerIdentity,
    reader: &mut FrameReader,
    ev: &Sender<TransportEvent>,
) -> anyhow::Result<Handshaken> {
    let hello = reader
        .next()
        .await
        .ok_or_else(|| anyhow::anyhow!("closed before ClientHello"))?;
    let ch = wa::HandshakeMessage::decode_from_slice(&hello)?
        .client_hello
        .into_option()
        .ok_or_else(|| anyhow::anyhow!("no client_hello"))?;
    let ce: [u8; 32] = ch
        .ephemeral
        .clone()
        .unwrap_or_default()
        .try_into()
        .map_err(|_| anyhow::anyhow!("eph"))?;
    let se = KeyPair::generate(&mut rand::rng());
    let se_pub: [u8; 32] = se.public_key.public_key_bytes().try_into().unwrap();

    if let (Some(enc_static), Some(enc_payload)) = (ch.r#static.clone(), ch.payload.clone()) {
        // IK: client already knows our static key.
        let mut n = NoiseHandshake::new(NOISE_PATTERN_IK, &WA_CONN_HEADER)?;
        n.authenticate(&id.static_pub);
        n.authenticate(&ce);
        n.mix_shared_secret(id.static_kp.private_key.serialize(), &ce)?;
        let cs: [u8; 32] = n
            .decrypt(&enc_static)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("static"))?;
        n.mix_shared_secret(id.static_kp.private_key.serialize(), &cs)?;
        let payload = n.decrypt(&enc_payload)?;
        n.authenticate(&se_pub);
        n.mix_shared_secret(se.private_key.serialize(), &ce)?;
        n.mix_shared_secret(se.private_key.serialize(), &cs)?;
        let enc_cert = n.encrypt(&id.cert_chain)?;
        let sh = wa::HandshakeMessage {
            server_hello: whatsapp_rust::buffa::MessageField::some(
                wa::handshake_message::ServerHello {
                    ephemeral: Some(se_pub.to_vec()),
                    r#static: None,
                    payload: Some(enc_cert),
                    ..Default::default()
                },
            ),
            ..Default::default()
        };
        ev.send(frame(&sh.encode_to_vec())).await?;
        let (read, write) = n.finish()?;
        let client_payload = wa::ClientPayload::decode_from_slice(&payload)?;
        return Ok(Handshaken {
            read,
            write,
            client_payload,
            pattern: "IK",
        });
    }

    // XX
    let mut n = NoiseHandshake::new(NOISE_PATTERN_XX, &WA_CONN_HEADER)?;
    n.authenticate(&ce);
    n.authenticate(&se_pub);
    n.mix_shared_secret(se.private_key.serialize(), &ce)?;
    let enc_static = n.encrypt(&id.static_pub)?;
    n.mix_shared_secret(id.static_kp.private_key.serialize(), &ce)?;
    let enc_payload = n.encrypt(&id.cert_chain)?;
    let sh = wa::HandshakeMessage {
        server_hello: whatsapp_rust::buffa::MessageField::some(
            wa::handshake_message::ServerHello {
                ephemeral: Some(se_pub.to_vec()),
                r#static: Some(enc_static),
                payload: Some(enc_payload),
                ..Default::default()
            },
        ),
        ..Default::default()
    };
    ev.send(frame(&sh.encode_to_vec())).await?;
    let fin = reader
        .next()
        .await
        .ok_or_else(|| anyhow::anyhow!("closed before ClientFinish"))?;
    let cf = wa::HandshakeMessage::decode_from_slice(&fin)?
        .client_finish
        .into_option()
        .ok_or_else(|| anyhow::anyhow!("no client_finish"))?;
    let cs: [u8; 32] = n
        .decrypt(&cf.r#static.unwrap_or_default())?
        .try_into()
        .map_err(|_| anyhow::anyhow!("static"))?;
    n.mix_shared_secret(se.private_key.serialize(), &cs)?;
    let payload = n.decrypt(&cf.payload.unwrap_or_default())?;
    let (read, write) = n.finish()?;
    let client_payload = wa::ClientPayload::decode_from_slice(&payload)?;
    Ok(Handshaken {
        read,
        write,
        client_payload,
        pattern: "XX",
    })
}
