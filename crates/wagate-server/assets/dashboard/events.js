// Live updates: the account's Server-Sent Events from GET /v1/events/stream. EventSource cannot
// send an Authorization header, so the stream is read with fetch() and parsed here. After an
// error it reconnects with Last-Event-ID, and the server resends what was missed, so views can
// trust that every event reaches them once they are subscribed.

const listeners = new Map(); // event name (or '*') → Set of fn(data, envelope)
const stateListeners = new Set(); // fn(state, {resumed})

let controller = null; // aborts the current request; null when stopped
let lastEventId = null;
let state = 'off';

/** on('message.received', (data, envelope) => …) → a function that unsubscribes. */
export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}

/** fn('connecting' | 'live' | 'reconnecting' | 'off', {resumed}), first with the current state. */
export function onState(fn) {
  stateListeners.add(fn);
  fn(state, { resumed: false });
  return () => stateListeners.delete(fn);
}

/**
 * fn() each time a stream opens without resuming: events from before it are not coming, so a
 * view reloads what it shows. (A resumed stream replays what was missed; nothing to do.)
 */
export function onFreshStream(fn) {
  const wrapped = (next, { resumed }) => {
    if (next === 'live' && !resumed) fn();
  };
  stateListeners.add(wrapped);
  return () => stateListeners.delete(wrapped);
}

function setState(next, resumed = false) {
  state = next;
  for (const fn of stateListeners) fn(next, { resumed });
}

function dispatch(envelope) {
  for (const name of [envelope.event, '*']) {
    for (const fn of listeners.get(name) ?? []) {
      try {
        fn(envelope.data ?? {}, envelope);
      } catch (e) {
        console.error(e);
      }
    }
  }
}

/** One SSE frame (lines up to a blank line): its id, event name and data lines. */
function parseFrame(frame) {
  let id = null;
  const data = [];
  for (const line of frame.split('\n')) {
    if (line === '' || line.startsWith(':')) continue; // ':' lines are keep-alives
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'id') id = value;
    else if (name === 'data') data.push(value);
  }
  return { id, data: data.join('\n') };
}

async function readOnce(key, signal) {
  const headers = { Authorization: `Bearer ${key}`, Accept: 'text/event-stream' };
  const resumed = lastEventId !== null;
  if (resumed) headers['Last-Event-ID'] = lastEventId;
  const res = await fetch('/v1/events/stream', { headers, signal, cache: 'no-store' });
  if (!res.ok) throw Object.assign(new Error(`the event stream answered ${res.status}`), { status: res.status });
  setState('live', resumed);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = parseFrame(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (frame.id) lastEventId = frame.id;
      if (frame.data) {
        try {
          dispatch(JSON.parse(frame.data));
        } catch (e) {
          console.error('unreadable event', e);
        }
      }
    }
  }
}

/** Starts reading the stream with the key, reconnecting until stop(). */
export function start(key) {
  stop();
  const mine = new AbortController();
  controller = mine;
  lastEventId = null;
  (async () => {
    let delay = 1000;
    setState('connecting');
    while (controller === mine) {
      try {
        await readOnce(key, mine.signal);
        delay = 1000; // the server closed a healthy stream: come back soon
      } catch (e) {
        if (controller !== mine) return;
        if (e.status === 401 || e.status === 403) {
          setState('off');
          return;
        }
      }
      if (controller !== mine) return;
      setState('reconnecting');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
    }
  })();
}

export function stop() {
  controller?.abort();
  controller = null;
  if (state !== 'off') setState('off');
}
