/**
 * Following one batch over its websocket, reconnecting with backoff.
 *
 * Every connection starts with a snapshot of the whole batch, so whatever was
 * missed while disconnected is caught up on reconnect.
 */

import { pageHeaders } from "./http.js";

const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_NOT_FOUND = 4404;
const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

/**
 * @param {string} path the batch's `ws` path, e.g. /ws/batches/<id>
 * @param {object} handlers
 * @param {(message: object) => void} handlers.onMessage each parsed JSON message
 * @param {(state: "open"|"reconnecting"|"unauthenticated"|"not-found") => void} handlers.onState
 * @param {string} handlers.statusUrl the batch's REST URL, asked why when a handshake is refused
 */
export function followBatch(path, { onMessage, onState, statusUrl }) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let delay = FIRST_DELAY_MS;
  let retry = null; // the next try while reconnecting

  function connect() {
    retry = null;
    let opened = false;
    let live = false;
    const socket = new WebSocket(`${scheme}//${location.host}${path}`);
    socket.onopen = () => {
      opened = true;
    };
    socket.onmessage = (event) => {
      // Open once the batch's snapshot comes: a refused handshake is accepted too, to be closed with its reason, and
      // taken as open it cleared the page's notice and the reconnection's backoff at every try while logged out.
      if (!live) {
        live = true;
        delay = FIRST_DELAY_MS;
        onState("open");
      }
      onMessage(JSON.parse(event.data));
    };
    socket.onclose = async (event) => {
      // A handshake that an ASGI server refuses outright (HTTP 403) reaches the
      // browser as a bare 1006 without our close code: ask the REST API instead.
      let verdict = opened ? closeVerdict(event.code) : await askWhy(statusUrl);
      // Not found for whoever this browser is logged in as now: the REST API, asked as the page's user, tells an
      // ended batch from a page whose user has logged out, or been replaced, in another tab.
      if (opened && verdict === "not-found") verdict = (await askWhy(statusUrl)) ?? verdict;
      if (verdict === "not-found") {
        onState(verdict);
        return;
      }
      // Logged out: said, and tried again now and then, so that the page follows its batch again once its user has
      // logged in again in another tab.
      onState(verdict ?? "reconnecting");
      retry = setTimeout(connect, delay + Math.random() * 500);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    };
  }

  // Back online (a phone out of a tunnel) or back on the page (a phone's tab in the background): try at once, not
  // at the end of a wait that has grown to 30 s while nothing could be reached.
  function tryNow() {
    if (retry === null || document.hidden) return;
    clearTimeout(retry);
    delay = FIRST_DELAY_MS;
    connect();
  }
  window.addEventListener("online", tryNow);
  document.addEventListener("visibilitychange", tryNow);

  connect();
}

/** The final state a close code means, or null when reconnecting may help. */
function closeVerdict(code) {
  if (code === CLOSE_UNAUTHENTICATED) return "unauthenticated";
  if (code === CLOSE_NOT_FOUND) return "not-found";
  return null;
}

async function askWhy(statusUrl) {
  try {
    const reply = await fetch(statusUrl, { headers: pageHeaders() });
    if (reply.status === 401 || reply.status === 403) return "unauthenticated";
    if (reply.status === 404) return "not-found";
  } catch {
    // Offline or server down: keep retrying.
  }
  return null;
}
