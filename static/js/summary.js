/**
 * The batch page's summary of all its cards: the count (shown, and said in the live region every 10 s at most), the
 * progress bar, the zip's link, and the page's notice; the re-run's panel and the triage bar follow each count.
 */

import { FINISHED, state, ui } from "./batch-page.js";
import { showProgress } from "./batch-name.js";
import { followWalk } from "./editor-walk.js";
import { formatNumber, gettext, interpolate, ngettext } from "./i18n.js";
import { updateRerun } from "./rerun.js";
import { updateTriage } from "./triage.js";
import { waitingIds } from "./waiting-cards.js";

/**
 * Each card's status and whether it holds a cutout (done, or being improved): the cards made, then those still to be
 * made (makeWaitingCards), which are counted at once.
 * @returns {{status: string, hasCutout: boolean}[]}
 */
export function cardStates() {
  const made = [...ui.list.children].map((row) => ({
    status: row.dataset.status,
    hasCutout: row.dataset.hasCutout === "true",
  }));
  const waiting = [...waitingIds()]
    .map((id) => state.items.get(id))
    .filter(Boolean)
    .map((item) => ({ status: item.status, hasCutout: Boolean(item.result) }));
  return [...made, ...waiting];
}

export function updateSummary() {
  const cards = cardStates();
  const count = (...statuses) => cards.filter((card) => statuses.includes(card.status)).length;
  const done = count("done");
  const failed = count("failed", "rejected");
  const zipped = cards.filter((card) => card.hasCutout).length;
  const uploading = count("pending", "uploading");

  let text = cards.length
    ? [
        interpolate(ngettext("%(done)s of %(total)s done", "%(done)s of %(total)s done", done), {
          done: formatNumber(done),
          total: formatNumber(cards.length),
        }),
        interpolate(ngettext("%(count)s failed", "%(count)s failed", failed), { count: formatNumber(failed) }),
      ].join(", ")
    : gettext("No images yet.");
  if (uploading) {
    const still = ngettext("%(count)s still uploading", "%(count)s still uploading", uploading);
    text += " · " + interpolate(still, { count: formatNumber(uploading) });
  }
  // Cards being improved keep their cutout but are not done: said, or "done" would seem to go backwards.
  const improving = cards.filter((card) => card.hasCutout && !FINISHED.includes(card.status)).length;
  if (improving) {
    const again = ngettext("%(count)s being improved", "%(count)s being improved", improving);
    text += " · " + interpolate(again, { count: formatNumber(improving) });
  }
  ui.overall.textContent = text;
  ui.overallBar.max = cards.length || 1;
  ui.overallBar.value = done + failed;

  const unfinished = cards.length - done - failed;
  if (state.batch) showProgress(done + failed, cards.length);
  updateZipLink(zipped, unfinished);
  ui.deleteBatch.disabled = Boolean(uploading) || state.deleting; // files on their way up would be refused
  updateRerun();
  updateTriage(Boolean(state.batch), failed);
  followWalk(); // after the cards are ordered: the walk's count reads their order
  if (cards.length || spoken.text) sayCount(text, unfinished === 0); // not the empty page's "No images yet."
}

/** The zip's link: `zipped` cutouts in it; while `unfinished` cards are still on their way, it says it holds those
 * done so far. */
function updateZipLink(zipped, unfinished) {
  ui.zip.textContent = unfinished && zipped
    ? interpolate(ngettext("Download the %(count)s done so far (zip)", "Download the %(count)s done so far (zip)", zipped), {
        count: formatNumber(zipped),
      })
    : gettext("Download all (zip)");
  if (state.batch && zipped > 0) {
    ui.zip.href = state.batch.zip;
    ui.zip.removeAttribute("aria-disabled");
  } else {
    ui.zip.removeAttribute("href");
    ui.zip.setAttribute("aria-disabled", "true");
  }
}

/** How often at most the count is said while the batch goes on; said at each change, a batch of hundreds of photos
 * queued up thousands of announcements, and a screen reader read out old counts long after. */
const SAY_EVERY_MS = 10_000;
const spoken = { text: "", at: -Infinity, timer: 0 };

/**
 * Say the count in the live region: now if the batch has stopped (nothing on its way) or the last words are old
 * enough, else once SAY_EVERY_MS have passed since them, with the newest count then. The same words are not said
 * twice.
 */
function sayCount(text, stopped) {
  clearTimeout(spoken.timer);
  if (text === spoken.text) return;
  const wait = stopped ? 0 : spoken.at + SAY_EVERY_MS - performance.now();
  if (wait > 0) {
    spoken.timer = setTimeout(() => sayCount(text, true), wait);
    return;
  }
  ui.overallSaid.textContent = spoken.text = text;
  spoken.at = performance.now();
}

export function showNotice(text) {
  // The same words again are not written again: a live region reads them out each time (at every reconnection try).
  if (ui.notice.textContent !== (text ?? "")) ui.notice.textContent = text ?? "";
  ui.notice.hidden = !text;
}
