/**
 * Which cutouts need a look, on the batch page: a "needs a look" badge on each flagged
 * card, a live count, a filter that shows only them (and one that shows only the cards that
 * failed or were refused), an order by confidence, "Looks fine"
 * (POST /api/v1/items/<id>/review) and "Improve flagged with best"
 * (POST /api/v1/batches/<id>/improve), which runs only the flagged items again.
 *
 * Whether an item is flagged is the server's word (`needs_review` in the item JSON: done,
 * less confident than the batch's `review_below`, not reviewed); this module only shows it,
 * counting from the item JSON the page already follows live, so the count moves as
 * cutouts finish, are edited, or are marked fine.
 */

import { togglePart } from "./card-parts.js";
import { cardsFirstLink, focusLost } from "./focus.js";
import { postForm, refusalText } from "./http.js";
import { formatNumber, gettext, interpolate } from "./i18n.js";

const IMPROVED_QUALITY = "best";

const ui = {
  bar: document.getElementById("triage"),
  sort: document.getElementById("sort-confidence"),
  improve: document.getElementById("improve-flagged"),
  improveDone: document.getElementById("improve-done"),
  error: document.getElementById("triage-error"),
};

/**
 * The filters, by the name the page's address gives them (?flagged=1, ?failed=1): the toggle button, the line said when
 * no card is left to show, the count on the button, which cards it shows, and the items whose cards it will show (a
 * card still to be made: upload.js draws a flagged item's card with the class "flagged", and its status).
 */
const FILTERS = {
  flagged: {
    button: document.getElementById("filter-flagged"),
    empty: document.getElementById("filter-empty"),
    label: gettext("Needs a look (%(count)s)"),
    shows: (row) => row.classList.contains("flagged"),
    showsItem: (item) => Boolean(item.needs_review),
  },
  failed: {
    button: document.getElementById("filter-failed"),
    empty: document.getElementById("filter-failed-empty"),
    label: gettext("Failed (%(count)s)"),
    shows: (row) => ["failed", "rejected"].includes(row.dataset.status),
    showsItem: (item) => item.status === "failed", // a refused file never became an item
  },
};

/** How the page's address says the cards are sorted least confident first: ?sort=confidence. */
const SORT_PARAMETER = "sort";
const SORT_BY_CONFIDENCE = "confidence";

const view = {
  /** the name of the filter on (FILTERS), or null for every card */
  filter: null,
  leastConfidentFirst: false,
  /** the batch's threshold (`review_below`), once a snapshot told it */
  reviewBelow: null,
  /**
   * The cards the filter has shown since it was turned on. A card marked fine, edited or being
   * improved stays in view until the filter is toggled, rather than vanish under the pointer.
   * @type {Set<HTMLElement>}
   */
  keptInView: new Set(),
  /**
   * While the bar says an improvement of this tab's was refused (or lost): the ids of the items made with best then.
   * An improvement seen since (from another tab, or a program) makes the refusal old news: the bar's line goes.
   * @type {Set<string> | null}
   */
  bestWhenRefused: null,
  /**
   * While the bar says this tab's "Looks fine" was refused (or lost): the id of the item it was for. Once the item is
   * seen reviewed (marked fine or edited, in another tab or this one) or gone, the refusal is old news: the line goes.
   * @type {string | null}
   */
  fineRefusedFor: null,
};

/** What setupTriage was given: the cards' list, and item id -> newest item JSON. */
const page = { list: null, items: () => new Map() };

/** An item made again with best while it keeps the cutout it had (its status before is "done" or "failed"). */
const beingImproved = (item) => Boolean(item.result) && ["queued", "processing"].includes(item.status);

const percent = new Intl.NumberFormat(document.documentElement.lang || undefined, { style: "percent" });

/** The threshold under which the server flags a cutout, from the batch JSON. */
export function setReviewBelow(threshold) {
  if (typeof threshold === "number") view.reviewBelow = threshold;
}

/**
 * Short facts for a card's meta line: how sure the model was, and the quality when it is best. A cutout edited by
 * hand says so instead: the model's confidence ("1% confident") is not about the mask it has now.
 */
export function triageFacts(item) {
  const facts = [];
  if (item.status === "done" && item.edited) {
    facts.push(gettext("edited by hand"));
  } else if (item.status === "done" && item.confidence != null) {
    facts.push(interpolate(gettext("%(percent)s confident"), { percent: percent.format(item.confidence) }));
  }
  if (item.status === "done" && item.quality === IMPROVED_QUALITY) facts.push(gettext("best quality")); // made so
  return facts;
}

/** Show on a card whether its cutout needs a look: a badge with text (and a border), "Looks fine". */
export function renderFlag(row, item) {
  const flagged = Boolean(item.needs_review);
  row.classList.toggle("flagged", flagged);
  row.dataset.confidence = String(shownConfidence(item) ?? "");
  const badge = togglePart(row, "needs-look", flagged);
  togglePart(row, "looks-fine", flagged);
  if (!flagged) return;
  const values = { percent: percent.format(item.confidence) };
  badge.title =
    view.reviewBelow == null
      ? interpolate(gettext("The model is %(percent)s sure of this cutout. Click to edit it."), values)
      : interpolate(
          gettext("The model is %(percent)s sure of this cutout (under %(threshold)s is flagged). Click to edit it."),
          { ...values, threshold: percent.format(view.reviewBelow) },
        );
}

/**
 * Wire the cards' triage controls, with one listener on their list (cards come and go by the thousand).
 * @param {HTMLElement} list the cards' list
 * @param {object} handlers
 * @param {(row: HTMLElement) => void} handlers.onEdit opens the editor for a card's item
 * @param {(row: HTMLElement) => object | undefined} handlers.item a card's newest item JSON
 * @param {(item: object) => void} handlers.onReviewed takes the item JSON the server answers
 */
export function wireCards(list, { onEdit, item, onReviewed }) {
  list.addEventListener("click", (event) => {
    const control = event.target.closest(".badge.needs-look, .looks-fine");
    const row = control?.closest(".item");
    if (!row) return;
    if (control.classList.contains("looks-fine")) looksFine(row, control, item(row), onReviewed);
    else onEdit(row);
  });
}

/** A card's "Looks fine" pressed: its item marked reviewed, or the refusal said on the bar. */
async function looksFine(row, button, current, onReviewed) {
  if (!current) return;
  button.disabled = true;
  try {
    onReviewed(await markFine(current));
  } catch (error) {
    showError(error.message);
    view.fineRefusedFor = current.id;
  } finally {
    button.disabled = false;
  }
  // Disabled while its request was out, the button let go of the focus, and a keyboard was back at the top of the
  // page: it takes it back, or, hidden now that the flag is gone, the card's first link does (unless the focus went
  // elsewhere meanwhile).
  if (focusLost()) {
    (button.hidden || !button.isConnected ? cardsFirstLink(row) : button)?.focus();
  }
}

/**
 * "Looks fine": mark the item reviewed as it is (POST /api/v1/items/<id>/review, which sits beside its result).
 * @returns {Promise<object>} the item JSON the server answers
 * @throws {Error} saying why it could not be marked
 */
export async function markFine(item) {
  const failed = (reason) => new Error(interpolate(gettext("Could not mark it fine: %(reason)s"), { reason }));
  let reply;
  try {
    reply = await postForm(item.result.replace(/\/result$/, "/review"), []);
  } catch (error) {
    throw failed(error.message);
  }
  if (reply.status !== 200) throw failed(refusalText(reply));
  return reply.body;
}

/**
 * The flagged item to look at after `current`: the next flagged card in the page's order, else the first one
 * before it; null when no other card needs a look.
 */
export function nextFlagged(current) {
  const { list } = page;
  const items = page.items();
  const ids = [...list.children].map((row) => row.dataset.itemId);
  const at = ids.indexOf(current.id);
  const following = [...ids.slice(at + 1), ...ids.slice(0, Math.max(at, 0))];
  const next = following.find((id) => items.get(id)?.needs_review && items.get(id)?.mask);
  return next ? items.get(next) : null;
}

/**
 * Where `current` stands among the cards that need a look, in the page's order: {at, count}. The ones `walked`
 * (looked at since the editor opened) keep their places, so a walk counts up, "1 of 17", "2 of 17", …, rather than
 * staying at "1 of" a shrinking count.
 * @param {object} current item JSON
 * @param {Set<string>} walked ids of the items the editor has shown in this walk
 */
export function flaggedPosition(current, walked) {
  const { list } = page;
  const items = page.items();
  const flagged = (id) => items.get(id)?.needs_review && items.get(id)?.mask;
  const ids = [...list.children]
    .map((row) => row.dataset.itemId)
    .filter((id) => id === current.id || walked.has(id) || flagged(id));
  return { at: ids.indexOf(current.id) + 1, count: ids.length };
}

/**
 * Wire the bar's controls.
 * @param {object} handlers
 * @param {string} handlers.apiBatches /api/v1/batches
 * @param {HTMLElement} handlers.list the cards' list
 * @param {() => string | null} handlers.batchId the batch being shown, once it exists
 * @param {() => Map<string, object>} handlers.items item id -> newest item JSON
 * @param {(batch: object) => void} handlers.onImproved takes the batch JSON the improve call answers
 * @param {() => void} handlers.onViewChange shows the cards again after the filter or the order changed
 */
export function setupTriage({ apiBatches, list, batchId, items, onImproved, onViewChange }) {
  Object.assign(page, { list, items });
  // The batch list links a batch's flagged (or failed) count here with ?flagged=1 (?failed=1): open with only those.
  const asked = new URLSearchParams(location.search);
  view.filter = Object.keys(FILTERS).find((name) => asked.has(name)) ?? null;
  // The order too (?sort=confidence): the box left as a reload found it (unticked, or ticked by the browser's
  // restoring of a form) did not say the cards' order.
  view.leastConfidentFirst = ui.sort.checked = asked.get(SORT_PARAMETER) === SORT_BY_CONFIDENCE;
  for (const [name, { button }] of Object.entries(FILTERS)) {
    button.addEventListener("click", () => {
      view.filter = view.filter === name ? null : name; // one filter at a time: another one pressed takes over
      view.keptInView.clear();
      showViewInAddress();
      onViewChange();
    });
  }
  ui.sort.addEventListener("change", () => {
    view.leastConfidentFirst = ui.sort.checked;
    showViewInAddress();
    onViewChange();
  });
  ui.improve.addEventListener("click", async () => {
    const id = batchId();
    if (!id) return;
    ui.improve.disabled = true;
    showError(null);
    const refused = (reason) => {
      showError(interpolate(gettext("Could not improve: %(reason)s"), { reason }));
      const best = [...items().values()].filter((item) => item.quality === IMPROVED_QUALITY && !beingImproved(item));
      view.bestWhenRefused = new Set(best.map((item) => item.id));
    };
    try {
      const reply = await postForm(`${apiBatches}/${id}/improve`, [["quality", IMPROVED_QUALITY]]);
      if (reply.status === 202) onImproved(reply.body);
      else refused(refusalText(reply));
    } catch (error) {
      refused(error.message);
    }
    onViewChange();
    // Disabled while its request was out (and after it, with none left to improve), the button let go of the focus,
    // and a keyboard was back at the top of the page: it takes it back, else the bar's first control that can.
    if (focusLost()) {
      const controls = [ui.improve, FILTERS.flagged.button, FILTERS.failed.button, ui.sort];
      controls.find((control) => !control.disabled)?.focus();
    }
  });
}

/** The filter and the order in the page's address, so that a reload or another language (the footer's picker) keeps
 * them as they are. */
function showViewInAddress() {
  const address = new URL(location.href);
  for (const name of [...Object.keys(FILTERS), SORT_PARAMETER]) address.searchParams.delete(name);
  if (view.filter) address.searchParams.set(view.filter, "1");
  if (view.leastConfidentFirst) address.searchParams.set(SORT_PARAMETER, SORT_BY_CONFIDENCE);
  history.replaceState(history.state, "", address);
}

/**
 * The bar and the cards after any change: the counts, the buttons, which cards show, their order.
 * @param {boolean} hasBatch whether the page follows a batch yet
 * @param {number} failed how many cards failed or were refused, those still to be made included
 */
export function updateTriage(hasBatch, failed) {
  const { list } = page;
  const items = page.items();
  const flagged = [...items.values()].filter((item) => item.needs_review).length;
  // Another best run would give the same cutout: only those not made with best yet are run again (as the server does).
  const improvable = [...items.values()].filter((item) => item.needs_review && item.quality !== IMPROVED_QUALITY).length;
  const anyDone = [...items.values()].some((item) => item.status === "done");
  // Shown once there is something to filter, and while a filter is on (to turn it off, whatever is left).
  ui.bar.hidden = !((hasBatch && anyDone) || failed > 0 || (view.filter !== null && items.size > 0));
  const counts = { flagged, failed };
  for (const [name, { button, label }] of Object.entries(FILTERS)) {
    button.textContent = interpolate(label, { count: formatNumber(counts[name]) });
    button.setAttribute("aria-pressed", String(view.filter === name));
    button.disabled = !counts[name] && view.filter !== name;
  }
  ui.improve.textContent = interpolate(gettext("Improve flagged with best (%(count)s)"), {
    count: formatNumber(improvable),
  });
  ui.improve.disabled = !improvable;
  // While cutouts are being made again with best, the outcome is not known yet: "already made with best" waits.
  const improving = [...items.values()].some(beingImproved);
  ui.improveDone.hidden = !flagged || improvable > 0 || improving;
  // Another tab's improvement (pressed at the same time, which had this tab's refused as "being made"), or one that
  // finished since: a "Could not improve" kept under the bar would say the cutouts were not improved.
  const improvedSince = (item) =>
    beingImproved(item) || (item.quality === IMPROVED_QUALITY && !view.bestWhenRefused.has(item.id));
  if (view.bestWhenRefused && [...items.values()].some(improvedSince)) showError(null);
  // The same for a "Could not mark it fine": another tab marked the item fine or edited it, or took it away.
  const refusedItem = view.fineRefusedFor && items.get(view.fineRefusedFor);
  if (view.fineRefusedFor && (!refusedItem || refusedItem.reviewed)) showError(null);
  let shown = 0;
  for (const row of list.children) {
    applyFilter(row);
    if (!row.hidden) shown += 1;
  }
  // Cards counted that the page has still to make (upload.js) are not "nothing".
  for (const [name, { empty }] of Object.entries(FILTERS)) {
    empty.hidden = view.filter !== name || shown > 0 || counts[name] > 0;
  }
  orderCards(list);
}

/** Show or hide a card as the filter on says (a card it has shown stays until it is toggled: view.keptInView). */
export function applyFilter(row) {
  const filter = FILTERS[view.filter];
  if (filter?.shows(row)) view.keptInView.add(row);
  row.hidden = Boolean(filter) && !view.keptInView.has(row);
}

/** Whether the filter on (if any) will show the card of `item`. */
export function filterShowsItem(item) {
  return FILTERS[view.filter]?.showsItem(item) ?? true;
}

/** Least confident first (cards without a confidence yet last), else as uploaded; moves only what must move. */
function orderCards(list) {
  const rows = [...list.children];
  // Each card's place read once: read at each comparison, sorting them took longer than anything else of a redraw.
  const places = new Map(rows.map((row) => [row, cardPlace(row)]));
  const inOrder = (a, b) => comparePlaces(places.get(a), places.get(b));
  if (rows.every((row, index) => !index || inOrder(rows[index - 1], row) <= 0)) return; // as they mostly are
  list.append(...rows.sort(inOrder));
}

/** The confidence an item's card is sorted by: its cutout's, once done; null before (sorted after any). */
function shownConfidence(item) {
  return item.status === "done" && item.confidence != null ? item.confidence : null;
}

/** Where a card of upload place `order` goes in the list's order: a key for comparePlaces. */
function place(confidence, order) {
  return [view.leastConfidentFirst ? (confidence ?? 2) : 0, order];
}

/** A card's place in the list's order (comparePlaces). */
export function cardPlace(row) {
  const confidence = row.dataset.confidence ? Number(row.dataset.confidence) : null;
  return place(confidence, Number(row.dataset.order));
}

/** The place in the list's order (comparePlaces) of the card `item` will have, made at upload place `order`. */
export function itemPlace(item, order) {
  return place(shownConfidence(item), order);
}

/** Negative if a card of place `one` comes before one of place `other`, positive if after. */
export function comparePlaces(one, other) {
  return one[0] - other[0] || one[1] - other[1];
}

/** How the list is shown, its filter and its order, as one value: it differs once either changed. */
export function listView() {
  return `${view.filter} ${view.leastConfidentFirst}`;
}

/** The bar's line of error (an improvement's, a "Looks fine"'s), or none. */
function showError(text) {
  ui.error.textContent = text ?? "";
  ui.error.hidden = !text;
  view.bestWhenRefused = null; // set again by an improvement's refusal, just said
  view.fineRefusedFor = null; // set again by a "Looks fine"'s refusal, just said
}
