//! Groups (§17.5): the groups each instance is in, as the network last described them. A row
//! holds one group whole (its members as JSON: a group is always read and written whole), and
//! a group has a chat, named after its subject.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use wagate_core::event::Event;
use wagate_core::group::{Group, GroupId, GroupNotice, Participant, Role};
use wagate_core::instance::Instance;
use wagate_core::page::OffsetPage;
use wagate_core::phone::PhoneNumber;
use wagate_core::store::{GroupStore, StoreError};
use wagate_core::{ChatId, InstanceId, Timestamp};

use crate::SqlStore;
use crate::error::{corrupt, db};
use crate::outbox;
use crate::paged::PagedQuery;

const COLUMNS: &str =
    "group_id, subject, description, owner, participants, announce, locked, created_at";

#[derive(sqlx::FromRow)]
struct GroupRow {
    group_id: String,
    subject: String,
    description: Option<String>,
    owner: Option<String>,
    participants: String,
    announce: i64,
    locked: i64,
    created_at: i64,
}

/// A member as the row's JSON keeps it.
#[derive(Serialize, Deserialize)]
struct Member {
    phone: String,
    role: String,
}

impl TryFrom<GroupRow> for Group {
    type Error = StoreError;
    fn try_from(r: GroupRow) -> Result<Self, StoreError> {
        let members: Vec<Member> = serde_json::from_str(&r.participants).map_err(corrupt)?;
        let participants = members
            .into_iter()
            .map(|m| {
                let role = Role::parse(&m.role)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown role {}", m.role)))?;
                Ok(Participant {
                    phone: PhoneNumber::from_trusted(m.phone),
                    role,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Group {
            id: GroupId::from_trusted(r.group_id),
            subject: r.subject,
            description: r.description,
            owner: r.owner.map(PhoneNumber::from_trusted),
            participants,
            announce: r.announce != 0,
            locked: r.locked != 0,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

fn members_json(g: &Group) -> String {
    let members: Vec<Member> = g
        .participants
        .iter()
        .map(|p| Member {
            phone: p.phone.to_string(),
            role: p.role.as_str().to_owned(),
        })
        .collect();
    serde_json::to_string(&members).unwrap_or_else(|_| "[]".into())
}

/// Writes the group as it is now, and names its chat (creating it) after the subject.
async fn write(
    conn: &mut sqlx::AnyConnection,
    instance: &InstanceId,
    g: &Group,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO groups (instance_id, group_id, subject, description, owner, participants, \
         announce, locked, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (instance_id, group_id) DO UPDATE SET subject = excluded.subject, \
           description = excluded.description, owner = excluded.owner, \
           participants = excluded.participants, announce = excluded.announce, \
           locked = excluded.locked",
    )
    .bind(instance.as_str())
    .bind(g.id.as_str())
    .bind(g.subject.clone())
    .bind(g.description.clone())
    .bind(g.owner.as_ref().map(|o| o.to_string()))
    .bind(members_json(g))
    .bind(i64::from(g.announce))
    .bind(i64::from(g.locked))
    .bind(g.created_at.millis())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query(
        "INSERT INTO chats (id, instance_id, peer, contact_name, is_group, unread_count, created_at) \
         VALUES ($1, $2, $3, $4, 1, 0, $5) \
         ON CONFLICT (instance_id, peer) DO UPDATE SET contact_name = excluded.contact_name",
    )
    .bind(ChatId::generate().as_str())
    .bind(instance.as_str())
    .bind(g.id.as_str())
    .bind(g.subject.clone())
    .bind(Timestamp::now().millis())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

async fn read(
    conn: &mut sqlx::AnyConnection,
    instance: &InstanceId,
    id: &GroupId,
) -> Result<Option<Group>, StoreError> {
    let row: Option<GroupRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM groups WHERE instance_id = $1 AND group_id = $2"
    )))
    .bind(instance.as_str())
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    row.map(Group::try_from).transpose()
}

async fn forget(
    conn: &mut sqlx::AnyConnection,
    instance: &InstanceId,
    id: &GroupId,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM groups WHERE instance_id = $1 AND group_id = $2")
        .bind(instance.as_str())
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

#[async_trait]
impl GroupStore for SqlStore {
    async fn save_groups(
        &self,
        instance: &InstanceId,
        groups: &[Group],
        complete: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        if complete {
            let stored: Vec<String> =
                sqlx::query_scalar("SELECT group_id FROM groups WHERE instance_id = $1")
                    .bind(instance.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db)?;
            for id in stored {
                if !groups.iter().any(|g| g.id.as_str() == id) {
                    forget(&mut tx, instance, &GroupId::from_trusted(id)).await?;
                }
            }
        }
        for g in groups {
            write(&mut tx, instance, g).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn record_group_notice(
        &self,
        inst: &Instance,
        notice: &GroupNotice,
        latest: Option<&Group>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let id = notice.group_id();
        let stored = read(&mut tx, &inst.id, id).await?;
        // What the network answered after the instance's own change is the group as it is;
        // a notice alone is applied to what was stored.
        let after = match latest {
            Some(g) => Some(g.clone()),
            None => notice.applied_to(stored, inst.phone.as_ref()),
        };
        match &after {
            Some(g) => write(&mut tx, &inst.id, g).await?,
            None => forget(&mut tx, &inst.id, id).await?,
        }
        let event = Event::group_notice(&inst.account_id, &inst.id, notice);
        let wrote = outbox::append(&mut tx, &event).await?;
        tx.commit().await.map_err(db)?;
        self.appended(wrote);
        Ok(())
    }

    async fn get_group(
        &self,
        instance: &InstanceId,
        id: &GroupId,
    ) -> Result<Option<Group>, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(db)?;
        read(&mut conn, instance, id).await
    }

    async fn list_groups(
        &self,
        instance: &InstanceId,
        page: OffsetPage,
    ) -> Result<(Vec<Group>, u64), StoreError> {
        let (rows, total) = PagedQuery {
            columns: COLUMNS,
            from: "groups",
            filter: "instance_id = $1",
            order: "created_at, group_id",
            args: vec![instance.as_str().into()],
        }
        .fetch::<GroupRow>(&self.reader, page)
        .await?;
        let groups = rows
            .into_iter()
            .map(Group::try_from)
            .collect::<Result<_, _>>()?;
        Ok((groups, total))
    }
}
