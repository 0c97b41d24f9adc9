// Who is signed in: an account (with one of its API keys) or the operator (with the admin token).
// The credential lives in sessionStorage: it survives reloads of this tab and is gone when the
// tab closes, so it is never left behind on a shared computer.

const KEY = 'wagate.credential';

/** {role: 'account' | 'operator', token} or null. */
function credential() {
  try {
    const c = JSON.parse(sessionStorage.getItem(KEY));
    return c && (c.role === 'account' || c.role === 'operator') && typeof c.token === 'string' ? c : null;
  } catch {
    return null;
  }
}

/** The bearer token of every request: the API key or the admin token. */
export function token() {
  return credential()?.token ?? null;
}

/** 'account', 'operator', or null when signed out. */
export function role() {
  return credential()?.role ?? null;
}

export function signIn(role, token) {
  sessionStorage.setItem(KEY, JSON.stringify({ role, token }));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}
