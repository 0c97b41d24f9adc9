// The chats of an instance and the messages of the chosen one (#/instances/{id}/chats/{phone}),
// live: received messages appear, and each sent message's status moves queued → sent →
// delivered → read as its events arrive. A form sends a text or a media URL.
import { api, enc } from './api.js';
import { announce, field, fill, h } from './dom.js';
import * as events from './events.js';

// Statuses only move forward; an event that arrives before the message is drawn (or a history
// page older than an event) must not move one back.
const RANK = { pending: 0, queued: 0, sent: 1, server_ack: 1, delivered: 2, read: 3, played: 4, failed: 5 };
const known = new Map(); // messageId → the furthest status seen, kept across views of the page
function advance(messageId, status) {
  const before = known.get(messageId);
  if (before === undefined || (RANK[status] ?? 0) >= (RANK[before] ?? 0)) known.set(messageId, status);
  return known.get(messageId);
}

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '');
const chatHref = (id, phone) => `#/instances/${enc(id)}/chats/${enc(phone)}`;

export function chatsView(root, id, phone) {
  const error = h('p', { class: 'error', role: 'alert' });
  const showError = (e) => fill(error, e.message);
  const chatList = h('ul', { class: 'chats' });
  const messages = h('ol', { class: 'messages' });
  const drawn = new Map(); // messageId → its status element
  let chats = [];
  const selected = () => chats.find((c) => c.phone === phone);

  function drawMessage(m) {
    if (drawn.has(m.messageId)) return;
    const out = m.direction ? m.direction === 'outbound' : Boolean(m.isFromMe ?? m.to);
    const status = h('span', { class: 'msg-status', 'data-status': '' });
    const li = h('li', { class: `msg ${out ? 'out' : 'in'}`, 'data-message-id': m.messageId },
      out ? null : h('p', { class: 'msg-from' }, m.fromName || m.from),
      h('p', { class: 'msg-text' }, m.content ?? `[${m.type}]`),
      h('p', { class: 'msg-meta' }, h('time', { datetime: m.timestamp }, time(m.timestamp)), out ? [' · ', status] : null),
    );
    drawn.set(m.messageId, status);
    if (out) setStatus(m.messageId, m.status ?? 'queued');
    messages.append(li);
  }

  function setStatus(messageId, status) {
    const now = advance(messageId, status);
    const el = drawn.get(messageId);
    if (el && el.textContent !== now) {
      el.textContent = now;
      el.dataset.status = now;
    }
  }

  function drawChats() {
    fill(chatList, chats.length === 0 ? h('li', { class: 'muted' }, 'No chat yet.') : chats.map((c) =>
      h('li', {},
        h('a', { href: chatHref(id, c.phone), class: 'chat', 'aria-current': c.phone === phone ? 'page' : null },
          h('span', { class: 'chat-name' }, c.contactName || c.phone),
          c.unreadCount ? h('span', { class: 'unread', 'aria-label': `${c.unreadCount} unread` }, String(c.unreadCount)) : null,
          h('span', { class: 'chat-last' }, c.lastMessage ? `${c.lastMessage.isFromMe ? 'You: ' : ''}${c.lastMessage.content ?? `[${c.lastMessage.type}]`}` : ''),
        ))));
    const c = selected();
    if (c) fill(chatTitle, c.contactName ? `${c.contactName} (${c.phone})` : c.phone);
  }

  async function loadChats() {
    try {
      chats = (await api(`/v1/messages/chats?instanceId=${enc(id)}&limit=100`)).data;
      drawChats();
    } catch (e) {
      showError(e);
    }
  }
  let chatsTimer;
  const reloadChatsSoon = () => {
    clearTimeout(chatsTimer);
    chatsTimer = setTimeout(loadChats, 300);
  };

  async function loadMessages() {
    if (!phone) return;
    try {
      const page = (await api(`/v1/messages?instanceId=${enc(id)}&phone=${enc(phone)}&limit=50`)).data;
      for (const m of page.reverse()) drawMessage(m); // history is newest first
      for (const m of page) setStatus(m.messageId, m.status); // a status seen before drawing wins
    } catch (e) {
      showError(e);
    }
  }

  const inThisChat = (d) => d.instanceId === id && phone && (d.from === phone || d.to === phone || (d.chatId && d.chatId === selected()?.chatId));
  const offs = [
    events.on('message.received', (d) => {
      if (d.instanceId !== id) return;
      if (inThisChat(d)) drawMessage({ ...d, direction: 'inbound' });
      announce(`New message from ${d.fromName || d.from}.`);
      reloadChatsSoon();
    }),
    events.on('message.sent', (d) => {
      if (d.instanceId !== id) return;
      if (inThisChat(d)) drawMessage({ ...d, direction: 'outbound' });
      setStatus(d.messageId, 'sent');
      reloadChatsSoon();
    }),
    ...['message.delivered', 'message.read', 'message.failed'].map((name) =>
      events.on(name, (d) => setStatus(d.messageId, d.status ?? name.slice(8)))),
    events.onFreshStream(() => {
      loadChats();
      loadMessages();
    }),
  ];

  // The send form: to (the open chat by default), a text, and an optional media URL.
  const to = h('input', { id: 'send-to', name: 'to', required: true, inputmode: 'tel', autocomplete: 'off', pattern: '[0-9]{8,15}|[0-9-]{1,40}@g\\.us', value: phone ?? '' });
  const text = h('textarea', { id: 'send-text', name: 'text', rows: '3' });
  const mediaUrl = h('input', { id: 'send-media', name: 'mediaUrl', type: 'url', autocomplete: 'off', placeholder: 'https://…' });
  const mediaType = h('select', { id: 'send-media-type', name: 'mediaType' },
    ['image', 'video', 'audio', 'document'].map((t) => h('option', { value: t }, t)));
  const send = h('form', { class: 'card send', 'aria-labelledby': 'send-title' },
    h('h2', { id: 'send-title' }, 'Send a message'),
    field('To', to, 'A phone number with country code, digits only.'),
    field('Text', text, 'With a media URL, this is its caption.'),
    field('Media URL (optional)', mediaUrl),
    field('Media type', mediaType),
    h('button', { type: 'submit', class: 'primary' }, 'Send'),
  );
  send.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = send.querySelector('button[type=submit]');
    const body = { instanceId: id, to: to.value.trim() };
    if (mediaUrl.value.trim()) {
      Object.assign(body, { mediaUrl: mediaUrl.value.trim(), mediaType: mediaType.value });
      if (text.value.trim()) body.caption = text.value;
    } else if (text.value.trim()) {
      body.message = text.value;
    } else {
      fill(error, 'Write a text or give a media URL.');
      text.focus();
      return;
    }
    button.disabled = true;
    fill(error);
    try {
      const res = await api('/v1/messages/send', { method: 'POST', body });
      announce('Message queued.');
      text.value = '';
      mediaUrl.value = '';
      if (body.to === phone) {
        drawMessage({ messageId: res.messageId, direction: 'outbound', type: body.mediaUrl ? body.mediaType : 'text', content: body.message ?? body.caption ?? null, timestamp: res.timestamp, status: res.status });
      } else {
        location.hash = chatHref(id, body.to); // the new chat's history has the message
      }
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
    }
  });

  const chatTitle = h('h2', { id: 'chat-title' }, phone ?? 'Choose a chat');
  root.append(
    h('p', { class: 'crumbs' }, h('a', { href: `#/instances/${enc(id)}` }, '← Instance')),
    h('h1', { tabindex: '-1' }, 'Chats'),
    error,
    h('div', { class: 'chat-layout' },
      h('nav', { class: 'card', 'aria-label': 'Chats' }, chatList),
      h('section', { class: 'conversation', 'aria-labelledby': 'chat-title' },
        h('div', { class: 'card' }, chatTitle, phone ? messages : h('p', { class: 'muted' }, 'Pick a chat, or write to a number below.')),
        send,
      ),
    ),
  );
  loadChats();
  loadMessages();
  return () => {
    clearTimeout(chatsTimer);
    offs.forEach((off) => off());
  };
}
