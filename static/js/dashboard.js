/**
 * The account page: copy the new API key, and confirm before revoking a key.
 */

import { gettext } from "./i18n.js";

/** Select the text of an element, for copying by hand when the clipboard API is unavailable. */
function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const source = document.querySelector(button.dataset.copy);
    try {
      // Only available on https:// or localhost pages.
      await navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = gettext("Copied");
    } catch {
      selectText(source);
      button.textContent = document.execCommand("copy") ? gettext("Copied") : gettext("Press Ctrl+C to copy");
    }
  });
}

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
