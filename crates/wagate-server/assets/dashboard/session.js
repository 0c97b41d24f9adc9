// The signed-in API key lives in sessionStorage: it survives reloads of this tab and is gone when
// the tab closes, so it is never left behind on a shared computer.

const KEY = 'wagate.apiKey';

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function signIn(key) {
  sessionStorage.setItem(KEY, key);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}
