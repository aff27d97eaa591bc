/**
 * Deleting on the pages (a batch from its page or the list of batches, a photo from its card):
 * the question asked first, then the DELETE request.
 */

import { refusalText, sendForm } from "./http.js";
import { formatNumber, gettext, interpolate, ngettext } from "./i18n.js";

/**
 * Ask `question`, then DELETE `url`. Resolves to null when the object is gone (deleted now, or
 * already), to false when the question was answered no, else to `couldNot` (a translated text
 * with %(reason)s) saying why it could not be deleted.
 * @param {string} url
 * @param {string} question
 * @param {string} couldNot
 * @returns {Promise<null | false | string>}
 */
export async function deleteAfterAsking(url, question, couldNot) {
  if (!confirm(question)) return false;
  try {
    const reply = await sendForm("DELETE", url);
    if (reply.status === 204 || reply.status === 404) return null;
    return interpolate(couldNot, { reason: refusalText(reply) });
  } catch (error) {
    return interpolate(couldNot, { reason: error.message });
  }
}

/**
 * A batch, asked about by the number of images it holds.
 * @param {string} url the batch's API address
 * @param {number} images
 */
export function deleteBatchAfterAsking(url, images) {
  // A batch whose photos were all removed asked about "its 0 images, their cutouts".
  const question =
    images === 0
      ? gettext("Delete this batch? It has no images.")
      : interpolate(
          ngettext(
            "Delete this batch? Its %(count)s image, its cutout and any hand edits are deleted for good.",
            "Delete this batch? Its %(count)s images, their cutouts and any hand edits are deleted for good.",
            images,
          ),
          { count: formatNumber(images) },
        );
  return deleteAfterAsking(url, question, gettext("Could not delete the batch: %(reason)s"));
}
