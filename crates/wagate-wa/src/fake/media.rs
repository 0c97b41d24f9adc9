//! A fake WhatsApp media CDN (`mmg`) behind the client's `HttpClient` trait:
//! uploads are stored by direct path, downloads served from there.
//!
//! Why: media goes over HTTPS, not the Noise socket — `upload()` asks the server
//! for a `media_conn` (hosts + auth) and POSTs the encrypted blob; `download()`
//! GETs `https://{host}{direct_path}?…`. Swapping the `HttpClient` is enough.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

    /// What a sending phone does: encrypt + upload an image, return the message.
    pub fn image_message(&self, plaintext: &[u8], caption: &str) -> anyhow::Result<wa::Message> {
        let enc = whatsapp_rust::wacore::upload::encrypt_media(plaintext, MediaType::Image)?;
        let direct_path = format!("/v/t62.7118-24/{}.enc", hex(&enc.file_enc_sha256[..8]));
        self.put(direct_path.clone(), enc.data_to_upload);
        Ok(wa::Message {
            image_message: whatsapp_rust::buffa::MessageField::some(wa::message::ImageMessage {
                url: Some(format!("https://{HOST}{direct_path}")),
                direct_path: Some(direct_path),
                mimetype: Some("image/jpeg".into()),
                caption: Some(caption.into()),
                media_key: Some(enc.media_key.to_vec()),
                file_sha256: Some(enc.file_sha256.to_vec()),
                file_enc_sha256: Some(enc.file_enc_sha256.to_vec()),
                file_length: Some(plaintext.len() as u64),
                media_key_timestamp: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// What a receiving phone does: fetch the image's blob and decrypt it with its media key.
    pub fn decrypt_image(&self, image: &wa::message::ImageMessage) -> anyhow::Result<Vec<u8>> {
        let path = image.direct_path.as_deref().unwrap_or_default();
        let blob = self
            .get(path)
            .ok_or_else(|| anyhow::anyhow!("nothing uploaded at {path}"))?;
        let key = image.media_key.as_deref().unwrap_or_default();
        Ok(
            whatsapp_rust::wacore::download::DownloadUtils::verify_and_decrypt(
                &blob,
                key,
                MediaType::Image,
            )?,
        )
    }
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
