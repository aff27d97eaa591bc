/**
 * The list of batches: Delete on a row deletes that batch, after a question, and takes the row away.
 */

import { deleteBatchAfterAsking } from "./deleting.js";

const notice = document.getElementById("notice");

for (const button of document.querySelectorAll("button.batch-delete")) {
  button.addEventListener("click", async () => {
    const row = button.closest("tr");
    button.disabled = true;
    const refusal = await deleteBatchAfterAsking(button.dataset.url, Number(button.dataset.images));
    const neighbour = row.nextElementSibling ?? row.previousElementSibling;
    if (refusal === null) row.remove();
    notice.textContent = refusal || "";
    notice.hidden = !refusal;
    button.disabled = false;
    // Its row gone, the button took the focus with it, and a keyboard was back at the top of the page: the Delete of
    // the row in its place takes it (else the page's content).
    if (!row.isConnected) (neighbour?.querySelector("button.batch-delete") ?? document.getElementById("main")).focus();
  });
}
