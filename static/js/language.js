// The language picker: choosing a language applies it at once (the button is there without JavaScript).
const picker = document.getElementById("language-picker");
if (picker) {
  picker.querySelector("#language-apply").hidden = true;
  picker.querySelector("#language-select").addEventListener("change", () => picker.submit());
}
