/**
 * Uploading to the batch API from the page. The session cookie authenticates
 * the browser; writes carry Django's CSRF token in the X-CSRFToken header.
 */

import { gettext, interpolate } from "./i18n.js";

/** Thrown when a request got no HTTP answer at all (offline, server down, connection reset). */
export class NetworkError extends Error {}

/** Django's CSRF token: the csrftoken cookie, else the one rendered by {% csrf_token %}. */
export function csrfToken() {
  const cookie = document.cookie.split("; ").find((pair) => pair.startsWith("csrftoken="));
  if (cookie) return decodeURIComponent(cookie.slice("csrftoken=".length));
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
}

/**
 * The headers of the page's requests: JSON answers, Django's CSRF token, and the user the page was shown to
 * (base.html's data-user), so that a page left open while this browser logged out, or in as someone else, in another
 * tab is told so rather than act as whoever the cookie names now (accounts/auth.py).
 */
export function pageHeaders() {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
  if (document.body.dataset.user) headers["X-Page-User"] = document.body.dataset.user;
  return headers;
}

/**
 * POST one file as the multipart `files` field, after any other form fields.
 * @param {string} url
 * @param {File} file
 * @param {(fraction: number) => void} onProgress called with 0..1 of the bytes sent
 * @param {[string, string][]} fields other form fields, e.g. the options of a new batch
 * @returns {Promise<Reply>} any HTTP answer
 *
 * @typedef {{status: number, body: any, retryAfter: number | null}} Reply
 *   body is the parsed JSON or null; retryAfter the Retry-After header in seconds
 */
function postFileOnce(url, file, onProgress, fields, headers) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.responseType = "json";
    for (const [name, value] of Object.entries({ ...pageHeaders(), ...headers })) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      const retryAfter = Number.parseInt(xhr.getResponseHeader("Retry-After") ?? "", 10);
      resolve({ status: xhr.status, body: xhr.response, retryAfter: Number.isNaN(retryAfter) ? null : retryAfter });
    };
    xhr.onerror = () => reject(new NetworkError(gettext("the server could not be reached")));
    xhr.onabort = () => reject(new NetworkError(gettext("the upload was interrupted")));
    const form = new FormData();
    for (const [name, value] of fields) form.append(name, value);
    form.append("files", file, file.name);
    xhr.send(form);
  });
}

/** A new random key, as hex: an Idempotency-Key (crypto.randomUUID exists only on https and localhost). */
export const randomKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");

/** A promise that settles after `seconds`. */
export const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

// "Come back in a moment" (429 rate limit, 503 busy) is waited out this many
// times, when the moment is short; a daily quota's "tomorrow" is shown instead.
const MAX_WAITS = 5;
const MAX_WAIT_SECONDS = 60;

/**
 * Upload one file, riding out what is temporary: a failed request (no answer or
 * a 5xx) is tried once more, and a 429/503 with a short Retry-After is waited
 * out. Other answers are the server's verdict on the file and are returned.
 * @param {string} url
 * @param {File} file
 * @param {(fraction: number) => void} onProgress
 * @param {(seconds: number, status: number) => void} onWait told before waiting for the server (429 or 503)
 * @param {[string, string][]} fields other form fields sent with the file
 * @param {Record<string, string>} headers other request headers (an Idempotency-Key)
 * @returns {Promise<Reply>}
 */
export async function postFile(url, file, onProgress, onWait, fields = [], headers = {}) {
  let retried = false;
  let waits = 0;
  for (;;) {
    let reply;
    try {
      reply = await postFileOnce(url, file, onProgress, fields, headers);
    } catch (error) {
      if (!(error instanceof NetworkError) || retried) throw error;
      retried = true;
      await sleep(1);
      continue;
    }
    const comeBack = reply.status === 429 || reply.status === 503 ? reply.retryAfter : null;
    if (comeBack !== null && comeBack <= MAX_WAIT_SECONDS && waits < MAX_WAITS) {
      waits += 1;
      onWait(comeBack, reply.status);
      await sleep(comeBack);
    } else if (reply.status >= 500 && !retried) {
      retried = true;
      await sleep(1);
    } else {
      return reply;
    }
    onProgress(0);
  }
}

/** Whether a reply postFile returned is an account's limit that lifts too late to wait for (a daily quota's reset). */
export const limitLastsLong = (reply) => reply.status === 429 && (reply.retryAfter ?? 0) > MAX_WAIT_SECONDS;

/**
 * One request with form fields (none for a DELETE), once.
 * @param {string} method
 * @param {string} url
 * @param {[string, string][]} fields
 * @returns {Promise<Reply>} body null when the answer has none (204)
 */
export async function sendForm(method, url, fields = []) {
  let reply;
  try {
    reply = await fetch(url, {
      method,
      headers: pageHeaders(),
      body: fields.length ? new URLSearchParams(fields) : undefined,
    });
  } catch {
    // Not the browser's reason: "Failed to fetch" (Chromium), "Load failed" (Safari) are English on every page, and
    // say no more than this does.
    throw new NetworkError(gettext("the server could not be reached"));
  }
  const retryAfter = Number.parseInt(reply.headers.get("Retry-After") ?? "", 10);
  const body = await reply.json().catch(() => null);
  return { status: reply.status, body, retryAfter: Number.isNaN(retryAfter) ? null : retryAfter };
}

/** POST form fields (no file), once. */
export const postForm = (url, fields) => sendForm("POST", url, fields);

/**
 * The text explaining why a reply refused the file: the per-file reason when
 * there is one, else the reply's `error`, else the bare HTTP status.
 * @param {{status: number, body: any}} reply
 */
export function refusalText(reply) {
  return reply.body?.rejected?.[0]?.error ?? reply.body?.error ?? interpolate(gettext("the server answered HTTP %(status)s"), { status: reply.status });
}
