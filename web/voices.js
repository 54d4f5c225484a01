// Brand voices in a side panel: listed, added and deleted; the generation
// form's voice select follows them.
import { request } from "./api.js";
import { $, el, submitting } from "./dom.js";

let voices = [];
const selects = new Set();

export async function loadVoices() {
  try {
    voices = await request("GET", "/voices");
  } catch (failure) {
    $("#voices-state").textContent = failure.message;
    return;
  }
  $("#voices-state").textContent = voices.length ? "" : "No brand voices yet.";
  $("#voices").replaceChildren(...voices.map(renderVoice));
  selects.forEach(fill);
}

export function voiceOptions(select) {
  selects.add(select);
  fill(select);
}

function fill(select) {
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, "—"),
    ...voices.map((voice) => el("option", { value: voice._id }, voice.name)));
  select.value = chosen;
}

function renderVoice(voice) {
  return el("li", { class: "card voice", "data-voice": voice._id },
    el("div", { class: "row" }, el("h3", {}, voice.name),
      el("button", { type: "button", class: "link danger", onclick: () => remove(voice) },
        "Delete")),
    el("p", { class: "muted" }, voice.description),
    el("p", { class: "muted" }, `${voice.samples.length} sample text(s)`));
}

async function remove(voice) {
  if (!confirm(`Delete the voice "${voice.name}"?`)) return;
  try {
    await request("DELETE", `/voices/${voice._id}`);
  } catch (failure) {
    alert(failure.message);
  }
  await loadVoices();
}

export function wireVoiceForm() {
  const form = $("#voice-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async ({ name, description, ...samples }) => {
      await request("POST", "/voices", {
        name, description, samples: Object.values(samples).filter((text) => text.trim()),
      });
      form.reset();
      await loadVoices();
    });
  });
}
