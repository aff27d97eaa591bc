// The language picker: a choice made with the mouse or a finger applies at once (the button is there without
// JavaScript). One made with the keyboard waits for the button, which then shows: the arrow keys on a closed select
// change its value at each press, and the page reloaded in the next language before the wanted one was reached.
const picker = document.getElementById("language-picker");
if (picker) {
  const select = picker.querySelector("#language-select");
  const apply = picker.querySelector("#language-apply");
  apply.hidden = true;
  // Back to the page's address as it is now, not as it was served: the upload page becomes its batch's page once the
  // batch exists (history.replaceState), and a language chosen then opened an empty upload page instead of the batch.
  const next = picker.querySelector('input[name="next"]');
  const keepAddress = () => {
    next.value = location.pathname + location.search;
  };
  picker.addEventListener("submit", keepAddress);
  let byKeyboard = false;
  select.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") byKeyboard = true; // Tab leaves it; any other key may choose
  });
  select.addEventListener("blur", () => {
    byKeyboard = false;
  });
  select.addEventListener("change", () => {
    if (byKeyboard) {
      apply.hidden = false;
    } else {
      keepAddress(); // submit() fires no submit event
      picker.submit();
    }
  });
}

// The browser's time zone, for the times the pages show (bgsite/time_zones.py): kept in a cookie, read from the
// next page on (this one was written in UTC if the cookie was missing or stale).
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
if (zone && !document.cookie.split("; ").includes(`time_zone=${zone}`)) {
  const secure = location.protocol === "https:" ? "; secure" : ""; // as the server's cookies under SECURE_COOKIES
  document.cookie = `time_zone=${zone}; path=/; max-age=${365 * 24 * 3600}; samesite=lax${secure}`;
}
