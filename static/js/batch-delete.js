/**
 * Deleting a batch, from its page or from the list of batches: the question asked first, then
 * DELETE /api/v1/batches/<id>.
 */

import { refusalText, sendForm } from "./http.js";
import { formatNumber, gettext, interpolate } from "./i18n.js";

/**
 * Ask, then delete. Resolves to null when the batch is gone (deleted now, or already), to
 * false when the question was answered no, else to the reason it could not be deleted.
 * @param {string} url the batch's API address
 * @param {number} images how many images it holds, for the question
 * @returns {Promise<null | false | string>}
 */
export async function deleteBatchAfterAsking(url, images) {
  const question = interpolate(
    gettext("Delete this batch? Its %(count)s images, their cutouts and any hand edits are deleted for good."),
    { count: formatNumber(images) },
  );
  if (!confirm(question)) return false;
  try {
    const reply = await sendForm("DELETE", url);
    if (reply.status === 204 || reply.status === 404) return null;
    return interpolate(gettext("Could not delete the batch: %(reason)s"), { reason: refusalText(reply) });
  } catch (error) {
    return interpolate(gettext("Could not delete the batch: %(reason)s"), { reason: error.message });
  }
}
