//! The event log as the admin API shows it: events with their attempts,
//! listing, one event, redelivery. Service layer: imports `db`; endpoint
//! secrets are in `endpoints.rs`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::events::EventType;
use super::WebhookService;
use crate::db::models::event::EventFilter;
use crate::db::models::{Event, EventAttempt};
use crate::db::types::{EventId, EventState};
use crate::service::{found, keyset_page, now, page_limit, rfc3339, Error};

/// One delivery attempt as shown to the operator.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptView {
    /// 1, 2, …
    pub attempt: i64,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub attempted_at: String,
    /// Where it was sent.
    pub url: String,
    /// HTTP status, when an answer came.
    pub status_code: Option<i64>,
    /// What went wrong (transport error, refusal, non-2xx).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// An event as shown to the operator.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventView {
    /// `evt_…`.
    pub id: EventId,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// `pending`, `delivered`, `failed` or `no_target`.
    pub state: EventState,
    /// Where it goes.
    pub target_url: Option<String>,
    /// Number of attempts made.
    pub attempt_count: i64,
    /// RFC 3339, while pending.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// Last error.
    pub last_error: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
    /// The exact envelope POSTed.
    pub payload: Value,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
}

impl EventView {
    fn from_rows(e: &Event, attempts: &[EventAttempt]) -> EventView {
        EventView {
            id: e.id.clone(),
            event_type: e.event_type,
            state: e.state,
            target_url: e.target_url.clone(),
            attempt_count: e.attempts,
            next_attempt_at: (e.state == EventState::Pending).then(|| rfc3339(e.next_attempt_at)),
            last_error: e.last_error.clone(),
            created_at: rfc3339(e.created_at),
            delivered_at: e.delivered_at.map(rfc3339),
            payload: serde_json::from_str(&e.payload).unwrap_or(Value::Null),
            attempts: attempts
                .iter()
                .filter(|a| a.event_id == e.id)
                .map(|a| AttemptView {
                    attempt: a.attempt_no,
                    attempted_at: rfc3339(a.attempted_at),
                    url: a.url.clone(),
                    status_code: a.status_code,
                    error: a.error.clone(),
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

impl WebhookService {
    async fn event_view(&self, e: Event) -> Result<EventView, Error> {
        let ids = vec![e.id.clone()];
        let attempts = self
            .db
            .run(move |c| EventAttempt::for_events(c, &ids))
            .await?;
        Ok(EventView::from_rows(&e, &attempts))
    }

    /// Events, newest first, with their attempts; `cursor` is the last event
    /// id of the previous page.
    pub async fn list_events(
        &self,
        event_type: Option<String>,
        state: Option<String>,
        limit: Option<u32>,
        cursor: Option<EventId>,
    ) -> Result<(Vec<EventView>, Option<EventId>), Error> {
        let limit = page_limit(limit)?;
        let event_type = match event_type {
            None => None,
            Some(t) => Some(EventType::parse(&t).ok_or_else(|| {
                Error::Invalid(format!("type must be one of {}", EventType::choices()))
            })?),
        };
        let state = match state {
            None => None,
            Some(s) => Some(EventState::parse(&s).ok_or_else(|| {
                Error::Invalid(format!("state must be one of {}", EventState::choices()))
            })?),
        };
        let filter = EventFilter { event_type, state };
        let (rows, next) = keyset_page(
            &self.db,
            limit,
            cursor,
            "an event",
            |c, id| Ok(Event::find(c, &id)?.map(|e| (e.created_at, e.id))),
            move |c, limit, below| Event::list(c, &filter, limit, below),
            |e| e.id.clone(),
        )
        .await?;
        let ids: Vec<EventId> = rows.iter().map(|e| e.id.clone()).collect();
        let attempts = self
            .db
            .run(move |c| EventAttempt::for_events(c, &ids))
            .await?;
        Ok((
            rows.iter()
                .map(|e| EventView::from_rows(e, &attempts))
                .collect(),
            next,
        ))
    }

    /// One event with its attempts.
    pub async fn get_event(&self, id: &EventId) -> Result<EventView, Error> {
        if !id.is_well_formed() {
            return Err(Error::NotFound("event not found".into()));
        }
        let i = id.clone();
        let e = found(&self.db, "event not found", move |c| Event::find(c, &i)).await?;
        self.event_view(e).await
    }

    /// Sends an event again (whatever its state) from now on, with a fresh
    /// retry window. An event without a target goes to `[webhooks] url`.
    pub async fn redeliver_event(&self, id: &EventId) -> Result<EventView, Error> {
        let cur = self.get_event(id).await?;
        let target = cur
            .target_url
            .or_else(|| self.config.url.clone())
            .ok_or_else(|| {
                Error::Conflict(
                    "this event has no target: set [webhooks] url (or the link's webhook_url for new events)"
                        .into(),
                )
            })?;
        let (i, t) = (id.clone(), now());
        self.db
            .transaction(move |c| Event::redeliver(c, &i, &target, t))
            .await?;
        self.wake();
        self.get_event(id).await
    }
}
