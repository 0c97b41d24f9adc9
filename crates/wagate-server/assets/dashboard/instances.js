// The instances page: the account's instances with their live status, a form to create one, and
// each one's commands.
import { api } from './api.js';
import { actionButton, announce, field, fill, h } from './dom.js';
import * as events from './events.js';
import { badge, followInstances } from './status.js';
import { connect, deleteButton, disconnect, restart } from './commands.js';

export function instancesView(root) {
  const error = h('p', { class: 'error', role: 'alert' });
  const showError = (e) => fill(error, e.message);
  const list = h('ul', { class: 'instances', 'aria-labelledby': 'list-title' });
  const summary = h('p', { class: 'muted' });
  const rows = new Map(); // instance id → {inst, li}

  function row(inst) {
    const statusEl = h('dd', { class: 'status' }, badge(inst.status));
    const phoneEl = h('dd', { class: 'phone' }, inst.phone ?? '—');
    const li = h(
      'li',
      { class: 'card instance', 'data-instance-id': inst.id },
      h('h3', {}, h('a', { href: `#/instances/${encodeURIComponent(inst.id)}` }, inst.name)),
      h('dl', { class: 'facts' }, h('dt', {}, 'Status'), statusEl, h('dt', {}, 'Phone'), phoneEl),
      h(
        'div',
        { class: 'actions' },
        actionButton('Connect', async () => {
          await connect(inst.id);
          location.hash = `#/instances/${encodeURIComponent(inst.id)}`;
        }, { onError: showError, className: 'primary' }),
        actionButton('Restart', () => restart(inst.id, inst.name), { onError: showError }),
        actionButton('Disconnect', () => disconnect(inst.id, inst.name), { onError: showError }),
        h('a', { class: 'button', href: `#/instances/${encodeURIComponent(inst.id)}/chats` }, 'Chats'),
        deleteButton(inst.id, inst.name, { onDeleted: load, onError: showError }),
      ),
    );
    for (const b of li.querySelectorAll('.actions button')) {
      // Each button's accessible name says which instance it acts on.
      b.setAttribute('aria-label', `${b.textContent} ${inst.name}`);
    }
    li.querySelector('.actions a').setAttribute('aria-label', `Chats of ${inst.name}`);
    return { inst, li, statusEl, phoneEl };
  }

  async function load() {
    try {
      const res = await api('/v1/instances?limit=100');
      rows.clear();
      for (const inst of res.data) rows.set(inst.id, row(inst));
      fill(list, [...rows.values()].map((r) => r.li));
      const { total } = res.pagination;
      fill(summary, total === 0 ? 'No instance yet: create one above.' : `${total} instance${total === 1 ? '' : 's'}${total > res.data.length ? `, the first ${res.data.length} shown` : ''}.`);
    } catch (e) {
      showError(e);
    }
  }

  const name = h('input', { id: 'instance-name', name: 'name', required: true, maxlength: '100', autocomplete: 'off' });
  const create = h('form', { class: 'card inline-form', 'aria-labelledby': 'create-title' },
    h('h2', { id: 'create-title' }, 'New instance'),
    field('Name', name),
    h('button', { type: 'submit', class: 'primary' }, 'Create'),
  );
  create.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = create.querySelector('button');
    button.disabled = true;
    fill(error);
    try {
      const inst = (await api('/v1/instances', { method: 'POST', body: { name: name.value.trim() } })).data;
      announce(`Instance ${inst.name} created.`);
      create.reset();
      await load();
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
    }
  });

  const unfollow = followInstances(null, (change) => {
    const r = rows.get(change.instanceId);
    if (!r) return;
    fill(r.statusEl, badge(change.status));
    if (change.phone) fill(r.phoneEl, change.phone);
    if (change.event !== 'instance.qr_updated') announce(`${r.inst.name}: ${change.status}.`);
  });
  const offState = events.onFreshStream(load);

  root.append(
    h('h1', { tabindex: '-1' }, 'Instances'),
    create,
    error,
    h('h2', { id: 'list-title' }, 'Your instances'),
    summary,
    list,
  );
  load();
  return () => {
    unfollow();
    offState();
  };
}
