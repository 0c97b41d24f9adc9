// The commands on one instance (connect, restart, disconnect, delete), shared by the list and the
// detail page. Results that matter come back as live events too; the answers here are shown at once.
import { api, enc } from './api.js';
import { announce, confirmButton } from './dom.js';

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

/** Delete on a confirmed second press. */
export function deleteButton(id, name, { onDeleted, onError }) {
  return confirmButton(
    'Delete',
    `Confirm deleting ${name}: its messages, chats and session go too`,
    async () => {
      await api(base(id), { method: 'DELETE' });
      announce(`${name} deleted.`);
      onDeleted();
    },
    { onError },
  );
}
