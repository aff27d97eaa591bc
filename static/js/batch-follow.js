/**
 * The batch the page shows, once it exists (opened as its page, or made by the first upload): the address bar, the
 * links and the heading become the batch's, and its websocket's events are taken in (batch-socket.js).
 */

import { apiBatches, root, state, ui } from "./batch-page.js";
import { showBatchName } from "./batch-name.js";
import { followBatch } from "./batch-socket.js";
import { dropItem, mergeItem, redraw } from "./card-items.js";
import { gettext } from "./i18n.js";
import { showBatchOptions } from "./rerun.js";
import { showNotice } from "./summary.js";
import { setReviewBelow } from "./triage.js";

/** Start following a batch: address bar, links, live updates. */
export function useBatch(batch) {
  state.batch = { id: batch.id, zip: batch.zip, ws: batch.ws };
  if (batch.options) showBatchOptions(batch.options);
  const page = `${root.dataset.batchPages}${batch.id}/`;
  if (location.pathname !== page) {
    history.replaceState(null, "", page);
    // The page becomes the batch's page, as its address now says: its title, heading and menu as they are there.
    document.querySelector('.nav a[aria-current="page"]')?.removeAttribute("aria-current");
    // The messages of the page it was (a sign-up's welcome) were said once, to that page: a reload would not show
    // them, and they do not stay on the batch's.
    document.querySelector("main > .messages")?.remove();
  }
  showBatchName(batch.id, batch.name);
  ui.batchLink.href = page;
  ui.batchLink.hidden = ui.newBatch.hidden = ui.deleteBatch.hidden = ui.renameBatch.hidden = false;
  followBatch(batch.ws, {
    statusUrl: `${apiBatches}/${batch.id}`,
    onMessage: onSocketMessage,
    onState: onSocketState,
  });
}

function onSocketMessage(message) {
  if (message.event === "snapshot") {
    state.batch.zip = message.batch.zip;
    showBatchName(state.batch.id, message.batch.name);
    showBatchOptions(message.batch.options);
    setReviewBelow(message.batch.review_below);
    // An item missing from it is not dropped: the snapshot may be older than an upload's reply. One deleted
    // while the page was not listening stays until a reload (Remove on it finds it gone and drops it).
    for (const item of message.batch.items) mergeItem(item);
  } else if (message.event === "item") {
    mergeItem(message.item);
  } else if (message.event === "removed") {
    dropItem(message.item_id);
  } else if (message.event === "renamed") {
    showBatchName(state.batch.id, message.name);
  } else if (message.event === "deleted") {
    showNotice(gettext("This batch does not exist (any more)."));
  }
  redraw();
}

function onSocketState(socketState) {
  if (socketState === "unauthenticated" && state.loggedOut) return; // the uploads' notice says it, and what waits
  const notices = {
    open: null,
    reconnecting: gettext("Live updates were interrupted; reconnecting…"),
    unauthenticated: gettext("You are logged out: log in again to follow this batch."),
    "not-found": gettext("This batch does not exist (any more)."),
  };
  showNotice(notices[socketState]);
}
