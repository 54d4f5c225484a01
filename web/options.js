// Generation options beside the prompt. Their names, sets and limits are the
// API's (components.schemas.Options of /openapi.json); each content type's
// last choices are remembered in localStorage.
import { apiDocument } from "./content-types.js";
import { $, el } from "./dom.js";
import { voiceOptions } from "./voices.js";

const schema = apiDocument.then((document) => document.components.schemas.Options.properties);
const storageKey = (type) => `options:${type}`;
const wholeNumbers = ({ minimum, maximum }) =>
  Array.from({ length: maximum - minimum + 1 }, (_, index) => String(minimum + index));

export async function buildOptions() {
  const properties = await schema;
  const box = $("#options");
  const tones = el("datalist", { id: "tones" },
    ...properties.tone["x-named"].map((tone) => el("option", { value: tone })));
  // Each field carries its schema type, which says how collectOptions reads it.
  const choice = (name, values, label) => el("label", { "data-option": name }, label,
    el("select", { name, "data-type": properties[name].type }, el("option", { value: "" }, "—"),
      ...values.map((value) => el("option", { value }, value))));
  const text = (name, label, extra = {}) => el("label", { "data-option": name }, label,
    el("input", { name, "data-type": properties[name].type,
      maxlength: String(properties[name].maxLength ?? ""), ...extra }));
  const platforms = properties.platform["x-limits"];
  box.replaceChildren(tones,
    text("tone", "Tone", { list: "tones", placeholder: "friendly, or describe it" }),
    choice("length", properties.length.enum, "Length"),
    text("language", "Language", { placeholder: "English" }),
    text("audience", "Audience"),
    text("keywords", "Keywords (comma-separated)"),
    choice("variants", wholeNumbers(properties.variants), "Variants"),
    el("label", { "data-option": "voiceId" }, "Brand voice",
      el("select", { name: "voiceId" }, el("option", { value: "" }, "—"))),
    text("productName", "Product name"),
    text("features", "Features (comma-separated)"),
    el("label", { "data-option": "platform" }, "Platform",
      el("select", { name: "platform" }, el("option", { value: "" }, "—"),
        ...Object.entries(platforms).map(([value, { name, characters }]) =>
          el("option", { value }, `${name} (${characters.toLocaleString("en")} characters)`)))));
  box.dataset.words = JSON.stringify(properties.length["x-words"]);
  voiceOptions(box.querySelector("[name=voiceId]"));
  await showFor(currentType());
}

export function platformLimits() {
  return schema.then((properties) => properties.platform["x-limits"]);
}

function currentType() {
  return $("#generate-form [name=contentType]").value;
}

// Only the options a content type takes are shown, with its remembered values.
export async function showFor(type) {
  const properties = await schema;
  const box = $("#options");
  for (const label of box.querySelectorAll("[data-option]")) {
    const only = properties[label.dataset.option]?.["x-content-types"];
    label.hidden = Boolean(only) && !only.includes(type);
  }
  const saved = JSON.parse(localStorage.getItem(storageKey(type)) || "{}");
  for (const field of box.querySelectorAll("[name]")) {
    const value = saved[field.name];
    field.value = Array.isArray(value) ? value.join(", ") : value ?? "";
  }
}

// The options shown and filled in, as the API takes them; remembered for the type.
export function collectOptions(type) {
  const chosen = {};
  for (const field of $("#options").querySelectorAll("[name]")) {
    if (field.closest("[data-option]").hidden || !field.value.trim()) continue;
    if (field.dataset.type === "array") {
      chosen[field.name] = field.value.split(",").map((item) => item.trim()).filter(Boolean);
    } else if (field.dataset.type === "integer") {
      chosen[field.name] = Number(field.value);
    } else {
      chosen[field.name] = field.value.trim();
    }
  }
  localStorage.setItem(storageKey(type), JSON.stringify(chosen));
  return chosen;
}
