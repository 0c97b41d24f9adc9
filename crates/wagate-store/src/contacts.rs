//! Contacts: created by traffic (a push name with each message) and by what the network reports
//! (names synced by the phone, about texts, the blocklist), with the profile fetched on demand
//! cached in the same row.

use async_trait::async_trait;
use wagate_core::chat::Contact;
use wagate_core::contact::{ContactReport, FetchedProfile};
use wagate_core::page::OffsetPage;
use wagate_core::phone::PhoneNumber;
use wagate_core::store::{ContactStore, StoreError};
use wagate_core::{InstanceId, Timestamp};

use crate::SqlStore;
use crate::error::db;
use crate::messages::contains;
use crate::paged::PagedQuery;

const COLUMNS: &str =
    "phone, name, profile_pic_url, about, is_business, is_blocked, profile_fetched_at";

/// A `contacts` row.
#[derive(sqlx::FromRow)]
struct ContactRow {
    phone: String,
    name: Option<String>,
    profile_pic_url: Option<String>,
    about: Option<String>,
    is_business: i64,
    is_blocked: i64,
    profile_fetched_at: Option<i64>,
}

impl From<ContactRow> for Contact {
    fn from(r: ContactRow) -> Self {
        Contact {
            phone: r.phone,
            name: r.name,
            profile_pic_url: r.profile_pic_url,
            about: r.about,
            is_business: r.is_business != 0,
            is_blocked: r.is_blocked != 0,
            profile_fetched_at: r.profile_fetched_at.map(Timestamp::from_millis),
        }
    }
}

/// The contact wrote or was written to, under `name` when the message carried one.
pub(crate) async fn seen(
    conn: &mut sqlx::AnyConnection,
    instance: &InstanceId,
    phone: &str,
    name: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO contacts (instance_id, phone, name, is_blocked) VALUES ($1, $2, $3, 0) \
         ON CONFLICT (instance_id, phone) DO UPDATE SET name = COALESCE(excluded.name, contacts.name)",
    )
    .bind(instance.as_str())
    .bind(phone)
    .bind(name.map(str::to_owned))
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl ContactStore for SqlStore {
    async fn list_contacts(
        &self,
        instance: &InstanceId,
        search: Option<&str>,
        page: OffsetPage,
    ) -> Result<(Vec<Contact>, u64), StoreError> {
        let search = search.map(contains).unwrap_or_default();
        let (rows, total) = PagedQuery {
            columns: COLUMNS,
            from: "contacts",
            filter: "instance_id = $1 AND ($2 = '' OR phone LIKE $2 ESCAPE '\\' \
                     OR LOWER(COALESCE(name, '')) LIKE $2 ESCAPE '\\')",
            order: "LOWER(COALESCE(name, phone)), phone",
            args: vec![instance.as_str().into(), search.into()],
        }
        .fetch::<ContactRow>(&self.reader, page)
        .await?;
        Ok((rows.into_iter().map(Contact::from).collect(), total))
    }

    async fn get_contact(
        &self,
        instance: &InstanceId,
        phone: &PhoneNumber,
    ) -> Result<Option<Contact>, StoreError> {
        let row: Option<ContactRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM contacts WHERE instance_id = $1 AND phone = $2"
        )))
        .bind(instance.as_str())
        .bind(phone.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        Ok(row.map(Contact::from))
    }

    async fn report_contacts(
        &self,
        instance: &InstanceId,
        reports: &[ContactReport],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        for r in reports {
            sqlx::query(
                "INSERT INTO contacts (instance_id, phone, name, about, is_blocked) \
                 VALUES ($1, $2, $3, $4, 0) \
                 ON CONFLICT (instance_id, phone) DO UPDATE SET \
                   name = COALESCE(excluded.name, contacts.name), \
                   about = COALESCE(excluded.about, contacts.about), \
                   profile_fetched_at = CASE WHEN $5 = 1 THEN NULL ELSE contacts.profile_fetched_at END",
            )
            .bind(instance.as_str())
            .bind(r.phone.as_str())
            .bind(r.name.clone())
            .bind(r.about.clone())
            .bind(i64::from(r.picture_changed))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn replace_blocklist(
        &self,
        instance: &InstanceId,
        blocked: &[PhoneNumber],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        sqlx::query(
            "UPDATE contacts SET is_blocked = 0 WHERE instance_id = $1 AND is_blocked <> 0",
        )
        .bind(instance.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for phone in blocked {
            sqlx::query(
                "INSERT INTO contacts (instance_id, phone, is_blocked) VALUES ($1, $2, 1) \
                 ON CONFLICT (instance_id, phone) DO UPDATE SET is_blocked = 1",
            )
            .bind(instance.as_str())
            .bind(phone.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn set_blocked(
        &self,
        instance: &InstanceId,
        phone: &PhoneNumber,
        blocked: bool,
    ) -> Result<Contact, StoreError> {
        let row: ContactRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO contacts (instance_id, phone, is_blocked) VALUES ($1, $2, $3) \
             ON CONFLICT (instance_id, phone) DO UPDATE SET is_blocked = excluded.is_blocked \
             RETURNING {COLUMNS}"
        )))
        .bind(instance.as_str())
        .bind(phone.as_str())
        .bind(i64::from(blocked))
        .fetch_one(&self.writer)
        .await
        .map_err(db)?;
        Ok(Contact::from(row))
    }

    async fn save_profile(
        &self,
        instance: &InstanceId,
        phone: &PhoneNumber,
        p: &FetchedProfile,
        at: Timestamp,
    ) -> Result<Contact, StoreError> {
        let row: ContactRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO contacts (instance_id, phone, about, profile_pic_url, is_business, is_blocked, \
             profile_fetched_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (instance_id, phone) DO UPDATE SET about = excluded.about, \
               profile_pic_url = excluded.profile_pic_url, is_business = excluded.is_business, \
               is_blocked = excluded.is_blocked, profile_fetched_at = excluded.profile_fetched_at \
             RETURNING {COLUMNS}"
        )))
        .bind(instance.as_str())
        .bind(phone.as_str())
        .bind(p.about.clone())
        .bind(p.profile_pic_url.clone())
        .bind(i64::from(p.is_business))
        .bind(i64::from(p.is_blocked))
        .bind(at.millis())
        .fetch_one(&self.writer)
        .await
        .map_err(db)?;
        Ok(Contact::from(row))
    }
}
