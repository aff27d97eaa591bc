// The language picker: choosing a language applies it at once (the button is there without JavaScript).
const picker = document.getElementById("language-picker");
if (picker) {
  picker.querySelector("#language-apply").hidden = true;
  picker.querySelector("#language-select").addEventListener("change", () => picker.submit());
}

// The browser's time zone, for the times the pages show (bgsite/time_zones.py): kept in a cookie, read from the
// next page on (this one was written in UTC if the cookie was missing or stale).
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
if (zone && !document.cookie.split("; ").includes(`time_zone=${zone}`)) {
  document.cookie = `time_zone=${zone}; path=/; max-age=${365 * 24 * 3600}; samesite=lax`;
}
