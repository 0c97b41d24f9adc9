//! Media rules of §15.5: which formats each media type accepts, how large it may be, and the
//! codes a message fails with when its media cannot be used.
//!
//! The media is fetched when the message is sent (the server's `media_fetch`); what it may be is
//! decided here, without I/O.

use bytes::Bytes;
use thiserror::Error;

use crate::failure::FailureCode;
use crate::message::{Media, MediaType, MessageError};

/// A file format §15.5 accepts, with its canonical MIME type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaFormat {
    Jpeg,
    Png,
    Webp,
    Mp4,
    ThreeGp,
    Mp3,
    Ogg,
    Aac,
    Pdf,
    Doc,
    Docx,
    Xls,
    Xlsx,
    Ppt,
    Pptx,
    Txt,
}

impl MediaFormat {
    pub const ALL: [MediaFormat; 16] = [
        MediaFormat::Jpeg,
        MediaFormat::Png,
        MediaFormat::Webp,
        MediaFormat::Mp4,
        MediaFormat::ThreeGp,
        MediaFormat::Mp3,
        MediaFormat::Ogg,
        MediaFormat::Aac,
        MediaFormat::Pdf,
        MediaFormat::Doc,
        MediaFormat::Docx,
        MediaFormat::Xls,
        MediaFormat::Xlsx,
        MediaFormat::Ppt,
        MediaFormat::Pptx,
        MediaFormat::Txt,
    ];

    pub fn mime(self) -> &'static str {
        match self {
            MediaFormat::Jpeg => "image/jpeg",
            MediaFormat::Png => "image/png",
            MediaFormat::Webp => "image/webp",
            MediaFormat::Mp4 => "video/mp4",
            MediaFormat::ThreeGp => "video/3gpp",
            MediaFormat::Mp3 => "audio/mpeg",
            MediaFormat::Ogg => "audio/ogg",
            MediaFormat::Aac => "audio/aac",
            MediaFormat::Pdf => "application/pdf",
            MediaFormat::Doc => "application/msword",
            MediaFormat::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            MediaFormat::Xls => "application/vnd.ms-excel",
            MediaFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            MediaFormat::Ppt => "application/vnd.ms-powerpoint",
            MediaFormat::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            MediaFormat::Txt => "text/plain",
        }
    }

    /// Other names servers use for the same format.
    fn mime_aliases(self) -> &'static [&'static str] {
        match self {
            MediaFormat::Jpeg => &["image/jpg", "image/pjpeg"],
            MediaFormat::Mp3 => &["audio/mp3", "audio/mpeg3"],
            MediaFormat::Ogg => &["application/ogg", "audio/opus"],
            MediaFormat::Aac => &["audio/x-aac", "audio/aacp"],
            MediaFormat::ThreeGp => &["video/3gp"],
            _ => &[],
        }
    }

    fn extensions(self) -> &'static [&'static str] {
        match self {
            MediaFormat::Jpeg => &["jpg", "jpeg"],
            MediaFormat::Png => &["png"],
            MediaFormat::Webp => &["webp"],
            MediaFormat::Mp4 => &["mp4"],
            MediaFormat::ThreeGp => &["3gp"],
            MediaFormat::Mp3 => &["mp3"],
            MediaFormat::Ogg => &["ogg", "oga", "opus"],
            MediaFormat::Aac => &["aac"],
            MediaFormat::Pdf => &["pdf"],
            MediaFormat::Doc => &["doc"],
            MediaFormat::Docx => &["docx"],
            MediaFormat::Xls => &["xls"],
            MediaFormat::Xlsx => &["xlsx"],
            MediaFormat::Ppt => &["ppt"],
            MediaFormat::Pptx => &["pptx"],
            MediaFormat::Txt => &["txt"],
        }
    }

    /// Whether media sent as `t` may be in this format: a sticker is WebP, a voice note OGG/Opus.
    pub fn fits(self, t: MediaType) -> bool {
        match t {
            MediaType::Sticker => self == MediaFormat::Webp,
            MediaType::Voice => self == MediaFormat::Ogg,
            other => self.media_type() == other,
        }
    }

    pub fn media_type(self) -> MediaType {
        match self {
            MediaFormat::Jpeg | MediaFormat::Png | MediaFormat::Webp => MediaType::Image,
            MediaFormat::Mp4 | MediaFormat::ThreeGp => MediaType::Video,
            MediaFormat::Mp3 | MediaFormat::Ogg | MediaFormat::Aac => MediaType::Audio,
            _ => MediaType::Document,
        }
    }

    /// A `Content-Type` value, parameters (`; charset=…`) and case ignored.
    pub fn from_mime(content_type: &str) -> Option<Self> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|f| f.mime() == essence || f.mime_aliases().contains(&essence.as_str()))
    }

    /// The extension of a file name or URL path (`invoice.PDF`, `/a/b/photo.jpg`).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let last = name.rsplit('/').next().unwrap_or(name);
        let (_, ext) = last.rsplit_once('.')?;
        let ext = ext.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|f| f.extensions().contains(&ext.as_str()))
    }
}

/// Content types that say nothing about the format; the file name decides instead.
fn is_generic(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.is_empty()
        || essence.eq_ignore_ascii_case("application/octet-stream")
        || essence.eq_ignore_ascii_case("binary/octet-stream")
}

/// Why a message's media cannot be sent; each is a permanent failure of the message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MediaError {
    /// The URL was refused, did not answer, or answered with something other than a 2xx.
    #[error("{0}")]
    FetchFailed(String),
    #[error("The media is larger than the {size} allowed for {media_type}.", size = size_text(*.limit), media_type = .media_type.as_str())]
    TooLarge { media_type: MediaType, limit: u64 },
    #[error("{found} is not a format allowed for {media_type} ({allowed}).", media_type = .media_type.as_str(), allowed = allowed_list(.media_type))]
    UnsupportedFormat {
        media_type: MediaType,
        found: String,
    },
}

/// `5 MB`, `500 KB`.
fn size_text(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB {
        format!("{} MB", bytes / MB)
    } else {
        format!("{} KB", bytes / 1024)
    }
}

fn allowed_list(t: &MediaType) -> String {
    MediaFormat::ALL
        .into_iter()
        .filter(|f| f.fits(*t))
        .map(MediaFormat::mime)
        .collect::<Vec<_>>()
        .join(", ")
}

impl MediaError {
    /// The `error.code` of the failed message (§15.5).
    pub fn code(&self) -> FailureCode {
        match self {
            MediaError::FetchFailed(_) => FailureCode::MediaFetchFailed,
            MediaError::TooLarge { .. } => FailureCode::MediaTooLarge,
            MediaError::UnsupportedFormat { .. } => FailureCode::UnsupportedMediaFormat,
        }
    }
}

impl From<MediaError> for MessageError {
    fn from(e: MediaError) -> Self {
        MessageError {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// The format of fetched media, from the server's `Content-Type`; when that is missing or
/// generic (`application/octet-stream`), from the extension of `filename` or of the URL's path.
/// The format must be one of `media.media_type`'s.
pub fn format_of(media: &Media, content_type: Option<&str>) -> Result<MediaFormat, MediaError> {
    let declared = content_type.filter(|c| !is_generic(c));
    let found = match declared {
        Some(c) => MediaFormat::from_mime(c).ok_or_else(|| c.to_owned()),
        None => media
            .filename
            .as_deref()
            .and_then(MediaFormat::from_file_name)
            .or_else(|| MediaFormat::from_file_name(url_path(&media.url)))
            .ok_or_else(|| {
                content_type
                    .unwrap_or("a file without a content type")
                    .to_owned()
            }),
    };
    match found {
        Ok(f) if f.fits(media.media_type) => Ok(f),
        Ok(f) => Err(MediaError::UnsupportedFormat {
            media_type: media.media_type,
            found: f.mime().to_owned(),
        }),
        Err(found) => Err(MediaError::UnsupportedFormat {
            media_type: media.media_type,
            found,
        }),
    }
}

/// The path of a URL, without query or fragment.
fn url_path(url: &str) -> &str {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    match no_query.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => no_query,
    }
}

/// Counts bytes against the limit of a media type while they arrive, so a body without a
/// `Content-Length` (or with a false one) is cut off as soon as it is too large.
#[derive(Debug, Clone, Copy)]
pub struct SizeCap {
    media_type: MediaType,
    seen: u64,
}

impl SizeCap {
    pub fn new(media_type: MediaType) -> Self {
        Self {
            media_type,
            seen: 0,
        }
    }

    pub fn limit(&self) -> u64 {
        self.media_type.max_bytes()
    }

    /// Checks a declared length before anything is read.
    pub fn check_declared(&self, len: u64) -> Result<(), MediaError> {
        if len > self.limit() {
            return Err(self.too_large());
        }
        Ok(())
    }

    /// Adds `n` bytes just received.
    pub fn add(&mut self, n: usize) -> Result<(), MediaError> {
        self.seen = self.seen.saturating_add(n as u64);
        self.check_declared(self.seen)
    }

    fn too_large(&self) -> MediaError {
        MediaError::TooLarge {
            media_type: self.media_type,
            limit: self.limit(),
        }
    }
}

/// Media fetched for sending: its bytes and what they are. An engine that uploads (WhatsApp Web)
/// uses the bytes; one that sends by link (the Cloud API) may use the URL of the message instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMedia {
    pub format: MediaFormat,
    pub bytes: Bytes,
}

impl FetchedMedia {
    /// `media` with the MIME type and size of what was fetched.
    pub fn describe(&self, media: &Media) -> Media {
        Media {
            mime_type: Some(self.format.mime().to_owned()),
            size: Some(self.bytes.len() as u64),
            ..media.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(media_type: MediaType, url: &str, filename: Option<&str>) -> Media {
        Media {
            media_type,
            url: url.into(),
            caption: None,
            filename: filename.map(Into::into),
            mime_type: None,
            size: None,
        }
    }

    #[test]
    fn the_content_type_decides_and_must_match_the_media_type() {
        let img = media(MediaType::Image, "https://x.example/a", None);
        assert_eq!(format_of(&img, Some("image/png")), Ok(MediaFormat::Png));
        assert_eq!(
            format_of(&img, Some("IMAGE/JPEG; charset=binary")),
            Ok(MediaFormat::Jpeg)
        );
        assert_eq!(
            format_of(&img, Some("image/gif")).unwrap_err().code(),
            FailureCode::UnsupportedMediaFormat
        );
        let err = format_of(&img, Some("application/pdf")).unwrap_err();
        assert_eq!(err.code(), FailureCode::UnsupportedMediaFormat);
        assert!(err.to_string().contains("image/png"), "{err}");
        let doc = media(MediaType::Document, "https://x.example/a", None);
        assert_eq!(
            format_of(&doc, Some("text/plain; charset=utf-8")),
            Ok(MediaFormat::Txt)
        );
    }

    #[test]
    fn a_sticker_is_webp_and_a_voice_note_ogg() {
        let sticker = media(MediaType::Sticker, "https://x.example/s.webp", None);
        assert_eq!(
            format_of(&sticker, Some("image/webp")),
            Ok(MediaFormat::Webp)
        );
        let png = format_of(&sticker, Some("image/png")).unwrap_err();
        assert_eq!(png.code(), FailureCode::UnsupportedMediaFormat);
        assert!(png.to_string().contains("(image/webp)"), "{png}");
        let voice = media(MediaType::Voice, "https://x.example/v", None);
        assert_eq!(
            format_of(&voice, Some("audio/ogg; codecs=opus")),
            Ok(MediaFormat::Ogg)
        );
        assert!(format_of(&voice, Some("audio/mpeg")).is_err());
        assert_eq!(MediaType::Sticker.max_bytes(), 500 * 1024);
    }

    #[test]
    fn a_generic_content_type_falls_back_on_the_file_name_then_the_url() {
        let doc = media(
            MediaType::Document,
            "https://x.example/dl?id=7",
            Some("Invoice-2026-001.PDF"),
        );
        assert_eq!(
            format_of(&doc, Some("application/octet-stream")),
            Ok(MediaFormat::Pdf)
        );
        let img = media(MediaType::Image, "https://x.example/p/photo.webp?v=2", None);
        assert_eq!(format_of(&img, None), Ok(MediaFormat::Webp));
        let unknown = media(MediaType::Image, "https://x.example/p/photo", None);
        assert_eq!(
            format_of(&unknown, None).unwrap_err().code(),
            FailureCode::UnsupportedMediaFormat
        );
        // The host is not a file name.
        let host_only = media(MediaType::Image, "https://photo.png", None);
        assert!(format_of(&host_only, None).is_err());
    }

    #[test]
    fn the_cap_stops_at_the_limit_of_the_media_type() {
        let mut cap = SizeCap::new(MediaType::Image);
        assert!(cap.check_declared(5 * 1024 * 1024).is_ok());
        assert_eq!(
            cap.check_declared(5 * 1024 * 1024 + 1).unwrap_err().code(),
            FailureCode::MediaTooLarge
        );
        assert!(cap.add(5 * 1024 * 1024).is_ok());
        let err = cap.add(1).unwrap_err();
        assert_eq!(err.code(), FailureCode::MediaTooLarge);
        assert_eq!(
            err.to_string(),
            "The media is larger than the 5 MB allowed for image."
        );
    }
}
