/**
 * What a card's controls do, with one listener on the list for every card (cards come and go by the thousand): its
 * pictures and "Compare before/after" open the comparison, "Edit" and "needs a look" the editor (walking the flagged
 * cutouts), "Looks fine" marks it reviewed (triage.js), "Remove" deletes its item, and a picture the browser cannot
 * show is drawn again as a placeholder.
 */

import { backdropColor } from "./batch-options.js";
import { state, ui } from "./batch-page.js";
import { dropItem, noteEditorFailure, takeItem } from "./card-items.js";
import { releaseDropped, renderItem, showError } from "./cards.js";
import { openCompare } from "./compare.js";
import { deleteAfterAsking } from "./deleting.js";
import { openEditor } from "./editor.js";
import { cardsFirstLink } from "./focus.js";
import { gettext, interpolate } from "./i18n.js";
import { updateSummary } from "./summary.js";
import { flaggedPosition, markFine, nextFlagged, wireCards } from "./triage.js";

/** How the editor goes from one flagged cutout to the next (openEditor's `review`): the same for every card. */
const flaggedWalk = {
  next: nextFlagged,
  position: flaggedPosition,
  looksFine: markFine,
};

/** What the editor tells the page (openEditor's `news`): a saved cutout, and a failed request, on the cards. */
const editorNews = {
  saved: takeItem,
  failed: (item, note, untilCleared) => noteEditorFailure(item.id, note, untilCleared),
  failureCleared: (item) => noteEditorFailure(item.id),
};

/** The newest item JSON of a card, if it is an item's. */
const cardItem = (row) => state.items.get(row.dataset.itemId);

function compare(row) {
  const item = cardItem(row);
  if (item?.result) openCompare(item, backdropColor(state.batchOptions));
}

function edit(row) {
  const item = cardItem(row);
  if (item?.mask) openEditor(item, backdropColor(state.batchOptions), editorNews, flaggedWalk);
  else compare(row); // no kept mask to edit (an animation): the cutout itself, to judge
}

const ACTIONS = {
  ".thumbs": compare,
  ".compare-open": compare,
  ".edit-open": edit,
  ".item-remove": removeItem,
};

/** Wire the controls of every card `ui.list` holds or will hold. */
export function wireCardActions() {
  ui.list.addEventListener("click", (event) => {
    for (const [selector, action] of Object.entries(ACTIONS)) {
      const row = event.target.closest(selector)?.closest(".item");
      if (row) return action(row);
    }
  });
  // Browsers cannot show every format we accept (HEIC, TIFF), nor non-images. A dropped photo's row shown already is
  // rendered again now (renderOriginal: "…", then the server's thumbnail once it is processed), not at the item's next
  // event. An image's "error" does not bubble: the list hears it on its way down.
  ui.list.addEventListener(
    "error",
    (event) => {
      const row = event.target.closest?.(".item");
      if (!row || event.target.tagName !== "IMG") return;
      event.target.closest("figure").classList.add("no-preview");
      const item = cardItem(row);
      if (item) renderItem(row, item);
    },
    true,
  );
  wireCards(ui.list, { onEdit: edit, item: cardItem, onReviewed: takeItem });
}

/** After a confirmation, one item goes (DELETE /api/v1/items/<id>, the address its links start with). */
async function removeItem(row) {
  const item = cardItem(row);
  if (!item) {
    // A file refused before it became an item: nothing of it is stored, only its card goes, unasked.
    if (row.dataset.status === "rejected") takeCardAway(row, shownCardBeside(row));
    return;
  }
  const button = row.querySelector(".item-remove");
  button.disabled = true;
  const question = interpolate(gettext("Remove %(name)s from this batch? Its upload and cutout are deleted for good."), {
    name: row.dataset.filename,
  });
  const itemUrl = item.original.replace(/\/original$/, "");
  const neighbour = shownCardBeside(row); // now: the websocket's news of the removal may take the row out first
  const refusal = await deleteAfterAsking(itemUrl, question, gettext("Could not remove it: %(reason)s"));
  if (refusal === null) {
    dropItem(item.id);
    takeCardAway(row, neighbour);
    return;
  }
  if (refusal) showError(row, refusal);
  button.disabled = false;
  button.focus(); // disabled while the question was asked, it had let go of the focus
}

/** After a card was removed: the summary, and the keyboard among the cards, on the one that took its place. */
function takeCardAway(row, neighbour) {
  releaseDropped(row);
  row.remove();
  updateSummary();
  const control = neighbour?.isConnected && cardsFirstLink(neighbour);
  (control || ui.input).focus();
}

/** The card shown after `row`, else the one before it (a filter hides some), else null. */
function shownCardBeside(row) {
  for (const step of ["nextElementSibling", "previousElementSibling"]) {
    let card = row[step];
    while (card?.hidden) card = card[step];
    if (card) return card;
  }
  return null;
}
