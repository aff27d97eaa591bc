/**
 * The hand editor's walk through the cutouts that need a look (triage.js tells which): where the one shown stands
 * among them ("Needs a look: 3 of 17"), "Looks fine" and "Save and next"; the count follows the page's cards while
 * the editor is open.
 */

import { session, ui } from "./editor-state.js";
import { formatNumber, gettext, interpolate } from "./i18n.js";

const { dialog, position, saveButton, fineButton, saveNextButton } = ui;

/**
 * Where the cutout stands among those that need a look, "Looks fine" and "Save and next", for a cutout that needs a
 * look; "next" only when another one does too.
 */
export function showReviewButtons() {
  session.inWalk = Boolean(session.review && session.item.needs_review);
  if (session.inWalk) session.walked.add(session.item.id);
  fineButton.hidden = !session.inWalk;
  fineButton.disabled = false;
  saveNextButton.disabled = true; // until the cutout is loaded, as Save
  showWalkPlace();
}

/**
 * The walk's count and its "next" buttons, from the page's cards as they are now: cutouts marked fine or made again
 * (in another tab, by a program) or removed since the cutout was opened leave the count, new flagged ones join it.
 */
function showWalkPlace() {
  const place = session.inWalk ? session.review.position(session.item, session.walked) : null;
  // at is 0 once the cutout shown is itself gone (removed elsewhere): no place to say.
  const counted = place?.at && { at: formatNumber(place.at), count: formatNumber(place.count) };
  position.hidden = !counted;
  position.textContent = counted ? interpolate(gettext("Needs a look: %(at)s of %(count)s"), counted) : "";
  const next = session.inWalk ? session.review.next(session.item) : null;
  fineButton.textContent = next ? gettext("Looks fine, next") : gettext("Looks fine");
  saveNextButton.hidden = !next;
  saveButton.classList.toggle("primary", !next); // the walk's own button is the one to press
}

/** The page's cards changed (an item's news, a removal): an open walk's count follows them. */
export function followWalk() {
  if (dialog.open && session.inWalk) showWalkPlace();
}
