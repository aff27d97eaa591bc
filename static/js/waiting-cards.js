/**
 * The cards of items still to be made, and where the batch page's user was among them.
 *
 * A batch's snapshot brings its hundreds of items at once: their cards, made in one task, held the page for seconds.
 * They are made a frame's worth at a time (CARDS_PER_FRAME, CARDS_MS_PER_FRAME), in the order the list shows them (as
 * uploaded, or least confident first: triage.js), each put in its place among the cards made, so that the list is
 * never sorted again for them.
 *
 * The tab keeps where its user was on the page (the first card in view, and how far down the window), saved as they
 * scroll and as they leave. After a reload or a return to the page, the cards from that one on are made first, it
 * is put back where it was, and the page holds it there while the cards above it are made: the browser's own restoring
 * of the scroll gave up on a page still too short for it, and showed the top of the list until the cards made from the
 * top reached the place (some twenty frames at 1,000 photos).
 */

import { applyFilter, cardPlace, comparePlaces, filterShowsItem, itemPlace, listView } from "./triage.js";

// Cards made from items at most in one frame, and for how long: a batch of 1,000 photos opened (its snapshot) had its
// cards made at once, which held the page 0.9-4 s (Chromium, 2 loaded cores); a frame of 50 cards, 0.1-0.2 s there.
const CARDS_PER_FRAME = 50;
const CARDS_MS_PER_FRAME = 50;

// The place is saved once the scrolling has stopped for this long, not at every scroll event.
const SAVE_AFTER_SCROLL_MS = 200;

/** item id -> its card's place in upload order, for the items whose cards are still to be made */
const waiting = new Map();

/**
 * The waiting items in the order their cards are made, last first (taken with pop()), sorted once for the list's
 * order and filter then (`view`: triage.js listView); null to sort them again (items came since).
 * @type {{turns: {id: string, aboveHeld: boolean}[], view: string} | null}
 */
let making = null;

/**
 * While the page finds again the place kept: the item whose card was the first in view, that card's
 * top (px from the top of the window) and the window's scroll then; `held`, once the card is made and held there.
 * @type {{item: string | null, top: number, scrollY: number, held: boolean} | null}
 */
let restoring = null;

/** An item whose card is to be made, at upload place `order`. */
export function cardWaits(id, order) {
  waiting.set(id, order);
  making = null;
}

/** An item whose card is not to be made after all (made otherwise, or deleted). */
export function stopWaiting(id) {
  waiting.delete(id);
}

/** Whether the item's card is still to be made; without an id, whether any card is. */
export function isWaiting(id = undefined) {
  return id === undefined ? waiting.size > 0 : waiting.has(id);
}

/** The ids of the items whose cards are still to be made. */
export function waitingIds() {
  return waiting.keys();
}

/**
 * Make a frame's worth of the waiting cards, each put in its place in `list`.
 * @param {HTMLElement} list the cards' list
 * @param {Map<string, object>} items item id -> newest item JSON
 * @param {(id: string, order: number) => HTMLElement | null} make the card of an item, drawn, not in the list yet (or
 *   null: it has one already)
 */
export function makeWaitingCards(list, items, make) {
  if (!making || making.view !== listView()) making = makingOrder(items);
  const started = performance.now();
  const columns = gridColumns(list);
  let made = 0;
  let shownAbove = 0;
  while (making.turns.length) {
    // Cards put above the one held in place go in whole rows: otherwise every card in view moved a column over.
    const full = made >= CARDS_PER_FRAME || performance.now() - started > CARDS_MS_PER_FRAME;
    if (full && shownAbove % columns === 0) return;
    const { id, aboveHeld } = making.turns.pop();
    if (!waiting.has(id)) continue;
    const order = waiting.get(id);
    waiting.delete(id);
    const card = items.has(id) ? make(id, order) : null;
    if (!card) continue;
    putInPlace(list, card);
    applyFilter(card);
    made += 1;
    if (aboveHeld && !card.hidden) shownAbove += 1;
  }
}

/**
 * The waiting items in the list's order, last first; while a place is found again, its card's and those after it
 * first, then those before it, nearest first. The cards the filter on shows come before those it hides: opened from the
 * batch list's count of failed photos, a batch of 1,000 showed its last ones only once every card before them was made.
 */
function makingOrder(items) {
  const places = new Map([...waiting].map(([id, order]) => [id, itemPlace(items.get(id) ?? {}, order)]));
  const sorted = [...waiting.keys()].sort((one, other) => comparePlaces(places.get(one), places.get(other)));
  const heldPlace = restoring?.item != null && places.get(restoring.item);
  const split = heldPlace ? sorted.findIndex((id) => comparePlaces(places.get(id), heldPlace) >= 0) : 0;
  const shownFirst = (ids) => {
    const shown = new Set(ids.filter((id) => filterShowsItem(items.get(id) ?? {})));
    return [...shown, ...ids.filter((id) => !shown.has(id))];
  };
  const below = shownFirst(sorted.slice(split)).map((id) => ({ id, aboveHeld: false }));
  const above = shownFirst(sorted.slice(0, split).reverse()).map((id) => ({ id, aboveHeld: true }));
  return { turns: [...above.reverse(), ...below.reverse()], view: listView() };
}

/** Put a card in `list` before the first card that comes after it in the list's order (the list is in that order). */
function putInPlace(list, card) {
  const cards = list.children;
  const place = cardPlace(card);
  let low = 0;
  let high = cards.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (comparePlaces(cardPlace(cards[middle]), place) <= 0) low = middle + 1;
    else high = middle;
  }
  list.insertBefore(card, cards[low] ?? null);
}

/** How many cards a row of the list holds (site.css fits as many as its width takes). */
function gridColumns(list) {
  return getComputedStyle(list).gridTemplateColumns.split(" ").length || 1;
}

/**
 * Keep where the user is among the cards, and find the place kept again (drawHoldingPlace) after a reload or a return
 * to the page (back, forward); a page opened anew starts at its top.
 */
export function keepPlace(list) {
  const opened = performance.getEntriesByType("navigation")[0]?.type;
  const kept = ["reload", "back_forward"].includes(opened) ? keptPlace() : null;
  if (kept) {
    restoring = { ...kept, held: false };
    // The user's own scrolling ends it (the page's scroll changes without them too: the browser's scroll anchoring).
    for (const type of ["wheel", "touchmove", "keydown", "pointerdown"]) {
      addEventListener(type, () => restoring && stopRestoring(), { once: true, passive: true });
    }
  }
  history.scrollRestoration = "manual";
  let timer = 0;
  const save = () => {
    clearTimeout(timer);
    if (restoring && !restoring.held) return; // the place kept is not found again yet: it stays kept
    keepInSession(placeNow(list));
  };
  addEventListener(
    "scroll",
    () => {
      clearTimeout(timer);
      timer = setTimeout(save, SAVE_AFTER_SCROLL_MS);
    },
    { passive: true },
  );
  addEventListener("pagehide", save);
}

// The place is kept in the tab's session storage, under the page's path: the history entry's state, written as the
// page went ("beforeunload"), stopped the navigation it was going to (a log-out's), and written in "pagehide" was not
// kept (Chromium).
const placeKey = () => `cards-place ${location.pathname}`;

/** The place kept for this page, or null. */
function keptPlace() {
  try {
    return JSON.parse(sessionStorage.getItem(placeKey()) ?? "null");
  } catch {
    return null; // no storage (turned off), or not ours
  }
}

function keepInSession(place) {
  try {
    sessionStorage.setItem(placeKey(), JSON.stringify(place));
  } catch {
    // No storage (turned off, or full): the place is not kept.
  }
}

/** Where the user is: the first card (of an item) in view, or below the top of the window, and its top. */
function placeNow(list) {
  for (const card of list.children) {
    if (card.hidden || !card.dataset.itemId) continue;
    const { top, bottom } = card.getBoundingClientRect();
    if (bottom > 0) return { item: card.dataset.itemId, top, scrollY };
  }
  return { item: null, top: 0, scrollY };
}

/**
 * Run `draw` (which makes cards and orders the list) keeping the place being found again: once its card is made, the
 * page scrolls it back to where it was, and keeps it there while cards are put above it (and cards near the window take
 * their full height), until every card is made or the user scrolls.
 */
export function drawHoldingPlace(list, draw) {
  draw();
  if (!restoring) return;
  const card = restoring.item && list.querySelector(`[data-item-id="${CSS.escape(restoring.item)}"]`);
  if (card && !card.hidden) {
    scrollBy(0, card.getBoundingClientRect().top - restoring.top);
    restoring.held = true;
    if (!waiting.size) stopRestoring();
  } else if (!restoring.item || !waiting.has(restoring.item)) {
    // Deleted since, or hidden by the filter the page opened with: the window where it was, as far as it goes.
    scrollTo(0, restoring.scrollY);
    stopRestoring();
  }
}

function stopRestoring() {
  restoring = null;
  making = null;
}
