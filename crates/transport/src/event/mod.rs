//! The typed event path: [`ClientEvent`] decoded once from what a client sent, one `Serialize`
//! type per server event, and [`Duet::apply`], the one match from an event to its effect.

mod client;
mod server;

use socketioxide::adapter::Adapter;

pub(crate) use client::{ChatMessage, ClientEvent, EventName, ReportRequest};
pub use client::{
    MAX_CLIENT_ID_CHARS, MAX_FILE_NAME_CHARS, MAX_FILE_TYPE_BYTES, MAX_REPORT_NOTE_CHARS,
    MAX_TEXT_CHARS,
};
pub(crate) use server::{
    Ack, AppError, ChatCleared, ChatEnded, EndReason, GuestBanned, Matched, OutgoingFile,
    OutgoingMessage, PartnerAway, PartnerBack, ServerEvent, SessionReplaced, Typing,
};

use crate::loose::Loose;
use crate::node::Duet;
use crate::reply::Reply;
use crate::session::SocketContext;

impl<A: Adapter> Duet<A> {
    /// Runs one admitted event of `context`'s socket: its shape and size are checked, then it
    /// takes effect, then it is answered. Backend failures are logged here, once.
    pub(crate) async fn apply(
        &self,
        context: &SocketContext<A>,
        name: EventName,
        payload: Option<Loose>,
        reply: Reply<A>,
    ) {
        let event = match ClientEvent::decode(name, payload, self.settings.max_file_bytes) {
            Ok(event) => event,
            Err(refused) => return reply.send(&self.counters, name, Err(refused)),
        };
        let result = match event {
            ClientEvent::Match(interests) => match self.user_match(context, interests).await {
                Ok(pairing) => {
                    // The ack comes first, so `user:matched` never overtakes it.
                    reply.send(&self.counters, name, Ok(Ack::Waiting));
                    if let Some(pairing) = pairing {
                        self.announce(pairing).await;
                    }
                    return;
                }
                Err(failure) => Err(failure),
            },
            ClientEvent::CancelMatch => self.cancel_match(context).await,
            ClientEvent::Leave => self.leave(context).await,
            ClientEvent::Message(message) => self.relay_message(context, message).await,
            ClientEvent::Clear => self.clear(context).await,
            ClientEvent::Typing(started) => self.typing(context, started).await,
            ClientEvent::Signal(signal) => self.signal(context, signal).await,
            ClientEvent::IceServers => Ok(self.ice_servers(context).await),
            ClientEvent::Report(report) => self.report(context, report).await,
            ClientEvent::Block => self.block(context).await,
            ClientEvent::Leaving => {
                context
                    .leaving
                    .store(true, std::sync::atomic::Ordering::Release);
                Ok(Ack::Done)
            }
        };
        let answer = result.map_err(|failure| failure.into_answer(name.as_str(), &context.guest));
        reply.send(&self.counters, name, answer);
    }
}
