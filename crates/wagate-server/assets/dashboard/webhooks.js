// The webhooks page: the account's subscriptions (each links to its page with the delivery log),
// a form to create one (its signing secret is shown once), and the inbound webhook URLs that send
// a message when called (each URL is shown once, at creation).
import { api, enc } from './api.js';
import { announce, checkboxes, confirmButton, field, fill, h, onSubmit, shownOnce, when } from './dom.js';
import { DEFAULT_EVENTS, EVENTS } from './vocabulary.js';

/** The account's instances (the first 100), for the pickers and to name them. */
export async function instanceNames() {
  const res = await api('/v1/instances?limit=100');
  return new Map(res.data.map((i) => [i.id, i.name]));
}

function instancePicker(id, names) {
  return h('select', { id, required: true },
    [...names].map(([value, name]) => h('option', { value }, name)));
}

export function webhooksView(root) {
  const error = h('p', { class: 'error', role: 'alert' });
  const showError = (e) => fill(error, e.message);
  const subscriptions = h('ul', { class: 'rows', 'aria-labelledby': 'subs-title' });
  const inbound = h('ul', { class: 'rows', 'aria-labelledby': 'inbound-title' });
  const subsSummary = h('p', { class: 'muted' });
  const inboundSummary = h('p', { class: 'muted' });
  const createSlot = h('div');
  const inboundSlot = h('div');
  let names = new Map();

  function subscriptionRow(w) {
    return h('li', { class: 'card row', 'data-webhook-id': w.id },
      h('h3', {}, h('a', { href: `#/webhooks/${enc(w.id)}` }, w.name ?? w.url)),
      h('p', { class: 'mono' }, w.url),
      h('p', { class: 'muted' },
        h('span', { class: 'badge', 'data-status': w.status === 'active' ? 'connected' : 'disconnected' }, w.status),
        ` · ${names.get(w.instanceId) ?? w.instanceId} · ${w.events.length} event${w.events.length === 1 ? '' : 's'}`),
    );
  }

  function inboundRow(w) {
    const del = confirmButton('Delete', `Confirm deleting the inbound URL ${w.name}`, async () => {
      await api(`/v1/webhooks/inbound/${enc(w.id)}`, { method: 'DELETE' });
      announce(`Inbound URL ${w.name} deleted.`);
      await loadInbound();
    }, { onError: showError });
    del.setAttribute('aria-label', `Delete the inbound URL ${w.name}`);
    return h('li', { class: 'card row', 'data-inbound-id': w.id },
      h('h3', {}, w.name),
      h('p', { class: 'muted' }, `Sends from ${names.get(w.instanceId) ?? w.instanceId} · created ${when(w.createdAt)}`),
      h('div', { class: 'actions' }, del),
    );
  }

  async function loadSubscriptions() {
    const res = await api('/v1/webhooks?limit=100');
    fill(subscriptions, res.data.map(subscriptionRow));
    const { total } = res.pagination;
    fill(subsSummary, total === 0 ? 'No subscription yet.' : `${total} subscription${total === 1 ? '' : 's'}.`);
  }

  async function loadInbound() {
    const res = await api('/v1/webhooks/inbound');
    fill(inbound, res.data.map(inboundRow));
    fill(inboundSummary, res.data.length === 0 ? 'No inbound URL yet.' : '');
  }

  function createForm() {
    const name = h('input', { id: 'webhook-name', maxlength: '100', autocomplete: 'off' });
    const url = h('input', { id: 'webhook-url', type: 'url', required: true, placeholder: 'https://example.com/hooks/wagate', autocomplete: 'off' });
    const instance = instancePicker('webhook-instance', names);
    const events = checkboxes('webhook-events', 'Events', EVENTS, DEFAULT_EVENTS);
    const secret = h('div');
    const form = h('form', { class: 'card', 'aria-labelledby': 'new-webhook-title' },
      h('h2', { id: 'new-webhook-title' }, 'New subscription'),
      field('Name (optional)', name),
      field('URL', url, 'Where wagate POSTs each event, signed with the subscription\'s secret.'),
      field('Instance', instance),
      events.el,
      h('button', { type: 'submit', class: 'primary' }, 'Create subscription'),
      secret,
    );
    onSubmit(form, async () => {
      fill(error);
      const body = { url: url.value.trim(), instanceId: instance.value, events: events.checked() };
      if (name.value.trim()) body.name = name.value.trim();
      const w = (await api('/v1/webhooks', { method: 'POST', body })).data;
      form.reset();
      events.reset();
      fill(secret, shownOnce('new-webhook-secret', 'Signing secret', w.secret));
      announce(`Subscription created. Its signing secret is shown once.`);
      await loadSubscriptions();
    }, showError);
    return form;
  }

  function inboundForm() {
    const name = h('input', { id: 'inbound-name', required: true, maxlength: '100', autocomplete: 'off' });
    const instance = instancePicker('inbound-instance', names);
    const shown = h('div');
    const form = h('form', { class: 'card', 'aria-labelledby': 'new-inbound-title' },
      h('h2', { id: 'new-inbound-title' }, 'New inbound URL'),
      h('p', { class: 'hint' }, 'A secret URL that sends a message from the instance when something POSTs {"to", "message"} to it: for tools that can call a URL but not an API.'),
      field('Name', name),
      field('Instance', instance),
      h('button', { type: 'submit', class: 'primary' }, 'Create URL'),
      shown,
    );
    onSubmit(form, async () => {
      fill(error);
      const w = (await api('/v1/webhooks/inbound', { method: 'POST', body: { name: name.value.trim(), instanceId: instance.value } })).data;
      form.reset();
      fill(shown, shownOnce('new-inbound-url', 'Inbound URL', w.url));
      announce('Inbound URL created. It is shown once.');
      await loadInbound();
    }, showError);
    return form;
  }

  root.append(
    h('h1', { tabindex: '-1' }, 'Webhooks'),
    error,
    createSlot,
    h('h2', { id: 'subs-title' }, 'Subscriptions'),
    subsSummary,
    subscriptions,
    h('h2', { id: 'inbound-title' }, 'Inbound webhook URLs'),
    inboundSlot,
    inboundSummary,
    inbound,
  );
  (async () => {
    try {
      names = await instanceNames();
      if (names.size === 0) {
        fill(createSlot, h('p', { class: 'card' }, 'A subscription belongs to an instance: ', h('a', { href: '#/instances' }, 'create an instance'), ' first.'));
      } else {
        fill(createSlot, createForm());
        fill(inboundSlot, inboundForm());
      }
      await Promise.all([loadSubscriptions(), loadInbound()]);
    } catch (e) {
      showError(e);
    }
  })();
}
