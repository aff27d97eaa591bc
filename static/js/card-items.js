/**
 * The batch page's items and their cards, kept in step: an item's state taken in from an upload's reply or the
 * websocket (the highest revision wins), drawn on its card, a card made for each item (a frame's worth at a time:
 * waiting-cards.js), and the page drawn again once a frame however many messages came.
 */

import { state, ui } from "./batch-page.js";
import { newRow, releaseDropped, renderItem } from "./cards.js";
import { oncePerFrame } from "./frames.js";
import { updateSummary } from "./summary.js";
import { cardWaits, drawHoldingPlace, isWaiting, makeWaitingCards, stopWaiting } from "./waiting-cards.js";

/** A new row at the end of the list, at `order` among the cards (upload order). */
export function addRow(filename, order = state.rowCount++) {
  const row = newRow(filename, order);
  ui.list.append(row);
  return row;
}

/**
 * Take in an item's state from an upload reply or a websocket event.
 * Events can arrive out of order, so a lower revision than the one known is ignored.
 * @param {object} item item JSON
 * @param {HTMLElement | null} uploadRow the row of the upload this item came from, if any
 */
export function mergeItem(item, uploadRow = null) {
  if (state.removed.has(item.id)) return;
  const known = state.items.get(item.id);
  const newest = known && known.revision > item.revision ? known : item;
  state.items.set(item.id, newest);
  if (known && !sameItem(known, newest)) overtakeFailure(item.id);

  const row = uploadRow ?? state.rows.get(item.id);
  if (row) {
    stopWaiting(item.id);
    state.rows.set(item.id, row);
    // A snapshot after a reconnection brings every item again, mostly as the cards show them: 1,000 cards drawn again
    // held the page 0.5-1 s (Chromium, 2 loaded cores).
    if (uploadRow || !known || !sameItem(known, newest)) renderItem(row, newest);
    return;
  }
  // The websocket often announces an item before its upload's reply arrives;
  // wait for that reply rather than show the file twice (see showUnclaimedItems).
  if (state.active) return;
  // Its card is made at the next frame, in its place (a snapshot's thousand items, a frame's worth at a time).
  if (!isWaiting(item.id)) cardWaits(item.id, state.rowCount++);
  redraw();
}

/** The card of an item waiting for one (waiting-cards.js), drawn; null if it has one. */
function waitingItemCard(id, order) {
  if (state.rows.has(id)) return null;
  const item = state.items.get(id);
  const row = newRow(item.filename, order);
  state.rows.set(id, row);
  renderItem(row, item);
  return row;
}

/**
 * An item changed (marked fine from its card, reverted or made again elsewhere): the failure of an editor's "Looks
 * fine" or Revert its card told is past, or its words are; a hand edit not saved stays, the editor keeping it.
 */
function overtakeFailure(id) {
  if (state.editorFailures.get(id)?.untilCleared === false) state.editorFailures.delete(id);
}

/** Whether two item JSONs say the same: their fields are plain values. */
function sameItem(one, other) {
  const keys = Object.keys(one);
  return keys.length === Object.keys(other).length && keys.every((key) => one[key] === other[key]);
}

/** An item its owner deleted, here or elsewhere: its row goes, for good. */
export function dropItem(id) {
  state.removed.add(id);
  state.items.delete(id);
  state.editorFailures.delete(id);
  stopWaiting(id);
  const row = state.rows.get(id);
  if (row) releaseDropped(row);
  row?.remove();
  state.rows.delete(id);
}

/** An item's new state from a reply of this page (an edit, "Looks fine", an improve), then the summary. */
export function takeItem(item) {
  mergeItem(item);
  updateSummary();
}

/**
 * An editor's request of an item that failed (`note` says so), or with no `note` that it is past: on its card. Unless
 * `untilCleared`, the note goes too once the item changes (overtakeFailure).
 */
export function noteEditorFailure(id, note = null, untilCleared = false) {
  if (note) state.editorFailures.set(id, { note, untilCleared });
  else if (!state.editorFailures.delete(id)) return;
  const row = state.rows.get(id);
  const item = state.items.get(id);
  if (row && item) renderItem(row, item);
}

/** Rows for the items no upload of this page claimed: added from another tab or program. */
export function showUnclaimedItems() {
  for (const item of state.items.values()) {
    if (!state.rows.has(item.id)) mergeItem(item);
  }
}

/** The cards still to be made, then the summary (counts, filter, order) of them all. */
function drawPage() {
  drawHoldingPlace(ui.list, () => {
    makeWaitingCards(ui.list, state.items, waitingItemCard);
    updateSummary();
  });
  if (isWaiting()) redraw();
}

/**
 * drawPage at the next frame, once however often it is asked for meanwhile: each websocket message recounted and
 * re-sorted every card (6 ms at 320 cards, growing with the batch), so that a burst of them held the page.
 */
export const redraw = oncePerFrame(drawPage);
