//! Contact cards as WhatsApp carries them: vCard 3.0 text, one card per contact, with each
//! number as a `TEL` line whose `waid` is the number on WhatsApp (what the app shows a
//! "Message" button for).

use wagate_core::content::ContactCard;
use wagate_core::phone::PhoneNumber;

/// Escapes a vCard text value (RFC 6350 §3.4).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') | Some('N') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

pub fn write(card: &ContactCard) -> String {
    let mut v = String::from("BEGIN:VCARD\nVERSION:3.0\n");
    v.push_str(&format!(
        "N:;{};;;\nFN:{}\n",
        escape(&card.name),
        escape(&card.name)
    ));
    if let Some(org) = &card.organization {
        v.push_str(&format!("ORG:{};\n", escape(org)));
    }
    if let Some(email) = &card.email {
        v.push_str(&format!("EMAIL;type=INTERNET:{}\n", escape(email)));
    }
    for p in &card.phones {
        v.push_str(&format!("TEL;type=CELL;type=VOICE;waid={p}:+{p}\n"));
    }
    v.push_str("END:VCARD");
    v
}

/// The card of a vCard; `display_name` (the message's) stands in for a missing `FN`. Numbers
/// that are not 8–15 digits once spaces and signs are dropped are left out; a card without a
/// name is none.
pub fn read(vcard: &str, display_name: Option<&str>) -> Option<ContactCard> {
    let mut name = None;
    let mut organization = None;
    let mut email = None;
    let mut phones = Vec::new();
    // Folded lines (RFC 6350 §3.2) continue with a space or a tab.
    let unfolded = vcard
        .replace("\r\n", "\n")
        .replace("\n ", "")
        .replace("\n\t", "");
    for line in unfolded.lines() {
        let Some((head, value)) = line.split_once(':') else {
            continue;
        };
        let mut params = head.split(';');
        let prop = params.next().unwrap_or("").to_ascii_uppercase();
        // `item1.TEL` groups a property with its label.
        let prop = prop.rsplit('.').next().unwrap_or("").to_owned();
        match prop.as_str() {
            "FN" => name = Some(unescape(value)).filter(|n| !n.trim().is_empty()),
            "ORG" => {
                organization = Some(unescape(value.trim_end_matches(';'))).filter(|o| !o.is_empty())
            }
            "EMAIL" => email = Some(unescape(value)).filter(|e| !e.is_empty()),
            "TEL" => {
                let waid = params.find_map(|p| {
                    p.split_once('=')
                        .filter(|(k, _)| k.eq_ignore_ascii_case("waid"))
                        .map(|(_, v)| v.to_owned())
                });
                let written = waid.unwrap_or_else(|| value.to_owned());
                if let Some(p) = PhoneNumber::from_written(&written)
                    && !phones.contains(&p)
                {
                    phones.push(p);
                }
            }
            _ => {}
        }
    }
    let name = name.or_else(|| display_name.map(str::to_owned).filter(|n| !n.is_empty()))?;
    Some(ContactCard {
        name,
        phones,
        organization,
        email,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_reads_back_as_written() {
        let card = ContactCard {
            name: "Ana; Souza, Jr".into(),
            phones: vec![
                PhoneNumber::parse("5511988887777").unwrap(),
                PhoneNumber::parse("5511977776666").unwrap(),
            ],
            organization: Some("Acme".into()),
            email: Some("ana@example.com".into()),
        };
        let text = write(&card);
        assert!(text.contains("waid=5511988887777:+5511988887777"), "{text}");
        assert_eq!(read(&text, None), Some(card));
    }

    #[test]
    fn a_phones_card_is_read_with_its_quirks() {
        // As phones write them: CRLF, grouped TEL lines, a number with spaces and no waid.
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bruno\r\nitem1.TEL;waid=5521999990000:+55 21 99999-0000\r\n\
                    TEL;TYPE=HOME:+1 (415) 555-0100\r\nEND:VCARD";
        let card = read(text, None).unwrap();
        assert_eq!(card.name, "Bruno");
        let phones: Vec<&str> = card.phones.iter().map(PhoneNumber::as_str).collect();
        assert_eq!(phones, ["5521999990000", "14155550100"]);
        assert_eq!(
            read("BEGIN:VCARD\nEND:VCARD", Some("Shown")).unwrap().name,
            "Shown"
        );
        assert_eq!(read("BEGIN:VCARD\nEND:VCARD", None), None);
    }
}
