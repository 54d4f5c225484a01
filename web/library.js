// The library: the user's saved items, searched, edited and deleted in
// place, rewritten by the AI, exported and copied.
import { download, request } from "./api.js";
import { apiDocument, typeOptions } from "./content-types.js";
import { $, el, markdown, submitting } from "./dom.js";
import { loadUsage, showQueued } from "./generation.js";

// The rewrite instructions and the export formats are the API's.
const instructions = apiDocument.then((document) => document.paths["/content/{id}/rewrite"]
  .post.requestBody.content["application/json"].schema.properties.instruction.enum);
const formats = apiDocument.then((document) => document.paths["/content/{id}/export"]
  .get.parameters.find(({ name }) => name === "format").schema.enum);

export async function loadLibrary(search) {
  $("#library-state").textContent = "Loading…";
  try {
    const query = search ? `?search=${encodeURIComponent(search)}` : "";
    const items = await request("GET", `/content${query}`);
    $("#library").replaceChildren(...items.map(renderItem));
    $("#library-state").textContent = items.length ? "" :
      search ? "Nothing matches your search." : "Your library is empty.";
  } catch (failure) {
    $("#library-state").textContent = failure.message;
  }
}

function renderItem(item) {
  const copyButton = el("button",
    { type: "button", class: "link", onclick: (event) => copy(item, event.target) }, "Copy");
  const card = el("li", { class: "card item", "data-item": item._id },
    el("div", { class: "row" },
      el("h3", {}, item.title),
      el("span", { class: "badge" }, item.type)),
    markdown(item.body),
    el("div", { class: "row actions" },
      el("button", { type: "button", class: "link", onclick: () => card.replaceWith(editForm(item)) },
        "Edit"),
      el("button", { type: "button", class: "link", onclick: () => card.append(rewriteForm(item)) },
        "Rewrite"),
      copyButton,
      el("button", { type: "button", class: "link danger", onclick: () => remove(item, card) },
        "Delete")));
  formats.then((list) => copyButton.before(...list.map((format) =>
    el("button", { type: "button", class: "link", onclick: () => exportAs(item, format) },
      `Export .${format}`))), () => {});
  return card;
}

// A rewrite is a job: it appears among the generations, where its result
// can replace this item or be saved beside it.
function rewriteForm(item) {
  const instruction = el("select", { name: "instruction" });
  instructions.then((list) => instruction.replaceChildren(
    ...list.map((name) => el("option", { value: name }, name))), () => {});
  const form = el("form", { class: "inline rewrite" },
    el("label", {}, "Rewrite ", instruction),
    el("label", {}, "Language (to translate) ", el("input", { name: "language" })),
    el("label", {}, "Note (optional) ", el("input", { name: "note" })),
    el("p", { class: "error", role: "alert" }),
    el("button", { type: "submit" }, "Queue the rewrite"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async (fields) => {
      const body = Object.fromEntries(Object.entries(fields).filter(([, value]) => value.trim()));
      const queued = await request("POST", `/content/${item._id}/rewrite`, body);
      showQueued({ prompt: item.title, contentType: item.type,
        rewrite: { contentId: item._id, ...body } }, queued);
      form.remove();
      loadUsage();
    });
  });
  return form;
}

async function exportAs(item, format) {
  try {
    const { blob, name } = await download(`/content/${item._id}/export?format=${format}`);
    const link = el("a", { href: URL.createObjectURL(blob), download: name });
    link.click();
    URL.revokeObjectURL(link.href);
  } catch (failure) {
    alert(failure.message);
  }
}

async function copy(item, button) {
  try {
    await navigator.clipboard.writeText(item.body);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
}

function editForm(item) {
  const type = el("select", { name: "type" });
  typeOptions(type, item.type);
  const title = el("input", { name: "title", required: "" });
  title.value = item.title;
  const body = el("textarea", { name: "body", rows: "5", required: "" });
  body.value = item.body;
  const form = el("form", { class: "card item" },
    el("label", {}, "Title ", title), el("label", {}, "Type ", type),
    el("label", {}, "Body ", body), el("p", { class: "error", role: "alert" }),
    el("div", { class: "row actions" },
      el("button", { type: "submit" }, "Save changes"),
      el("button", { type: "button", class: "link", onclick: () => form.replaceWith(renderItem(item)) },
        "Cancel")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async (fields) => {
      form.replaceWith(renderItem(await request("PUT", `/content/${item._id}`, fields)));
    });
  });
  return form;
}

async function remove(item, card) {
  if (!confirm(`Delete "${item.title}"? This cannot be undone.`)) return;
  try {
    await request("DELETE", `/content/${item._id}`);
    card.remove();
  } catch (failure) {
    alert(failure.message);
  }
}
