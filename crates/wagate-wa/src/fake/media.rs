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

    /// What a contact's phone does to send a file: encrypt and upload it, then describe it in
    /// the message of its kind.
    pub fn phone_media(&self, file: PhoneFile<'_>) -> anyhow::Result<wa::Message> {
        let u = self.upload(file.bytes(), file.media_type())?;
        // Every media message carries the same description of the uploaded blob.
        macro_rules! uploaded {
            ($ty:ident, $mime:expr, { $($field:ident: $value:expr),* $(,)? }) => {
                wa::message::$ty {
                    url: Some(u.url),
                    direct_path: Some(u.direct_path),
                    mimetype: Some($mime.to_owned()),
                    media_key: Some(u.media_key),
                    file_sha256: Some(u.file_sha256),
                    file_enc_sha256: Some(u.file_enc_sha256),
                    file_length: Some(u.file_length),
                    media_key_timestamp: Some(0),
                    $($field: $value,)*
                    ..Default::default()
                }
            };
        }
        let mut m = wa::Message::default();
        match file {
            PhoneFile::Image { caption, .. } => {
                m.image_message = MessageField::some(uploaded!(ImageMessage, "image/jpeg", {
                    caption: Some(caption.into()),
                }));
            }
            PhoneFile::Video { caption, .. } => {
                m.video_message = MessageField::some(uploaded!(VideoMessage, "video/mp4", {
                    caption: Some(caption.into()),
                }));
            }
            PhoneFile::Audio { mimetype, ptt, .. } => {
                m.audio_message = MessageField::some(uploaded!(AudioMessage, mimetype, {
                    ptt: Some(ptt),
                }));
            }
            PhoneFile::Document {
                file_name,
                mimetype,
                ..
            } => {
                m.document_message = MessageField::some(uploaded!(DocumentMessage, mimetype, {
                    file_name: Some(file_name.into()),
                }));
            }
            PhoneFile::Sticker { .. } => {
                m.sticker_message = MessageField::some(uploaded!(StickerMessage, "image/webp", {}));
            }
        }
        Ok(m)
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

/// A file a contact's phone sends, with what its kind of message says about it.
pub enum PhoneFile<'a> {
    Image {
        jpeg: &'a [u8],
        caption: &'a str,
    },
    Video {
        mp4: &'a [u8],
        caption: &'a str,
    },
    /// A voice note when `ptt` (push-to-talk), else a plain audio file.
    Audio {
        bytes: &'a [u8],
        mimetype: &'a str,
        ptt: bool,
    },
    Document {
        bytes: &'a [u8],
        file_name: &'a str,
        mimetype: &'a str,
    },
    Sticker {
        webp: &'a [u8],
    },
}

impl PhoneFile<'_> {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Image { jpeg: b, .. }
            | Self::Video { mp4: b, .. }
            | Self::Audio { bytes: b, .. }
            | Self::Document { bytes: b, .. }
            | Self::Sticker { webp: b } => b,
        }
    }

    /// The kind its encryption keys are derived for.
    fn media_type(&self) -> MediaType {
        match self {
            Self::Image { .. } => MediaType::Image,
            Self::Video { .. } => MediaType::Video,
            Self::Audio { .. } => MediaType::Audio,
            Self::Document { .. } => MediaType::Document,
            Self::Sticker { .. } => MediaType::Sticker,
        }
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
