// One instance: its status (live), the QR code to scan while it waits for one (replaced live when
// a new one comes), a pairing code on request, its commands, and today's stats and health from
// GET /v1/instances/{id}/status.
import { api, enc } from './api.js';
import { actionButton, announce, facts, field, fill, h, when } from './dom.js';
import * as events from './events.js';
import { badge, followInstances } from './status.js';
import { connect, deleteButton, disconnect, restart } from './commands.js';

function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

const dd = (id) => h('dd', { id });

export function instanceView(root, id) {
  const error = h('p', { class: 'error', role: 'alert' });
  const showError = (e) => fill(error, e.message);
  const title = h('h1', { tabindex: '-1' }, 'Instance');
  const el = {
    status: dd('instance-status'),
    phone: dd('instance-phone'),
    profile: dd('instance-profile'),
    since: dd('instance-since'),
    lastError: dd('instance-error'),
    sent: dd('stat-sent'),
    received: dd('stat-received'),
    chats: dd('stat-chats'),
    unread: dd('stat-unread'),
    uptime: dd('health-uptime'),
    latency: dd('health-latency'),
    rate: dd('health-rate'),
  };
  const qrImg = h('img', { class: 'qr', id: 'qr', alt: 'QR code to scan with WhatsApp on the phone', width: '264', height: '264' });
  const qrExpiry = h('span');
  const qr = h('figure', { class: 'qr-box', hidden: true },
    qrImg,
    h('figcaption', {}, 'On the phone: WhatsApp → Linked devices → Link a device, then scan. A new code replaces this one by itself. ', qrExpiry),
  );
  const pairing = h('p', { class: 'pairing', id: 'pairing', hidden: true });
  let current = { name: id, status: null };

  function show(patch) {
    current = { ...current, ...patch };
    fill(title, current.name);
    document.title = `${current.name} · wagate`;
    if (current.status) fill(el.status, badge(current.status));
    fill(el.phone, current.phone ?? '—');
    fill(el.profile, current.profileName ?? '—');
    fill(el.since, current.status === 'connected' ? when(current.connectedAt) : '—');
    fill(el.lastError, current.lastError ? `${current.lastError.message ?? current.lastError.code}` : 'none');
    if (current.status === 'qr_pending' && current.qrCode) {
      if (qrImg.getAttribute('src') !== current.qrCode) qrImg.src = current.qrCode;
      fill(qrExpiry, current.qrCodeExpiresAt ? `This one expires at ${new Date(current.qrCodeExpiresAt).toLocaleTimeString()}.` : '');
      qr.hidden = false;
    } else {
      qr.hidden = true;
      qrImg.removeAttribute('src');
    }
    if (current.status !== 'qr_pending') pairing.hidden = true;
  }

  function showStats(stats = {}, health = {}) {
    fill(el.sent, stats.messagesSent ?? '—');
    fill(el.received, stats.messagesReceived ?? '—');
    fill(el.chats, stats.activeChats ?? '—');
    fill(el.unread, stats.unreadMessages ?? '—');
    fill(el.uptime, duration(health.uptime));
    fill(el.latency, health.latency === null || health.latency === undefined ? '—' : `${health.latency} ms`);
    // A fraction (0–1) of the outbound messages that left the queue.
    fill(el.rate, health.messageDeliveryRate === null || health.messageDeliveryRate === undefined ? '—' : `${Math.round(health.messageDeliveryRate * 1000) / 10} %`);
  }

  // Answers can come back out of order; only the latest request's is shown.
  let latest = 0;
  async function load() {
    const mine = ++latest;
    try {
      const s = (await api(`/v1/instances/${enc(id)}/status`)).data;
      if (mine !== latest) return;
      show(s);
      showStats(s.stats, s.health);
    } catch (e) {
      if (mine === latest) showError(e);
    }
  }
  let reloadTimer;
  const reloadSoon = () => {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 400);
  };

  const pairPhone = h('input', { id: 'pair-phone', name: 'phone', inputmode: 'numeric', autocomplete: 'tel', pattern: '[0-9]{8,15}' });
  const connectForm = h('form', { class: 'inline-form', 'aria-labelledby': 'connect-title' },
    h('h2', { id: 'connect-title' }, 'Connect'),
    field('Phone for a pairing code (optional)', pairPhone, 'Digits with country code, e.g. 5511912345678. Leave empty to scan a QR code.'),
    h('button', { type: 'submit', class: 'primary' }, 'Connect'),
  );
  connectForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = connectForm.querySelector('button');
    button.disabled = true;
    fill(error);
    try {
      const phone = pairPhone.value.trim();
      const res = await connect(id, phone || undefined);
      show({ status: res.status, qrCode: res.qrCode, qrCodeExpiresAt: res.qrCodeExpiresAt });
      if (res.pairingCode) {
        fill(pairing, 'Pairing code: ', h('strong', {}, res.pairingCode), ' — on the phone: WhatsApp → Linked devices → Link with phone number.');
        pairing.hidden = false;
        announce(`Pairing code ${res.pairingCode.split('').join(' ')}.`);
      } else if (res.status === 'qr_pending') {
        announce('QR code shown: scan it with the phone.');
      }
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
    }
  });

  const unfollow = followInstances(id, (change) => {
    const { instanceId, event, reason, ...patch } = change;
    if (change.status === 'connected') patch.connectedAt = new Date().toISOString();
    show(patch);
    if (event !== 'instance.qr_updated') announce(`${current.name}: ${change.status}${change.phone ? `, phone ${change.phone}` : ''}.`);
    reloadSoon();
  });
  const offStats = events.on('*', (d, env) => {
    if (d.instanceId === id && env.event.startsWith('message.')) reloadSoon();
  });
  const offState = events.onFreshStream(load);

  root.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/instances' }, '← All instances')),
    title,
    error,
    h('section', { class: 'card', 'aria-labelledby': 'conn-title' },
      h('h2', { id: 'conn-title' }, 'Connection'),
      facts(['Status', el.status], ['Phone', el.phone], ['Profile name', el.profile], ['Connected since', el.since], ['Last error', el.lastError]),
      qr,
      pairing,
      connectForm,
      h('div', { class: 'actions' },
        actionButton('Restart', () => restart(id, current.name), { onError: showError }),
        actionButton('Disconnect', () => disconnect(id, current.name), { onError: showError }),
        h('a', { class: 'button', href: `#/instances/${enc(id)}/chats` }, 'Chats'),
        deleteButton(id, 'this instance', { onDeleted: () => { location.hash = '#/instances'; }, onError: showError }),
      ),
    ),
    h('section', { class: 'card', 'aria-labelledby': 'stats-title' },
      h('h2', { id: 'stats-title' }, 'Today'),
      facts(['Messages sent', el.sent], ['Messages received', el.received], ['Active chats', el.chats], ['Unread messages', el.unread]),
      h('h2', {}, 'Health'),
      facts(['Uptime', el.uptime], ['Latency', el.latency], ['Delivery rate', el.rate]),
    ),
  );
  load();
  return () => {
    clearTimeout(reloadTimer);
    unfollow();
    offStats();
    offState();
    document.title = 'wagate';
  };
}
