//! QR codes as `data:image/png;base64,…` URIs, usable directly as `<img src>` (§6.6).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use image::{ImageEncoder, Luma};
use qrcode::QrCode;

pub fn png_data_uri(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let img = code.render::<Luma<u8>>().min_dimensions(256, 256).build();
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .ok()?;
    Some(format!("data:image/png;base64,{}", STANDARD.encode(png)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png_data_uri() {
        let uri = png_data_uri("2@abc,def").unwrap();
        let b64 = uri.strip_prefix("data:image/png;base64,").unwrap();
        let bytes = STANDARD.decode(b64).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let img = image::load_from_memory(&bytes).unwrap();
        assert!(img.width() >= 256);
    }
}
