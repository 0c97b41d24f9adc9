//! Media both ways. Outbound, the fetched file is uploaded to WhatsApp's CDN (the client
//! encrypts it) and sent as an image, video, audio, voice note, document or sticker message. Inbound, the file is
//! downloaded and decrypted, then kept in wagate's media vault, where the account fetches it
//! with its API key (WhatsApp's CDN links are encrypted blobs, useless to the account).

use wagate_core::engine::{MediaBlob, SendError};
use wagate_core::failure::FailureCode;
use wagate_core::media::FetchedMedia;
use wagate_core::message::{Media, MediaType};
use whatsapp_rust::Client;
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::download::{Downloadable, MediaType as WaMediaType};
use whatsapp_rust::media::{
    AudioOptions, DocumentOptions, ImageOptions, VideoOptions, audio_message, document_message,
    image_message, video_message,
};
use whatsapp_rust::upload::{UploadOptions, UploadResponse};
use whatsapp_rust::waproto::whatsapp as wa;

use crate::shared::Shared;

fn wa_type(t: MediaType) -> WaMediaType {
    match t {
        MediaType::Image => WaMediaType::Image,
        MediaType::Video => WaMediaType::Video,
        MediaType::Audio | MediaType::Voice => WaMediaType::Audio,
        MediaType::Document => WaMediaType::Document,
        MediaType::Sticker => WaMediaType::Sticker,
    }
}

/// whatsapp-rust has no builder for stickers; the fields are an image's.
fn sticker_message(
    upload: UploadResponse,
    mimetype: Option<String>,
    context_info: Option<Box<wa::ContextInfo>>,
) -> wa::Message {
    wa::Message {
        sticker_message: MessageField::some(wa::message::StickerMessage {
            url: Some(upload.url),
            direct_path: Some(upload.direct_path),
            media_key: Some(upload.media_key.to_vec()),
            file_sha256: Some(upload.file_sha256.to_vec()),
            file_enc_sha256: Some(upload.file_enc_sha256.to_vec()),
            file_length: Some(upload.file_length),
            media_key_timestamp: Some(upload.media_key_timestamp),
            mimetype,
            context_info: context_info
                .map(|c| MessageField::some(*c))
                .unwrap_or_default(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Uploads `fetched` and returns the message that carries it.
pub async fn outbound(
    client: &Client,
    media: &Media,
    fetched: Option<&FetchedMedia>,
    context_info: Option<Box<wa::ContextInfo>>,
) -> Result<wa::Message, SendError> {
    let Some(fetched) = fetched else {
        return Err(SendError {
            code: FailureCode::MediaFetchFailed,
            message: "The media was not fetched before sending.".into(),
            transient: false,
        });
    };
    let upload = client
        .upload(
            fetched.bytes.to_vec(),
            wa_type(media.media_type),
            UploadOptions::default(),
        )
        .await
        .map_err(|e| SendError {
            // The CDN or the connection failed: the message stays queued and is tried again.
            code: FailureCode::ConnectionLost,
            message: format!("Uploading the media to WhatsApp failed: {e}"),
            transient: true,
        })?;
    let mimetype = Some(fetched.format.mime().to_owned());
    let caption = media.caption.clone();
    Ok(match media.media_type {
        MediaType::Image => image_message(
            upload,
            ImageOptions {
                caption,
                mimetype,
                context_info,
                ..Default::default()
            },
        ),
        MediaType::Video => video_message(
            upload,
            VideoOptions {
                caption,
                mimetype,
                context_info,
                ..Default::default()
            },
        ),
        MediaType::Audio | MediaType::Voice => audio_message(
            upload,
            AudioOptions {
                mimetype,
                ptt: Some(media.media_type == MediaType::Voice),
                context_info,
                ..Default::default()
            },
        ),
        MediaType::Sticker => sticker_message(upload, mimetype, context_info),
        MediaType::Document => document_message(
            upload,
            DocumentOptions {
                mimetype,
                file_name: media.filename.clone(),
                title: media.filename.clone(),
                caption,
                context_info,
                ..Default::default()
            },
        ),
    })
}

/// Downloads a received file and keeps it in the vault: the media as wagate records it. An
/// error means the message must not be acknowledged (WhatsApp delivers it again).
pub async fn keep(
    shared: &Shared,
    client: &Client,
    file: &dyn Downloadable,
    media_type: MediaType,
    caption: Option<String>,
    filename: Option<String>,
    mime_type: Option<String>,
) -> anyhow::Result<Media> {
    let bytes = client.download(file).await?;
    let size = bytes.len() as u64;
    let url = shared
        .vault
        .keep(
            &shared.instance,
            MediaBlob {
                bytes,
                mime_type: mime_type.clone(),
                filename: filename.clone(),
            },
        )
        .await?;
    Ok(Media {
        media_type,
        url,
        caption,
        filename,
        mime_type,
        size: Some(size),
    })
}
