// One webhook subscription: what it sends where, pause and resume, a test delivery, a new signing
// secret (shown once), delete; and its delivery log, kept current while the page is open. A
// delivery follows an event of the subscription's instance, so the log is read again shortly
// after each such event on the live stream; retries come on their own schedule, with no event,
// so it is also read every few seconds.
import { api, enc } from './api.js';
import { actionButton, announce, confirmButton, facts, fill, h, shownOnce, when } from './dom.js';
import * as events from './events.js';
import { instanceNames } from './webhooks.js';

const REFRESH_MS = 4000;
const AFTER_EVENT_MS = 400;

function outcome(status) {
  return h('span', { class: 'badge', 'data-status': status === 'success' ? 'connected' : 'failed' }, status);
}

export function webhookView(root, id) {
  const error = h('p', { class: 'error', role: 'alert' });
  const showError = (e) => fill(error, e.message);
  const title = h('h1', { tabindex: '-1' }, 'Webhook');
  const el = {
    url: h('dd', { class: 'mono' }),
    instance: h('dd'),
    events: h('dd'),
    status: h('dd', { id: 'webhook-status' }),
    created: h('dd'),
  };
  const actions = h('div', { class: 'actions' });
  const result = h('div', { 'aria-live': 'polite' });
  const filter = h('select', { id: 'log-filter' },
    h('option', { value: '' }, 'All'), h('option', { value: 'success' }, 'Succeeded'), h('option', { value: 'failed' }, 'Failed'));
  const logBody = h('tbody');
  const logSummary = h('p', { class: 'muted', id: 'log-summary' });
  let sub = null;
  let names = new Map();
  let stopped = false;

  function showSubscription(w) {
    sub = w;
    fill(title, w.name ?? 'Webhook');
    document.title = `${w.name ?? 'Webhook'} · wagate`;
    fill(el.url, w.url);
    fill(el.instance, h('a', { href: `#/instances/${enc(w.instanceId)}` }, names.get(w.instanceId) ?? w.instanceId));
    fill(el.events, w.events.join(', '));
    fill(el.status, h('span', { class: 'badge', 'data-status': w.status === 'active' ? 'connected' : 'disconnected' }, w.status));
    const paused = w.status === 'paused';
    fill(actions,
      actionButton(paused ? 'Resume' : 'Pause', async () => {
        showSubscription((await api(`/v1/webhooks/${enc(id)}`, { method: 'PUT', body: { status: paused ? 'active' : 'paused' } })).data);
        announce(paused ? 'Deliveries resumed.' : 'Deliveries paused.');
      }, { onError: showError }),
      actionButton('Send test event', async () => {
        const r = (await api(`/v1/webhooks/${enc(id)}/test`, { method: 'POST', body: {} })).data;
        fill(result, h('p', { class: 'card', id: 'test-result' },
          'Test delivery: ', outcome(r.status),
          ` HTTP ${r.statusCode ?? '—'} in ${r.responseTime} ms${r.error ? ` (${r.error})` : ''}.`));
        await loadLogs();
      }, { onError: showError }),
      actionButton('New signing secret', async () => {
        const w2 = (await api(`/v1/webhooks/${enc(id)}/rotate-secret`, { method: 'POST' })).data;
        fill(result, shownOnce('rotated-secret', 'New signing secret', w2.secret));
        announce('A new signing secret replaces the old one. It is shown once.');
      }, { onError: showError }),
      confirmButton('Delete', 'Confirm deleting this subscription and its delivery log', async () => {
        await api(`/v1/webhooks/${enc(id)}`, { method: 'DELETE' });
        announce('Subscription deleted.');
        location.hash = '#/webhooks';
      }, { onError: showError }),
    );
  }

  function logRow(log) {
    const retry = actionButton('Retry', async () => {
      await api(`/v1/webhooks/${enc(id)}/logs/${enc(log.id)}/retry`, { method: 'POST' });
      announce(`Delivery of ${log.event} sent again.`);
      setTimeout(loadLogs, AFTER_EVENT_MS);
    }, { onError: showError });
    retry.setAttribute('aria-label', `Retry the ${log.event} delivery of ${when(log.timestamp)}`);
    return h('tr', { 'data-log-id': log.id },
      h('td', {}, when(log.timestamp)),
      h('td', {}, log.event),
      h('td', {}, outcome(log.status)),
      h('td', { class: 'num' }, log.statusCode ?? '—'),
      h('td', { class: 'num' }, `${log.responseTime} ms`),
      h('td', { class: 'num' }, log.retryCount),
      h('td', {}, log.error ?? (log.nextRetryAt ? '' : '—'), log.nextRetryAt ? ` next try ${when(log.nextRetryAt)}` : ''),
      h('td', {}, retry),
    );
  }

  // One read at a time; one asked for meanwhile happens right after it.
  let loading = false;
  let again = false;
  async function loadLogs() {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    try {
      const q = filter.value ? `&status=${enc(filter.value)}` : '';
      const logs = (await api(`/v1/webhooks/${enc(id)}/logs?limit=100${q}`)).data;
      if (stopped) return;
      // Rows are rebuilt only when the log changed, so focus on a Retry button is kept.
      const key = JSON.stringify(logs);
      if (logBody.dataset.key !== key) {
        logBody.dataset.key = key;
        fill(logBody, logs.map(logRow));
      }
      fill(logSummary, logs.length === 0
        ? 'No delivery yet: one is logged for each event the subscription takes, and for each test.'
        : `${logs.length} latest deliver${logs.length === 1 ? 'y' : 'ies'}, newest first.`);
    } catch (e) {
      if (!stopped) showError(e);
    } finally {
      loading = false;
      if (again && !stopped) {
        again = false;
        loadLogs();
      }
    }
  }
  filter.addEventListener('change', loadLogs);

  let soon = null;
  const offEvents = events.on('*', (data) => {
    if (!sub || data.instanceId !== sub.instanceId) return;
    clearTimeout(soon);
    soon = setTimeout(loadLogs, AFTER_EVENT_MS);
  });
  const timer = setInterval(loadLogs, REFRESH_MS);

  root.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/webhooks' }, '← All webhooks')),
    title,
    error,
    h('section', { class: 'card', 'aria-labelledby': 'sub-title' },
      h('h2', { id: 'sub-title' }, 'Subscription'),
      facts(['URL', el.url], ['Instance', el.instance], ['Events', el.events], ['Status', el.status], ['Created', el.created]),
      actions,
      result,
    ),
    h('section', { class: 'card', 'aria-labelledby': 'log-title' },
      h('h2', { id: 'log-title' }, 'Delivery log'),
      h('div', { class: 'field inline' }, h('label', { for: 'log-filter' }, 'Show'), filter),
      logSummary,
      h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Deliveries (scrolls sideways)' },
        h('table', { class: 'log', id: 'delivery-log' },
          h('thead', {}, h('tr', {},
            ['When', 'Event', 'Outcome', 'HTTP', 'Time', 'Retries', 'Error / next try'].map((c) => h('th', { scope: 'col' }, c)),
            h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Action')))),
          logBody)),
    ),
  );
  (async () => {
    try {
      names = await instanceNames();
      const w = (await api(`/v1/webhooks/${enc(id)}`)).data;
      fill(el.created, when(w.createdAt));
      showSubscription(w);
      await loadLogs();
    } catch (e) {
      showError(e);
    }
  })();
  return () => {
    stopped = true;
    offEvents();
    clearInterval(timer);
    clearTimeout(soon);
  };
}
