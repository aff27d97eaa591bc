/**
 * The list of batches: Delete on a row deletes that batch, after a question, and takes the row away.
 */

import { deleteBatchAfterAsking } from "./deleting.js";
import { focusLost } from "./focus.js";

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
    // Disabled while its request was out, or its row gone, the button let go of the focus, and a keyboard was back at
    // the top of the page: it takes it back, or the Delete of the row in its place does (else the page's content).
    if (row.isConnected) {
      if (focusLost()) button.focus();
    } else (neighbour?.querySelector("button.batch-delete") ?? document.getElementById("main")).focus();
  });
}
