// The library: the user's saved items, searched, edited and deleted in place.
import { request } from "./api.js";
import { typeOptions } from "./content-types.js";
import { $, el, markdown, submitting } from "./dom.js";

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
  const card = el("li", { class: "card item", "data-item": item._id },
    el("div", { class: "row" },
      el("h3", {}, item.title),
      el("span", { class: "badge" }, item.type)),
    markdown(item.body),
    el("div", { class: "row actions" },
      el("button", { type: "button", class: "link", onclick: () => card.replaceWith(editForm(item)) },
        "Edit"),
      el("button", { type: "button", class: "link danger", onclick: () => remove(item, card) },
        "Delete")));
  return card;
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
