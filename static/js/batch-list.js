/**
 * The list of batches: Delete on a row deletes that batch, after a question, and takes the row away.
 */

import { deleteBatchAfterAsking } from "./deleting.js";

const notice = document.getElementById("notice");

for (const button of document.querySelectorAll("button.batch-delete")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    const refusal = await deleteBatchAfterAsking(button.dataset.url, Number(button.dataset.images));
    if (refusal === null) button.closest("tr").remove();
    notice.textContent = refusal || "";
    notice.hidden = !refusal;
    button.disabled = false;
  });
}
