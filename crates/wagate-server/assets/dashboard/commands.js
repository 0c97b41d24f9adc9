// The commands on one instance (connect, restart, disconnect, delete), shared by the list and the
// detail page. Results that matter come back as live events too; the answers here are shown at once.
import { api, enc } from './api.js';
import { announce, h } from './dom.js';

const base = (id) => `/v1/instances/${enc(id)}`;

/** QR code, or a pairing code too when phone is given → {status, qrCode, qrCodeExpiresAt, pairingCode?}. */
export function connect(id, phone) {
  const body = phone ? { method: 'qrcode', phone } : { method: 'qrcode' };
  return api(`${base(id)}/connect`, { method: 'POST', body });
}

export async function restart(id, name) {
  await api(`${base(id)}/restart`, { method: 'POST' });
  announce(`Restarting ${name}.`);
}

export async function disconnect(id, name) {
  await api(`${base(id)}/disconnect`, { method: 'POST' });
  announce(`${name} disconnected.`);
}

/**
 * A delete button that asks again on its first press (no dialog: it stays keyboard- and
 * test-friendly), and deletes on the second.
 */
export function deleteButton(id, name, { onDeleted, onError }) {
  const button = h('button', { type: 'button', class: 'danger' }, 'Delete');
  let armed = false;
  let disarm;
  button.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      button.textContent = `Confirm delete`;
      button.setAttribute('aria-label', `Confirm deleting ${name}: its messages, chats and session go too`);
      disarm = setTimeout(() => {
        armed = false;
        button.textContent = 'Delete';
        button.removeAttribute('aria-label');
      }, 6000);
      return;
    }
    clearTimeout(disarm);
    button.disabled = true;
    try {
      await api(base(id), { method: 'DELETE' });
      announce(`${name} deleted.`);
      onDeleted();
    } catch (e) {
      button.disabled = false;
      onError(e);
    }
  });
  return button;
}
