//! Shared by the store's test binaries.

use sqlx::Row;
use wagate_core::store::MessageStats;
use wagate_core::{InstanceId, UtcDay};

/// The status statistics counted the way the status route counted them before they were kept
/// as counters: over every message and chat of the instance. The reference the counters must
/// equal.
pub async fn counted(url: &str, instance: &InstanceId, today: UtcDay) -> MessageStats {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let since = today.start().millis();
    let row = sqlx::query(
        "SELECT \
           CAST(COALESCE(SUM(CASE WHEN direction = 'outbound' AND sent_at >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS sent, \
           CAST(COALESCE(SUM(CASE WHEN direction = 'inbound' AND created_at >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS received, \
           CAST(COALESCE(SUM(CASE WHEN direction = 'outbound' AND status IN ('delivered', 'read') THEN 1 ELSE 0 END), 0) AS BIGINT) AS delivered, \
           CAST(COALESCE(SUM(CASE WHEN direction = 'outbound' AND status <> 'queued' THEN 1 ELSE 0 END), 0) AS BIGINT) AS attempted \
         FROM messages WHERE instance_id = $1",
    )
    .bind(instance.as_str())
    .bind(since)
    .fetch_one(&pool)
    .await
    .unwrap();
    let chats = sqlx::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN last_message_at >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS active, \
         CAST(COALESCE(SUM(unread_count), 0) AS BIGINT) AS unread FROM chats WHERE instance_id = $1",
    )
    .bind(instance.as_str())
    .bind(since)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    let n = |r: &sqlx::any::AnyRow, c: &str| r.get::<i64, _>(c) as u64;
    MessageStats {
        sent_since: n(&row, "sent"),
        received_since: n(&row, "received"),
        delivered: n(&row, "delivered"),
        attempted: n(&row, "attempted"),
        active_chats: n(&chats, "active"),
        unread_messages: n(&chats, "unread"),
    }
}
