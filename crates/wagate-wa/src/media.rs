//! Media both ways. Outbound, the fetched file is uploaded to WhatsApp's CDN (the client
//! encrypts it) and sent as an image, video, audio or document message. Inbound, the file is
//! downloaded and decrypted, then kept in wagate's media vault, where the account fetches it
//! with its API key (WhatsApp's CDN links are encrypted blobs, useless to the account).

use wagate_core::engine::{InboundMessage, MediaBlob, SendError};
use wagate_core::failure::FailureCode;
use wagate_core::media::FetchedMedia;
use wagate_core::message::{Content, Media, MediaType};
use whatsapp_rust::Client;
use whatsapp_rust::download::MediaType as WaMediaType;
use whatsapp_rust::media::{
    AudioOptions, DocumentOptions, ImageOptions, VideoOptions, audio_message, document_message,
    image_message, video_message,
};
use whatsapp_rust::upload::UploadOptions;
use whatsapp_rust::waproto::whatsapp as wa;

use crate::convert::{Body, Received};
use crate::shared::Shared;

fn wa_type(t: MediaType) -> WaMediaType {
    match t {
        MediaType::Image => WaMediaType::Image,
        MediaType::Video => WaMediaType::Video,
        MediaType::Audio => WaMediaType::Audio,
        MediaType::Document => WaMediaType::Document,
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
        MediaType::Audio => audio_message(
            upload,
            AudioOptions {
                mimetype,
                context_info,
                ..Default::default()
            },
        ),
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

/// The message as wagate records it: media is downloaded and kept first. An error means it
/// must not be acknowledged (WhatsApp delivers it again).
pub async fn inbound(
    shared: &Shared,
    client: &Client,
    r: Received<'_>,
) -> anyhow::Result<InboundMessage> {
    let content = match r.body {
        Body::Text(t) => Content::Text(t),
        Body::Media {
            file,
            media_type,
            caption,
            filename,
            mime_type,
        } => {
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
            Content::Media(Media {
                media_type,
                url,
                caption,
                filename,
                mime_type,
                size: Some(size),
            })
        }
    };
    Ok(InboundMessage {
        external_id: r.external_id,
        from: r.from,
        from_name: r.from_name,
        group: r.group,
        content,
        quoted_message_id: r.quoted_message_id,
        timestamp: r.timestamp,
    })
}
