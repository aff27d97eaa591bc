/**
 * The cards of items still to be made.
 *
 * A batch's snapshot brings its hundreds of items at once: their cards, made in one task, held the page for seconds.
 * They are made a frame's worth at a time (CARDS_PER_FRAME, CARDS_MS_PER_FRAME), in the order the list shows them (as
 * uploaded, or least confident first: triage.js), each put in its place among the cards made, so that the list is
 * never sorted again for them.
 */

import { applyFilter, cardPlace, comparePlaces, itemPlace, leastConfidentFirst } from "./triage.js";

// Cards made from items at most in one frame, and for how long: a batch of 1,000 photos opened (its snapshot) had its
// cards made at once, which held the page 0.9-4 s (Chromium, 2 loaded cores); a frame of 50 cards, 0.1-0.2 s there.
const CARDS_PER_FRAME = 50;
const CARDS_MS_PER_FRAME = 50;

/** item id -> its card's place in upload order, for the items whose cards are still to be made */
const waiting = new Map();

/**
 * The waiting items in the order their cards are made, last first (taken with pop()), sorted once for the order the
 * list had then (`leastConfidentFirst`); null to sort them again (items came since).
 * @type {{turns: string[], leastConfidentFirst: boolean} | null}
 */
let making = null;

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
  if (!making || making.leastConfidentFirst !== leastConfidentFirst()) making = makingOrder(items);
  const started = performance.now();
  let made = 0;
  while (making.turns.length) {
    if (made >= CARDS_PER_FRAME || performance.now() - started > CARDS_MS_PER_FRAME) return;
    const id = making.turns.pop();
    if (!waiting.has(id)) continue;
    const order = waiting.get(id);
    waiting.delete(id);
    const card = items.has(id) ? make(id, order) : null;
    if (!card) continue;
    putInPlace(list, card);
    applyFilter(card);
    made += 1;
  }
}

/** The waiting items in the list's order, last first. */
function makingOrder(items) {
  const places = new Map([...waiting].map(([id, order]) => [id, itemPlace(items.get(id) ?? {}, order)]));
  const sorted = [...waiting.keys()].sort((one, other) => comparePlaces(places.get(one), places.get(other)));
  return { turns: sorted.reverse(), leastConfidentFirst: leastConfidentFirst() };
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
