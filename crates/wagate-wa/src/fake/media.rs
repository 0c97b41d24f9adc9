//! A fake WhatsApp media CDN (`mmg`) behind the client's `HttpClient` trait:
//! uploads are stored by direct path, downloads served from there.
//!
//! Why: media goes over HTTPS, not the Noise socket — `upload()` asks the server
//! for a `media_conn` (hosts + auth) and POSTs the encrypted blob; `download()`
//! GETs `https://{host}{direct_path}?…`. Swapping the `HttpClient` is enough.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::wacore::download::MediaType;
use whatsapp_rust::wacore::net::{HttpClient, HttpRequest, HttpResponse};
use whatsapp_rust::waproto::whatsapp as wa;

pub const HOST: &str = "mmg.fake.test";

#[derive(Default)]
pub struct FakeCdn {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
}

impl FakeCdn {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn get(&self, direct_path: &str) -> Option<Vec<u8>> {
        self.blobs.lock().unwrap().get(direct_path).cloned()
    }
    pub fn len(&self) -> usize {
        self.blobs.lock().unwrap().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn put(&self, direct_path: String, data: Vec<u8>) {
        self.blobs.lock().unwrap().insert(direct_path, data);
    }

    /// What a sending phone does first: encrypt `plaintext` as `kind` and upload it.
    fn upload(&self, plaintext: &[u8], kind: MediaType) -> anyhow::Result<Uploaded> {
        let enc = whatsapp_rust::wacore::upload::encrypt_media(plaintext, kind)?;
        let direct_path = format!("/v/t62.7118-24/{}.enc", hex(&enc.file_enc_sha256[..8]));
        self.put(direct_path.clone(), enc.data_to_upload);
        Ok(Uploaded {
            url: format!("https://{HOST}{direct_path}"),
            direct_path,
            media_key: enc.media_key.to_vec(),
            file_sha256: enc.file_sha256.to_vec(),
            file_enc_sha256: enc.file_enc_sha256.to_vec(),
            file_length: plaintext.len() as u64,
        })
    }

    /// What a sending phone does: encrypt + upload an image, return the message.
    pub fn image_message(&self, plaintext: &[u8], caption: &str) -> anyhow::Result<wa::Message> {
        let u = self.upload(plaintext, MediaType::Image)?;
        Ok(wa::Message {
            image_message: MessageField::some(wa::message::ImageMessage {
                url: Some(u.url),
                direct_path: Some(u.direct_path),
                mimetype: Some("image/jpeg".into()),
                caption: Some(caption.into()),
                media_key: Some(u.media_key),
                file_sha256: Some(u.file_sha256),
                file_enc_sha256: Some(u.file_enc_sha256),
                file_length: Some(u.file_length),
                media_key_timestamp: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// A WebP sticker, as a phone sends it.
    pub fn sticker_message(&self, webp: &[u8]) -> anyhow::Result<wa::Message> {
        let u = self.upload(webp, MediaType::Sticker)?;
        Ok(wa::Message {
            sticker_message: MessageField::some(wa::message::StickerMessage {
                url: Some(u.url),
                direct_path: Some(u.direct_path),
                mimetype: Some("image/webp".into()),
                media_key: Some(u.media_key),
                file_sha256: Some(u.file_sha256),
                file_enc_sha256: Some(u.file_enc_sha256),
                file_length: Some(u.file_length),
                media_key_timestamp: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// A push-to-talk voice note (OGG/Opus), as a phone sends it.
    pub fn voice_message(&self, ogg: &[u8]) -> anyhow::Result<wa::Message> {
        let u = self.upload(ogg, MediaType::Audio)?;
        Ok(wa::Message {
            audio_message: MessageField::some(wa::message::AudioMessage {
                url: Some(u.url),
                direct_path: Some(u.direct_path),
                mimetype: Some("audio/ogg; codecs=opus".into()),
                media_key: Some(u.media_key),
                file_sha256: Some(u.file_sha256),
                file_enc_sha256: Some(u.file_enc_sha256),
                file_length: Some(u.file_length),
                media_key_timestamp: Some(0),
                ptt: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// What a receiving phone does: fetch the image's blob and decrypt it with its media key.
    pub fn decrypt_image(&self, image: &wa::message::ImageMessage) -> anyhow::Result<Vec<u8>> {
        self.decrypt(
            image.direct_path.as_deref(),
            image.media_key.as_deref(),
            MediaType::Image,
        )
    }

    /// The same for any kind of media, by its direct path and key.
    pub fn decrypt(
        &self,
        direct_path: Option<&str>,
        media_key: Option<&[u8]>,
        kind: MediaType,
    ) -> anyhow::Result<Vec<u8>> {
        let path = direct_path.unwrap_or_default();
        let blob = self
            .get(path)
            .ok_or_else(|| anyhow::anyhow!("nothing uploaded at {path}"))?;
        Ok(
            whatsapp_rust::wacore::download::DownloadUtils::verify_and_decrypt(
                &blob,
                media_key.unwrap_or_default(),
                kind,
            )?,
        )
    }
}

/// An encrypted file on the CDN, described as a message carries it.
struct Uploaded {
    url: String,
    direct_path: String,
    media_key: Vec<u8>,
    file_sha256: Vec<u8>,
    file_enc_sha256: Vec<u8>,
    file_length: u64,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The `HttpClient` handed to `BotBuilder::with_http_client`.
pub struct FakeCdnClient(pub Arc<FakeCdn>);

#[async_trait::async_trait]
impl HttpClient for FakeCdnClient {
    async fn execute(&self, r: HttpRequest) -> anyhow::Result<HttpResponse> {
        let Some(rest) = r.url.strip_prefix(&format!("https://{HOST}")) else {
            anyhow::bail!("offline test: no HTTP to {}", r.url);
        };
        let path = rest.split('?').next().unwrap_or_default();
        if r.method == "POST" && path.starts_with("/mms/") {
            let token = path.rsplit('/').next().unwrap_or_default();
            let direct_path = format!("/v/t62.7118-24/{token}.enc");
            self.0.put(
                direct_path.clone(),
                r.body.map(|b| b.to_vec()).unwrap_or_default(),
            );
            let body =
                format!(r#"{{"url":"https://{HOST}{direct_path}","direct_path":"{direct_path}"}}"#);
            return Ok(HttpResponse {
                status_code: 200,
                body: body.into_bytes(),
            });
        }
        match self.0.get(path) {
            Some(b) if r.method == "GET" => Ok(HttpResponse {
                status_code: 200,
                body: b,
            }),
            _ => Ok(HttpResponse {
                status_code: 404,
                body: vec![],
            }),
        }
    }
}
