// An instance's connection status, and keeping it current from the live events
// instance.qr_updated, instance.connected and instance.disconnected.
import { h } from './dom.js';
import * as events from './events.js';

const LABELS = {
  connected: 'connected',
  connecting: 'connecting',
  qr_pending: 'waiting for scan',
  disconnected: 'disconnected',
};

/** The status as a coloured badge; its text is the status word itself. */
export function badge(status) {
  return h('span', { class: 'badge', 'data-status': status }, LABELS[status] ?? status);
}

/**
 * Calls fn(change) for each event of the instance (or of any instance when id is null), with
 * change = {instanceId, status, phone?, profileName?, qrCode?, qrCodeExpiresAt?, event}.
 * Returns a function that unsubscribes.
 */
export function followInstances(id, fn) {
  const mine = (d) => id === null || d.instanceId === id;
  const offs = [
    events.on('instance.qr_updated', (d, env) => {
      if (mine(d)) fn({ instanceId: d.instanceId, status: 'qr_pending', qrCode: d.qrCode, qrCodeExpiresAt: d.expiresAt, event: env.event });
    }),
    events.on('instance.connected', (d, env) => {
      if (mine(d)) fn({ instanceId: d.instanceId, status: 'connected', phone: d.phone, profileName: d.profileName, qrCode: null, event: env.event });
    }),
    events.on('instance.disconnected', (d, env) => {
      // A restart closes the connection and opens it again from the saved session.
      const status = d.reason === 'restarting' ? 'connecting' : 'disconnected';
      if (mine(d)) fn({ instanceId: d.instanceId, status, qrCode: null, reason: d.reason, event: env.event });
    }),
  ];
  return () => offs.forEach((off) => off());
}
